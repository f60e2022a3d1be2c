/* ls_hash: SHA-256 through libcrypto, constant-time string equality. */
#include "ls_hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

/* OpenSSL 3 looks EVP_sha256() up in its provider store on every digest
 * (a locked fetch) unless it is fetched once and kept. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
/* One digest context per thread, kept between calls: EVP_Digest allocates
 * and frees a context and the provider's digest state on every call (four
 * allocations; the ingress hashes twice per webhook). The key's destructor
 * frees it when the thread ends. */
static pthread_key_t sha256_key;
static bool sha256_key_ok;
static _Thread_local EVP_MD_CTX *sha256_ctx;

static void ctx_free(void *ctx) {
  EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void) {
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
  sha256_key_ok = pthread_key_create(&sha256_key, ctx_free) == 0;
}

/* This thread's context, or NULL (then a one-off digest is used). */
static EVP_MD_CTX *thread_ctx(void) {
  if (!sha256_ctx && sha256_key_ok && (sha256_ctx = EVP_MD_CTX_new()) &&
      pthread_setspecific(sha256_key, sha256_ctx) != 0) {
    EVP_MD_CTX_free(sha256_ctx);
    sha256_ctx = NULL;
  }
  return sha256_ctx;
}

static bool digest(const void *data, size_t len, unsigned char md[32]) {
  unsigned int mdlen = 0;
  pthread_once(&sha256_once, sha256_fetch);
  const EVP_MD *alg = sha256_md ? sha256_md : EVP_sha256();
  EVP_MD_CTX *ctx = thread_ctx();
  if (!ctx)
    return EVP_Digest(data, len, md, &mdlen, alg, NULL) && mdlen == 32;
  /* Init on a context that already holds this algorithm's state reuses
   * it (no allocation). */
  return EVP_DigestInit_ex(ctx, alg, NULL) &&
         EVP_DigestUpdate(ctx, data, len) &&
         EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
}

void ls_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  static const char hex[] = "0123456789abcdef";
  if (!digest(data, len, md))
    memset(md, 0, sizeof md);
  for (int i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

bool ls_const_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb)
    return false;
  return CRYPTO_memcmp(a, b, la) == 0;
}

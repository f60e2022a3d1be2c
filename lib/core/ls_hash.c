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

static void sha256_fetch(void) {
  sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void ls_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  static const char hex[] = "0123456789abcdef";
  pthread_once(&sha256_once, sha256_fetch);
  const EVP_MD *alg = sha256_md ? sha256_md : EVP_sha256();
  if (!EVP_Digest(data, len, md, &mdlen, alg, NULL) || mdlen != 32)
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

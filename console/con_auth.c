/* con_auth: accounts, sessions, CSRF tokens and the login limit. */
#include "con_auth.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_file.h"
#include "ls_hash.h"
#include "ls_time.h"

#define MAX_USERS 64
#define LIMIT_SLOTS 512

typedef struct {
  char name[64];
  con_role role;
  int iterations;
  unsigned char salt[64];
  size_t salt_len;
  unsigned char hash[64];
  size_t hash_len;
  /* A successful check is remembered (as a SHA-256 of the password) for a
   * minute so scripts using HTTP Basic do not pay PBKDF2 on every call. */
  char ok_sha[65];
  int64_t ok_until_us;
} account;

typedef struct {
  char key[80];
  int64_t window_start_us;
  int failures;
} limit_slot;

struct con_auth {
  account users[MAX_USERS];
  size_t n_users;
  unsigned char key[32];
  long ttl_s;
  bool proxy;
  char proxy_user_header[64];
  json_t *trusted;   /* array of addresses / IPv4 CIDRs */
  json_t *operators; /* proxy mode: users with the operator role */
  con_role proxy_default;
  int max_failures;
  long window_s;
  pthread_mutex_t mu;
  limit_slot slots[LIMIT_SLOTS];
};

const char *con_role_name(con_role r) {
  return r == CON_ROLE_OPERATOR ? "operator"
         : r == CON_ROLE_VIEWER ? "viewer"
                                : "none";
}

static con_role role_of(const char *s) {
  if (s && !strcmp(s, "operator"))
    return CON_ROLE_OPERATOR;
  if (s && !strcmp(s, "viewer"))
    return CON_ROLE_VIEWER;
  return CON_ROLE_NONE;
}

bool con_auth_equal(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb)
    return false;
  return CRYPTO_memcmp(a, b, la) == 0;
}

static bool unhex(const char *s, unsigned char *out, size_t cap, size_t *n) {
  size_t l = strlen(s);
  if (l % 2 || l / 2 > cap)
    return false;
  for (size_t i = 0; i < l / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return false;
    out[i] = (unsigned char)v;
  }
  *n = l / 2;
  return true;
}

static void tohex(const unsigned char *p, size_t n, char *out) {
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hx[p[i] >> 4];
    out[2 * i + 1] = hx[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static bool valid_name(const char *s) {
  if (!*s || strlen(s) >= 64)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || strchr("._@-", *s)))
      return false;
  return true;
}

/* "pbkdf2-sha256$ITER$SALTHEX$HASHHEX" */
static bool parse_hash(const char *h, account *a) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", h);
  char *save = NULL;
  char *scheme = strtok_r(buf, "$", &save);
  char *iter = strtok_r(NULL, "$", &save);
  char *salt = strtok_r(NULL, "$", &save);
  char *hash = strtok_r(NULL, "$", &save);
  if (!scheme || !iter || !salt || !hash || strcmp(scheme, "pbkdf2-sha256"))
    return false;
  char *end;
  long it = strtol(iter, &end, 10);
  if (*end || it < 1000 || it > 10000000)
    return false;
  a->iterations = (int)it;
  return unhex(salt, a->salt, sizeof a->salt, &a->salt_len) &&
         unhex(hash, a->hash, sizeof a->hash, &a->hash_len) &&
         a->salt_len >= 8 && a->hash_len == 32;
}

bool con_auth_hash_password(const char *password, int iterations, char *out,
                            size_t len) {
  unsigned char salt[16], dk[32];
  if (RAND_bytes(salt, sizeof salt) != 1 ||
      PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof salt,
                        iterations, EVP_sha256(), sizeof dk, dk) != 1)
    return false;
  char sh[33], dh[65];
  tohex(salt, sizeof salt, sh);
  tohex(dk, sizeof dk, dh);
  return snprintf(out, len, "pbkdf2-sha256$%d$%s$%s", iterations, sh, dh) <
         (int)len;
}

ls_err con_auth_new(const json_t *ccfg, con_auth **out, char *errstr,
                    size_t len) {
  *out = NULL;
  con_auth *a = calloc(1, sizeof *a);
  if (!a) {
    snprintf(errstr, len, "out of memory");
    return LS_ERR_INTERNAL;
  }
  pthread_mutex_init(&a->mu, NULL);
  const json_t *auth = json_object_get(ccfg, "auth");
  a->ttl_s = (long)json_integer_value(json_object_get(ccfg, "session_ttl_s"));
  if (a->ttl_s <= 0)
    a->ttl_s = 12 * 3600;
  a->max_failures =
      (int)json_integer_value(json_object_get(auth, "login_max_failures"));
  if (a->max_failures <= 0)
    a->max_failures = 5;
  a->window_s =
      (long)json_integer_value(json_object_get(auth, "login_window_s"));
  if (a->window_s <= 0)
    a->window_s = 300;
  size_t i;
  json_t *u;
  json_array_foreach(json_object_get(auth, "users"), i, u) {
    if (a->n_users == MAX_USERS)
      break;
    account *acc = &a->users[a->n_users];
    const char *name = json_string_value(json_object_get(u, "name"));
    const char *hash = json_string_value(json_object_get(u, "password_hash"));
    acc->role = role_of(json_string_value(json_object_get(u, "role")));
    if (!name || !valid_name(name) || !hash || !parse_hash(hash, acc) ||
        acc->role == CON_ROLE_NONE) {
      snprintf(errstr, len,
               "console.auth.users[%zu]: needs a name ([A-Za-z0-9._@-]), a "
               "role (viewer|operator) and a password_hash "
               "(pbkdf2-sha256$ITER$SALT$HASH, see leadsync-console "
               "--hash-password)",
               i);
      con_auth_free(a);
      return LS_ERR_CONFIG;
    }
    snprintf(acc->name, sizeof acc->name, "%s", name);
    a->n_users++;
  }
  const char *mode = json_string_value(json_object_get(auth, "mode"));
  a->proxy = mode && !strcmp(mode, "proxy");
  if (a->proxy) {
    const json_t *px = json_object_get(auth, "proxy");
    const char *h = json_string_value(json_object_get(px, "user_header"));
    snprintf(a->proxy_user_header, sizeof a->proxy_user_header, "%s",
             h ? h : "X-Forwarded-User");
    a->trusted = json_deep_copy(json_object_get(px, "trusted_proxies"));
    a->operators = json_deep_copy(json_object_get(px, "operators"));
    a->proxy_default =
        role_of(json_string_value(json_object_get(px, "default_role")));
    if (a->proxy_default == CON_ROLE_NONE)
      a->proxy_default = CON_ROLE_VIEWER;
    if (!json_array_size(a->trusted)) {
      snprintf(errstr, len,
               "console.auth.proxy.trusted_proxies: proxy mode "
               "needs the proxies' addresses");
      con_auth_free(a);
      return LS_ERR_CONFIG;
    }
  }
  const char *kf = json_string_value(json_object_get(ccfg, "session_key_file"));
  if (kf) {
    /* Replicas behind one Service share the key, so any of them accepts a
     * session another one issued. */
    FILE *f = fopen(kf, "rb");
    unsigned char buf[256];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
      fclose(f);
    if (n < 16) {
      snprintf(errstr, len,
               "console.session_key_file: cannot read at least 16 bytes");
      con_auth_free(a);
      return LS_ERR_CONFIG;
    }
    unsigned int ml = 0;
    HMAC(EVP_sha256(), "leadsync-console-session", 24, buf, n, a->key, &ml);
    OPENSSL_cleanse(buf, sizeof buf);
  } else if (RAND_bytes(a->key, sizeof a->key) != 1) {
    snprintf(errstr, len, "no randomness for the session key");
    con_auth_free(a);
    return LS_ERR_INTERNAL;
  }
  *out = a;
  return LS_OK;
}

void con_auth_free(con_auth *a) {
  if (!a)
    return;
  OPENSSL_cleanse(a->key, sizeof a->key);
  json_decref(a->trusted);
  json_decref(a->operators);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

bool con_auth_proxy_mode(const con_auth *a) {
  return a->proxy;
}

static account *find_user(con_auth *a, const char *user) {
  for (size_t i = 0; i < a->n_users; i++)
    if (!strcmp(a->users[i].name, user))
      return &a->users[i];
  return NULL;
}

static void fill(con_principal *p, const char *user, con_role role) {
  memset(p, 0, sizeof *p);
  snprintf(p->user, sizeof p->user, "%s", user);
  p->role = role;
}

bool con_auth_check_password(con_auth *a, const char *user,
                             const char *password, con_principal *p) {
  static const unsigned char dummy_salt[16] = {0};
  account *acc = find_user(a, user);
  char sha[65];
  ls_sha256_hex(password, strlen(password), sha);
  int64_t now = ls_mono_us();
  if (acc) {
    pthread_mutex_lock(&a->mu);
    bool cached = acc->ok_until_us > now && con_auth_equal(acc->ok_sha, sha);
    pthread_mutex_unlock(&a->mu);
    if (cached) {
      fill(p, acc->name, acc->role);
      return true;
    }
  }
  unsigned char dk[32];
  /* An unknown user costs the same PBKDF2 as a known one. */
  PKCS5_PBKDF2_HMAC(
      password, (int)strlen(password), acc ? acc->salt : dummy_salt,
      acc ? (int)acc->salt_len : (int)sizeof dummy_salt,
      acc ? acc->iterations : 100000, EVP_sha256(), sizeof dk, dk);
  if (!acc || CRYPTO_memcmp(dk, acc->hash, sizeof dk) != 0)
    return false;
  pthread_mutex_lock(&a->mu);
  snprintf(acc->ok_sha, sizeof acc->ok_sha, "%s", sha);
  acc->ok_until_us = now + 60 * 1000000LL;
  pthread_mutex_unlock(&a->mu);
  fill(p, acc->name, acc->role);
  return true;
}

bool con_auth_basic(con_auth *a, const char *header, con_principal *p) {
  if (!header || strncasecmp(header, "Basic ", 6))
    return false;
  const char *b64 = header + 6;
  while (*b64 == ' ')
    b64++;
  size_t bl = strlen(b64);
  if (bl == 0 || bl > 512 || bl % 4)
    return false;
  unsigned char dec[400];
  int n = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)bl);
  if (n < 0)
    return false;
  /* EVP_DecodeBlock counts the padding as output bytes. */
  if (bl >= 1 && b64[bl - 1] == '=')
    n--;
  if (bl >= 2 && b64[bl - 2] == '=')
    n--;
  dec[n] = '\0';
  char *colon = strchr((char *)dec, ':');
  if (!colon)
    return false;
  *colon = '\0';
  bool ok = con_auth_check_password(a, (char *)dec, colon + 1, p);
  OPENSSL_cleanse(dec, sizeof dec);
  return ok;
}

static void mac_hex(const con_auth *a, const char *msg, char out[65]) {
  unsigned char md[32];
  unsigned int ml = 0;
  HMAC(EVP_sha256(), a->key, sizeof a->key, (const unsigned char *)msg,
       strlen(msg), md, &ml);
  tohex(md, 32, out);
}

void con_auth_session(con_auth *a, const con_principal *p, char *out,
                      size_t len) {
  char body[160], mac[65];
  long long exp = ls_now_us() / 1000000 + a->ttl_s;
  snprintf(body, sizeof body, "v1.%s.%s.%lld", p->user, con_role_name(p->role),
           exp);
  mac_hex(a, body, mac);
  snprintf(out, len, "%s.%s", body, mac);
}

static void csrf_of(const con_auth *a, const char *session_mac, char out[65]) {
  char msg[128];
  snprintf(msg, sizeof msg, "csrf.%s", session_mac);
  mac_hex(a, msg, out);
}

bool con_auth_cookie(con_auth *a, const char *cookie, con_principal *p) {
  if (!cookie || strlen(cookie) > 200)
    return false;
  const char *dot = strrchr(cookie, '.');
  if (!dot || strlen(dot + 1) != 64)
    return false;
  char body[160], mac[65];
  snprintf(body, sizeof body, "%.*s", (int)(dot - cookie), cookie);
  mac_hex(a, body, mac);
  if (!con_auth_equal(mac, dot + 1))
    return false;
  char user[64], role[16];
  long long exp;
  /* The user name has no dots other than those valid_name allows, so the
   * fields are parsed from the right. */
  const char *e = strrchr(body, '.');
  if (!e || strncmp(body, "v1.", 3))
    return false;
  exp = strtoll(e + 1, NULL, 10);
  const char *r = e - 1;
  while (r > body && *r != '.')
    r--;
  snprintf(role, sizeof role, "%.*s", (int)(e - r - 1), r + 1);
  snprintf(user, sizeof user, "%.*s", (int)(r - body - 3), body + 3);
  if (exp < ls_now_us() / 1000000 || role_of(role) == CON_ROLE_NONE)
    return false;
  /* An account removed or demoted in the config loses its sessions. */
  account *acc = find_user(a, user);
  con_role now_role = acc ? acc->role : role_of(role);
  if (!a->proxy && !acc)
    return false;
  fill(p, user, now_role < role_of(role) ? now_role : role_of(role));
  p->via_session = true;
  csrf_of(a, mac, p->csrf);
  return true;
}

static bool addr_match(const char *peer, const char *rule) {
  const char *slash = strchr(rule, '/');
  if (!slash)
    return !strcmp(peer, rule);
  char net[64];
  snprintf(net, sizeof net, "%.*s", (int)(slash - rule), rule);
  int bits = (int)strtol(slash + 1, NULL, 10);
  struct in_addr pa, na;
  if (inet_pton(AF_INET, peer, &pa) != 1 || inet_pton(AF_INET, net, &na) != 1 ||
      bits < 0 || bits > 32)
    return false;
  uint32_t mask = bits ? htonl(~0u << (32 - bits)) : 0;
  return (pa.s_addr & mask) == (na.s_addr & mask);
}

bool con_auth_proxy(con_auth *a, const char *peer, const char *user,
                    con_principal *p) {
  if (!a->proxy || !peer || !user || !valid_name(user))
    return false;
  size_t i;
  json_t *t;
  bool trusted = false;
  json_array_foreach(a->trusted, i, t) {
    if (json_is_string(t) && addr_match(peer, json_string_value(t)))
      trusted = true;
  }
  if (!trusted)
    return false;
  con_role role = a->proxy_default;
  json_array_foreach(a->operators, i, t) {
    if (json_is_string(t) && !strcmp(json_string_value(t), user))
      role = CON_ROLE_OPERATOR;
  }
  fill(p, user, role);
  /* The proxy adds its header to every request a browser sends, so state
   * changes need a CSRF token here too: one per user. */
  char msg[96];
  snprintf(msg, sizeof msg, "proxy.%s", user);
  p->via_session = true;
  csrf_of(a, msg, p->csrf);
  return true;
}

const char *con_auth_proxy_header(const con_auth *a) {
  return a->proxy_user_header;
}

long con_auth_ttl(const con_auth *a) {
  return a->ttl_s;
}

static limit_slot *slot_of(con_auth *a, const char *key, bool create) {
  unsigned h = 5381;
  for (const char *k = key; *k; k++)
    h = h * 33 + (unsigned char)*k;
  limit_slot *s = &a->slots[h % LIMIT_SLOTS];
  if (strcmp(s->key, key)) {
    if (!create)
      return NULL;
    /* A collision replaces the older entry: the limit is per slot, which
     * errs towards limiting. */
    snprintf(s->key, sizeof s->key, "%s", key);
    s->failures = 0;
    s->window_start_us = ls_mono_us();
  }
  return s;
}

static int blocked_for(con_auth *a, const char *key, int64_t now) {
  limit_slot *s = slot_of(a, key, false);
  if (!s)
    return 0;
  int64_t end = s->window_start_us + a->window_s * 1000000LL;
  if (now >= end) {
    s->failures = 0;
    return 0;
  }
  /* Many people may share one address (an office, a proxy): an address
   * gets four times an account's allowance. */
  int max = strncmp(key, "ip:", 3) ? a->max_failures : 4 * a->max_failures;
  return s->failures >= max ? (int)((end - now) / 1000000) + 1 : 0;
}

bool con_auth_login_allowed(con_auth *a, const char *peer, const char *user,
                            int *retry_after_s) {
  char k1[80], k2[80];
  snprintf(k1, sizeof k1, "ip:%s", peer ? peer : "-");
  snprintf(k2, sizeof k2, "user:%s", user ? user : "-");
  int64_t now = ls_mono_us();
  pthread_mutex_lock(&a->mu);
  int b1 = blocked_for(a, k1, now), b2 = blocked_for(a, k2, now);
  pthread_mutex_unlock(&a->mu);
  *retry_after_s = b1 > b2 ? b1 : b2;
  return *retry_after_s == 0;
}

void con_auth_login_failed(con_auth *a, const char *peer, const char *user) {
  char k1[80], k2[80];
  snprintf(k1, sizeof k1, "ip:%s", peer ? peer : "-");
  snprintf(k2, sizeof k2, "user:%s", user ? user : "-");
  int64_t now = ls_mono_us();
  pthread_mutex_lock(&a->mu);
  const char *keys[] = {k1, k2};
  for (int i = 0; i < 2; i++) {
    limit_slot *s = slot_of(a, keys[i], true);
    if (now >= s->window_start_us + a->window_s * 1000000LL) {
      s->window_start_us = now;
      s->failures = 0;
    }
    s->failures++;
  }
  pthread_mutex_unlock(&a->mu);
}

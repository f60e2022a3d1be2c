/* ls_token: a secret file that is re-read when it changes (ls_token.h). */
#include "ls_token.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ls_log.h"

#define TOKEN_MAX 4096

struct ls_token {
  char *path;
  pthread_mutex_t mu;
  char value[TOKEN_MAX];
  bool have;
  struct stat seen;
  bool seen_ok;
  long changes;
};

static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
         a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* First line without surrounding blanks, as the config loader reads it. */
static bool read_value(const char *path, char *out, size_t len) {
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  char buf[TOKEN_MAX];
  bool ok = fgets(buf, sizeof buf, f) != NULL;
  fclose(f);
  if (!ok)
    return false;
  char *s = buf;
  while (*s == ' ' || *s == '\t')
    s++;
  size_t n = strcspn(s, "\r\n");
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
    n--;
  if (!n || n >= len) {
    OPENSSL_cleanse(buf, sizeof buf);
    return false;
  }
  memcpy(out, s, n);
  out[n] = '\0';
  OPENSSL_cleanse(buf, sizeof buf);
  return true;
}

ls_token *ls_token_file(const char *path, const char *initial) {
  ls_token *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->path = strdup(path);
  if (!t->path) {
    free(t);
    return NULL;
  }
  pthread_mutex_init(&t->mu, NULL);
  if (initial && strlen(initial) < sizeof t->value) {
    snprintf(t->value, sizeof t->value, "%s", initial);
    t->have = true;
  }
  t->seen_ok = stat(path, &t->seen) == 0;
  return t;
}

void ls_token_free(ls_token *t) {
  if (!t)
    return;
  OPENSSL_cleanse(t->value, sizeof t->value);
  pthread_mutex_destroy(&t->mu);
  free(t->path);
  free(t);
}

static void refresh(ls_token *t) {
  /* One stat() per use: HubSpot calls carry up to 100 events each, so this
   * costs nothing, and a token swapped in the file is used by the very
   * next call. */
  struct stat st;
  if (stat(t->path, &st) != 0 || (t->seen_ok && same_file(&st, &t->seen)))
    return;
  char v[TOKEN_MAX];
  if (!read_value(t->path, v, sizeof v))
    return; /* half-written or empty: keep the last good value */
  t->seen = st;
  t->seen_ok = true;
  if (!t->have || strcmp(v, t->value)) {
    snprintf(t->value, sizeof t->value, "%s", v);
    t->have = true;
    t->changes++;
    /* The path says which Secret; the value never appears. */
    ls_info("token file changed, new token in use", "{s:s}", "path", t->path);
  }
  OPENSSL_cleanse(v, sizeof v);
}

bool ls_token_get(ls_token *t, char *buf, size_t len) {
  pthread_mutex_lock(&t->mu);
  refresh(t);
  bool ok = t->have && strlen(t->value) < len;
  if (ok)
    snprintf(buf, len, "%s", t->value);
  pthread_mutex_unlock(&t->mu);
  return ok;
}

long ls_token_changes(ls_token *t) {
  pthread_mutex_lock(&t->mu);
  long n = t->changes;
  pthread_mutex_unlock(&t->mu);
  return n;
}

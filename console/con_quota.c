/* con_quota: HubSpot rate-limit headers per portal (see con_quota.h). */
#include "con_quota.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ls_log.h"
#include "ls_time.h"
#include "ls_token.h"

struct con_quota {
  const ls_config *cfg;
  int interval_s;
  pthread_t thread;
  bool started;
  atomic_bool stop;
  pthread_mutex_t mu;
  json_t *snap;
  ls_token **tokens; /* per tenant: its token_file followed, or NULL */
};

typedef struct {
  long window_max, window_rem, daily_max, daily_rem;
} limits;

static size_t on_header(char *buf, size_t size, size_t n, void *op) {
  limits *l = op;
  size_t len = size * n;
  char line[256];
  snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), buf);
  char *colon = strchr(line, ':');
  if (!colon)
    return len;
  *colon = '\0';
  long v = strtol(colon + 1, NULL, 10);
  if (!strcasecmp(line, "X-HubSpot-RateLimit-Max"))
    l->window_max = v;
  else if (!strcasecmp(line, "X-HubSpot-RateLimit-Remaining"))
    l->window_rem = v;
  else if (!strcasecmp(line, "X-HubSpot-RateLimit-Daily"))
    l->daily_max = v;
  else if (!strcasecmp(line, "X-HubSpot-RateLimit-Daily-Remaining"))
    l->daily_rem = v;
  return len;
}

static size_t discard(char *p, size_t s, size_t n, void *op) {
  (void)p;
  (void)op;
  return s * n;
}

static json_t *probe(const ls_tenant *t, ls_token *src) {
  char fresh[4096];
  const char *token = t->hs_token;
  if (src && ls_token_get(src, fresh, sizeof fresh))
    token = fresh;
  if (!t->hs_base_url || !token)
    return json_pack("{s:s}", "error", "no HubSpot token configured");
  limits l = {-1, -1, -1, -1};
  CURL *c = curl_easy_init();
  if (!c)
    return NULL;
  char url[1024], auth[4200];
  snprintf(url, sizeof url, "%s/crm/v3/objects/contacts?limit=1",
           t->hs_base_url);
  snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
  struct curl_slist *h = curl_slist_append(NULL, auth);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &l);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  OPENSSL_cleanse(auth, sizeof auth);
  OPENSSL_cleanse(fresh, sizeof fresh);
  char at[40];
  ls_time_format_ms(ls_now_us(), at, sizeof at);
  json_t *o =
      json_pack("{s:s,s:i}", "observed_at", at, "http_status", (int)status);
  if (rc != CURLE_OK)
    json_object_set_new(o, "error", json_string(curl_easy_strerror(rc)));
  const struct {
    const char *k;
    long v;
  } f[] = {{"window_max", l.window_max},
           {"window_remaining", l.window_rem},
           {"daily_max", l.daily_max},
           {"daily_remaining", l.daily_rem}};
  for (size_t i = 0; i < 4; i++)
    json_object_set_new(o, f[i].k,
                        f[i].v >= 0 ? json_integer(f[i].v) : json_null());
  return o;
}

static void *run(void *arg) {
  con_quota *q = arg;
  int64_t next = 0;
  while (!atomic_load(&q->stop)) {
    if (ls_mono_us() >= next) {
      json_t *snap = json_object();
      for (size_t i = 0; i < q->cfg->n_tenants; i++) {
        json_t *o = probe(&q->cfg->tenants[i], q->tokens[i]);
        if (o)
          json_object_set_new(snap, q->cfg->tenants[i].id, o);
      }
      pthread_mutex_lock(&q->mu);
      json_decref(q->snap);
      q->snap = snap;
      pthread_mutex_unlock(&q->mu);
      next = ls_mono_us() + (int64_t)q->interval_s * 1000000;
    }
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

con_quota *con_quota_start(const ls_config *cfg, int interval_s) {
  con_quota *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->cfg = cfg;
  q->interval_s = interval_s;
  q->snap = json_object();
  q->tokens = calloc(cfg->n_tenants + 1, sizeof *q->tokens);
  for (size_t i = 0; q->tokens && i < cfg->n_tenants; i++) {
    const ls_tenant *t = &cfg->tenants[i];
    if (t->hs_token_ref && !strncmp(t->hs_token_ref, "file:", 5))
      q->tokens[i] = ls_token_file(t->hs_token_ref + 5, t->hs_token);
  }
  pthread_mutex_init(&q->mu, NULL);
  if (interval_s > 0 && pthread_create(&q->thread, NULL, run, q) == 0)
    q->started = true;
  return q;
}

json_t *con_quota_snapshot(con_quota *q) {
  pthread_mutex_lock(&q->mu);
  json_t *c = json_deep_copy(q->snap);
  pthread_mutex_unlock(&q->mu);
  return c;
}

void con_quota_stop(con_quota *q) {
  if (!q)
    return;
  atomic_store(&q->stop, true);
  if (q->started)
    pthread_join(q->thread, NULL);
  json_decref(q->snap);
  for (size_t i = 0; q->tokens && i < q->cfg->n_tenants; i++)
    ls_token_free(q->tokens[i]);
  free(q->tokens);
  pthread_mutex_destroy(&q->mu);
  free(q);
}

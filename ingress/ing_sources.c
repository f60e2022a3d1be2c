/* ing_sources: the leadsync.sources table of the ingress (see
 * ing_sources.h; record format in docs/console.md). */
#include "ing_sources.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_array.h"
#include "kq.h"
#include "kq_client.h"
#include "ls_log.h"
#include "ls_time.h"

#define MAX_TOKENS 8

typedef struct {
  char sha[65];
  int64_t not_after_us; /* 0: no end */
} token;

typedef struct entry {
  char id[80];
  bool revoked;
  ls_source src;            /* what the rest of the ingress sees */
  const ls_source *cfg_src; /* the config's source when it is the same one */
  token tokens[MAX_TOKENS];
  int n_tokens;
  struct entry *next_retired;
} entry;

struct ing_sources {
  const ls_config *cfg;
  rd_kafka_t *rk;
  pthread_t thread;
  atomic_bool stop;
  atomic_long applied;
  pthread_rwlock_t lock;
  entry **live; /* newest record per id */
  size_t n_live, cap_live;
  entry *retired; /* replaced entries: requests may still hold them */
  bool assigned;
  /* High watermarks at assignment: caught up once each is reached. */
  int64_t hi[256];
  int n_parts;
  atomic_bool caught_up;
};

static void free_entry(entry *e) {
  if (!e)
    return;
  free(e->src.id);
  free(e->src.scope_id);
  free(e);
}

static bool same_shape(const entry *e, const ls_source *c) {
  bool scope_eq =
      (!e->src.scope_id && !c->scope_id) ||
      (e->src.scope_id && c->scope_id && !strcmp(e->src.scope_id, c->scope_id));
  return c->tenant == e->src.tenant && c->level == e->src.level && scope_eq &&
         c->has_secret == e->src.has_secret &&
         (!c->has_secret || !strcmp(c->secret_sha256, e->src.secret_sha256));
}

static const ls_source *config_source(const ls_config *cfg, const char *id) {
  for (size_t i = 0; i < cfg->n_tenants; i++)
    for (size_t k = 0; k < cfg->tenants[i].n_sources; k++)
      if (!strcmp(cfg->tenants[i].sources[k].id, id))
        return &cfg->tenants[i].sources[k];
  return NULL;
}

static bool hex64(const char *s) {
  if (!s || strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
          (*s >= 'A' && *s <= 'F')))
      return false;
  return true;
}

static void lower(char *s) {
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'F')
      *s = (char)(*s - 'A' + 'a');
}

/* A record into an entry; NULL (and a warning) when it is unusable. */
static entry *parse(const ing_sources *s, const char *id, const json_t *rec) {
  const char *tenant = json_string_value(json_object_get(rec, "tenant"));
  const char *level = json_string_value(json_object_get(rec, "level"));
  const ls_tenant *t = tenant ? ls_config_tenant(s->cfg, tenant) : NULL;
  if (!t || !level) {
    ls_warn("source record ignored: unknown tenant or no level", "{s:s,s:s?}",
            "source", id, "tenant", tenant);
    return NULL;
  }
  entry *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  snprintf(e->id, sizeof e->id, "%s", id);
  e->revoked = json_is_true(json_object_get(rec, "revoked"));
  e->src.id = strdup(id);
  e->src.tenant = (struct ls_tenant *)t;
  e->src.level = !strcmp(level, "client")     ? LS_LEVEL_CLIENT
                 : !strcmp(level, "campaign") ? LS_LEVEL_CAMPAIGN
                                              : LS_LEVEL_USER;
  const json_t *scope = json_object_get(rec, "scope_id");
  if (json_is_string(scope))
    e->src.scope_id = strdup(json_string_value(scope));
  else if (json_is_integer(scope)) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)json_integer_value(scope));
    e->src.scope_id = strdup(b);
  }
  const char *secret =
      json_string_value(json_object_get(rec, "secret_key_sha256"));
  if (hex64(secret)) {
    e->src.has_secret = true;
    snprintf(e->src.secret_sha256, sizeof e->src.secret_sha256, "%s", secret);
    lower(e->src.secret_sha256);
  }
  const json_t *rl = json_object_get(rec, "rate_limit");
  e->src.rate_per_s = json_number_value(json_object_get(rl, "per_second"));
  e->src.rate_burst = json_number_value(json_object_get(rl, "burst"));
  size_t i;
  json_t *tk;
  json_array_foreach(json_object_get(rec, "tokens"), i, tk) {
    const char *sha = json_string_value(json_object_get(tk, "sha256"));
    if (!hex64(sha) || e->n_tokens == MAX_TOKENS)
      continue;
    token *dst = &e->tokens[e->n_tokens];
    snprintf(dst->sha, sizeof dst->sha, "%s", sha);
    lower(dst->sha);
    const char *na = json_string_value(json_object_get(tk, "not_after"));
    int64_t us = 0;
    if (na && !ls_time_parse(na, &us))
      continue; /* an unreadable end date: the token is not accepted */
    dst->not_after_us = na ? us : 0;
    e->n_tokens++;
  }
  if (e->n_tokens)
    snprintf(e->src.token_sha256, sizeof e->src.token_sha256, "%s",
             e->tokens[0].sha);
  const ls_source *c = config_source(s->cfg, id);
  /* A config source that only had its tokens changed keeps its identity,
   * so the rate limiter keeps its bucket. */
  if (c && same_shape(e, c))
    e->cfg_src = c;
  return e;
}

static void apply(ing_sources *s, const rd_kafka_message_t *m) {
  if (!m->key || !m->key_len || m->key_len >= 80)
    return;
  char id[80];
  snprintf(id, sizeof id, "%.*s", (int)m->key_len, (const char *)m->key);
  entry *e = NULL;
  json_t *rec = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
  if (json_is_object(rec))
    e = parse(s, id, rec);
  else if (rec || m->payload) {
    json_decref(rec);
    ls_warn("source record ignored: not a JSON object", "{s:s}", "source", id);
    return;
  }
  json_decref(rec);
  if (!e) {
    /* A tombstone: treated as a revocation, so a config source of the
     * same id does not come back to life. */
    if (m->payload)
      return;
    e = calloc(1, sizeof *e);
    if (!e)
      return;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->revoked = true;
  }
  pthread_rwlock_wrlock(&s->lock);
  size_t i;
  for (i = 0; i < s->n_live; i++)
    if (!strcmp(s->live[i]->id, id))
      break;
  if (i == s->n_live) {
    if (!LS_ARRAY_GROW(s->live, s->cap_live, s->n_live + 1)) {
      pthread_rwlock_unlock(&s->lock);
      free_entry(e);
      return;
    }
    s->live[s->n_live++] = e;
  } else {
    s->live[i]->next_retired = s->retired;
    s->retired = s->live[i];
    s->live[i] = e;
  }
  pthread_rwlock_unlock(&s->lock);
  atomic_fetch_add(&s->applied, 1);
  ls_info("source record applied", "{s:s,s:b,s:i}", "source", id, "revoked",
          e->revoked, "tokens", e->n_tokens);
}

static void assign(ing_sources *s) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, KQ_TOPIC_SOURCES, NULL);
  if (!rkt)
    return;
  if (rd_kafka_metadata(s->rk, 0, rkt, &md, 5000) ==
          RD_KAFKA_RESP_ERR_NO_ERROR &&
      md->topic_cnt == 1 && !md->topics[0].err &&
      md->topics[0].partition_cnt > 0) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    s->n_parts = 0;
    for (int i = 0; i < md->topics[0].partition_cnt && i < 256; i++) {
      int32_t p = md->topics[0].partitions[i].id;
      int64_t lo = 0, hi = 0;
      rd_kafka_topic_partition_list_add(l, KQ_TOPIC_SOURCES, p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
      if (p >= 0 && p < 256 &&
          rd_kafka_query_watermark_offsets(s->rk, KQ_TOPIC_SOURCES, p, &lo, &hi,
                                           5000) ==
              RD_KAFKA_RESP_ERR_NO_ERROR) {
        s->hi[p] = hi > lo ? hi : 0;
        if (p + 1 > s->n_parts)
          s->n_parts = p + 1;
      }
    }
    if (rd_kafka_assign(s->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
      s->assigned = true;
    rd_kafka_topic_partition_list_destroy(l);
  }
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
}

static void *run(void *arg) {
  ing_sources *s = arg;
  int64_t next_try = 0;
  while (!atomic_load(&s->stop)) {
    if (!s->assigned) {
      if (ls_mono_us() >= next_try) {
        assign(s);
        next_try = ls_mono_us() + 5000000;
      }
      if (!s->assigned) {
        usleep(100000);
        continue;
      }
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 200);
    if (m && !m->err) {
      apply(s, m);
      if (m->partition >= 0 && m->partition < 256 &&
          m->offset + 1 >= s->hi[m->partition])
        s->hi[m->partition] = 0;
    }
    if (m)
      rd_kafka_message_destroy(m);
    if (!atomic_load(&s->caught_up)) {
      bool all = true;
      for (int i = 0; i < s->n_parts; i++)
        if (s->hi[i])
          all = false;
      if (all)
        atomic_store(&s->caught_up, true);
    }
  }
  return NULL;
}

ing_sources *ing_sources_start(const ls_config *cfg, char *errstr, size_t len) {
  ing_sources *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(errstr, len, "out of memory");
    return NULL;
  }
  s->cfg = cfg;
  pthread_rwlock_init(&s->lock, NULL);
  s->rk = kq_tailer_new(cfg, "leadsync-ingress-sources", errstr, len);
  if (!s->rk)
    goto fail;
  if (pthread_create(&s->thread, NULL, run, s) != 0) {
    snprintf(errstr, len, "cannot start the sources thread");
    goto fail;
  }
  return s;
fail:
  if (s->rk)
    rd_kafka_destroy(s->rk);
  pthread_rwlock_destroy(&s->lock);
  free(s);
  return NULL;
}

static bool entry_has(const entry *e, const char *id) {
  return !strcmp(e->id, id);
}

const ls_source *ing_sources_find(ing_sources *s, const char *token_sha256) {
  int64_t now = ls_now_us();
  const ls_source *found = NULL;
  pthread_rwlock_rdlock(&s->lock);
  /* Every token is compared, match or not, so the time taken does not
   * tell which source (or whether any) is close. */
  for (size_t i = 0; i < s->n_live; i++) {
    const entry *e = s->live[i];
    for (int k = 0; k < e->n_tokens; k++) {
      bool eq = CRYPTO_memcmp(e->tokens[k].sha, token_sha256, 64) == 0;
      bool valid = !e->revoked && (e->tokens[k].not_after_us == 0 ||
                                   now < e->tokens[k].not_after_us);
      if (eq && valid && !found)
        found = e->cfg_src ? e->cfg_src : &e->src;
    }
  }
  if (!found) {
    const ls_source *c = ls_config_find_source(s->cfg, token_sha256);
    bool replaced = false;
    for (size_t i = 0; c && i < s->n_live; i++)
      if (entry_has(s->live[i], c->id))
        replaced = true;
    if (c && !replaced)
      found = c;
  }
  pthread_rwlock_unlock(&s->lock);
  return found;
}

long ing_sources_applied(ing_sources *s) {
  return atomic_load(&s->applied);
}

bool ing_sources_caught_up(ing_sources *s) {
  return atomic_load(&s->caught_up);
}

void ing_sources_stop(ing_sources *s) {
  if (!s)
    return;
  atomic_store(&s->stop, true);
  pthread_join(s->thread, NULL);
  rd_kafka_consumer_close(s->rk);
  rd_kafka_destroy(s->rk);
  for (size_t i = 0; i < s->n_live; i++)
    free_entry(s->live[i]);
  free(s->live);
  while (s->retired) {
    entry *n = s->retired->next_retired;
    free_entry(s->retired);
    s->retired = n;
  }
  pthread_rwlock_destroy(&s->lock);
  free(s);
}

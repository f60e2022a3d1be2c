/* con_ops: replays and source changes through Kafka (see con_ops.h). */
#include "con_ops.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_kafka.h"
#include "cli_quarantine.h"
#include "cli_sources.h"
#include "ing_route.h"
#include "kq.h"
#include "ls_log.h"

#define REPLAY_MAX 1000

struct con_ops {
  const ls_config *cfg;
  ing_schemas *schemas; /* quarantine replays re-validate with them */
  rd_kafka_t *producer;
  cli_delivery dr;
  pthread_mutex_t mu;
};

ls_err con_ops_new(const ls_config *cfg, con_ops **out, char *errstr,
                   size_t len) {
  *out = NULL;
  con_ops *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(errstr, len, "out of memory");
    return LS_ERR_INTERNAL;
  }
  o->cfg = cfg;
  char sdir[1024];
  snprintf(sdir, sizeof sdir, "%s/smartlead", ls_schema_dir());
  o->schemas = ing_schemas_load(sdir, errstr, len);
  if (!o->schemas) {
    free(o);
    return LS_ERR_CONFIG;
  }
  o->producer = cli_kafka_producer(cfg, &o->dr, errstr, len);
  if (!o->producer) {
    ing_schemas_free(o->schemas);
    free(o);
    return LS_ERR_KAFKA;
  }
  pthread_mutex_init(&o->mu, NULL);
  *out = o;
  return LS_OK;
}

void con_ops_free(con_ops *o) {
  if (!o)
    return;
  rd_kafka_flush(o->producer, 10000);
  rd_kafka_destroy(o->producer);
  ing_schemas_free(o->schemas);
  pthread_mutex_destroy(&o->mu);
  free(o);
}

/* ---- replay ---------------------------------------------------------- */

typedef struct {
  int32_t partition;
  int64_t offset;
  bool found;
} want;

typedef struct {
  con_ops *o;
  const char *kind;
  want *w;
  size_t n;
  bool dry_run, failed;
  json_t *items; /* one per wanted record: what happened */
  int replayed, unroutable;
  char errstr[512];
} replay_state;

static int cmp_want(const void *a, const void *b) {
  const want *x = a, *y = b;
  if (x->partition != y->partition)
    return x->partition < y->partition ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Where a DLQ record goes back to: the topic it names (or its type's). */
static void dlq_target(const rd_kafka_message_t *m, const char *prefix,
                       char *out, size_t len) {
  char ce[LS_TOPIC_MAX];
  kq_header(m, "ls_dlq_original_topic", out, len);
  if (!out[0] && kq_header(m, "ce_type", ce, sizeof ce)[0] &&
      !strncmp(ce, "ai.smartlead.", 13))
    snprintf(out, len, "%s%s", prefix, ce + 13);
}

static int on_record(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  replay_state *s = op;
  (void)rg;
  want key = {m->partition, m->offset, false};
  want *w = bsearch(&key, s->w, s->n, sizeof *s->w, cmp_want);
  if (!w || w->found)
    return 0;
  w->found = true;
  bool dlq = !strcmp(s->kind, "dlq");
  char target[LS_TOPIC_MAX] = "", id[80];
  const void *k = m->key;
  size_t klen = m->key_len;
  rd_kafka_headers_t *h = NULL;
  ing_verdict v;
  const char *why = NULL;
  kq_header(m, "ce_id", id, sizeof id);
  if (dlq) {
    dlq_target(m, s->o->cfg->topic_prefix, target, sizeof target);
  } else if (cli_quarantine_requeue(s->o->schemas, s->o->cfg, m, &v,
                                    s->dry_run ? NULL : &h)) {
    /* Today's schemas let it through: its topic, key and id as the
     * ingress would derive them now (the same code as `leadsync
     * quarantine replay`). */
    snprintf(target, sizeof target, "%s", v.ev.topic);
    snprintf(id, sizeof id, "%s", v.ev.event_id);
    k = v.ev.key;
    klen = strlen(v.ev.key);
  } else {
    why = v.detail;
  }
  json_t *item = json_pack(
      "{s:s,s:i,s:I,s:s?,s:s?}", "topic", rd_kafka_topic_name(m->rkt),
      "partition", (int)m->partition, "offset", (json_int_t)m->offset,
      "event_id", id[0] ? id : NULL, "target", target[0] ? target : NULL);
  if (why) {
    s->unroutable++;
    json_object_set_new(item, "result", json_string("still_invalid"));
    json_object_set_new(item, "detail", json_string(why));
  } else if (!target[0]) {
    s->unroutable++;
    json_object_set_new(item, "result", json_string("unroutable"));
  } else if (s->dry_run) {
    json_object_set_new(item, "result", json_string("would_replay"));
  } else {
    if (!h)
      h = cli_replay_headers(m, "dlq", true);
    if (cli_kafka_produce(s->o->producer, target, k, klen, m->payload, m->len,
                          h, s->errstr, sizeof s->errstr) != LS_OK) {
      s->failed = true;
      json_decref(item);
      return 1;
    }
    s->replayed++;
    json_object_set_new(item, "result", json_string("replayed"));
  }
  json_array_append_new(s->items, item);
  return 0;
}

static bool parse_id(const char *s, int32_t *p, int64_t *off) {
  char *end;
  long pp = strtol(s, &end, 10);
  if (end == s || *end != ':' || pp < 0 || pp > 100000)
    return false;
  const char *o = end + 1;
  long long oo = strtoll(o, &end, 10);
  if (end == o || *end || oo < 0)
    return false;
  *p = (int32_t)pp;
  *off = oo;
  return true;
}

json_t *con_ops_replay(con_ops *o, const char *kind, const json_t *ids,
                       bool dry_run, const char *reason, const char *user,
                       int *status, char *errstr, size_t len) {
  *status = 400;
  size_t n = json_array_size(ids);
  if (!n || n > REPLAY_MAX) {
    snprintf(errstr, len, "ids: 1 to %d record ids (\"partition:offset\")",
             REPLAY_MAX);
    return NULL;
  }
  if (!dry_run && (!reason || !*reason || strlen(reason) > 500)) {
    snprintf(errstr, len,
             "reason: say why (1 to 500 characters); a replay "
             "without dry_run needs one");
    return NULL;
  }
  char topic[LS_TOPIC_MAX];
  if (!strcmp(kind, "dlq"))
    snprintf(topic, sizeof topic, "%s", KQ_TOPIC_DLQ);
  else
    snprintf(topic, sizeof topic, "%squarantine", o->cfg->topic_prefix);
  replay_state s = {.o = o, .kind = kind, .dry_run = dry_run};
  s.w = calloc(n, sizeof *s.w);
  for (size_t i = 0; i < n; i++) {
    const char *id = json_string_value(json_array_get(ids, i));
    if (!id || !parse_id(id, &s.w[i].partition, &s.w[i].offset)) {
      snprintf(errstr, len, "ids[%zu]: not a record id (\"partition:offset\")",
               i);
      free(s.w);
      return NULL;
    }
  }
  qsort(s.w, n, sizeof *s.w, cmp_want);
  s.n = n;
  /* One range per partition, from its first wanted offset to its last. */
  cli_ranges ranges = {0};
  ranges.v = calloc(n, sizeof *ranges.v);
  ranges.since_ms = ranges.until_ms = CLI_NO_TIME;
  for (size_t i = 0; i < n; i++) {
    cli_range *last = ranges.n ? &ranges.v[ranges.n - 1] : NULL;
    if (last && last->partition == s.w[i].partition) {
      last->end = s.w[i].offset + 1;
      continue;
    }
    cli_range *r = &ranges.v[ranges.n++];
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    r->partition = s.w[i].partition;
    r->start = s.w[i].offset;
    r->end = s.w[i].offset + 1;
    r->committed = -1;
  }
  json_t *out = NULL;
  pthread_mutex_lock(&o->mu);
  memset(&o->dr, 0, sizeof o->dr);
  s.items = json_array();
  rd_kafka_t *rk = cli_kafka_consumer(o->cfg, NULL, errstr, len);
  *status = 502;
  if (!rk)
    goto out;
  ls_err e = cli_kafka_read(rk, &ranges, on_record, &s, 5000, 0, errstr, len);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (s.failed) {
    snprintf(errstr, len, "%s", s.errstr);
    goto out;
  }
  if (e != LS_OK && e != LS_ERR_TIMEOUT)
    goto out;
  for (size_t i = 0; i < n; i++)
    if (!s.w[i].found)
      json_array_append_new(
          s.items, json_pack("{s:s,s:i,s:I,s:s}", "topic", topic, "partition",
                             (int)s.w[i].partition, "offset",
                             (json_int_t)s.w[i].offset, "result", "not_found"));
  if (!dry_run && s.replayed) {
    if (!cli_kafka_flush(o->producer, &o->dr, 30000, errstr, len))
      goto out;
    json_t *audit = cli_audit_record(
        user, "console",
        !strcmp(kind, "dlq") ? "dlq.replay" : "quarantine.replay",
        json_pack("{s:s,s:b,s:O}", "reason", reason, "dry_run", 0, "items",
                  s.items));
    if (cli_audit_publish(o->producer, &o->dr, audit, errstr, len) != LS_OK) {
      /* The records went out; only the trail is missing. Say so. */
      ls_error("audit record not written", "{s:s,s:s}", "action", kind, "error",
               errstr);
      goto out;
    }
    ls_info("replayed", "{s:s,s:s,s:i}", "kind", kind, "user", user, "records",
            s.replayed);
  }
  out = json_pack("{s:b,s:i,s:i,s:i,s:O}", "dry_run", dry_run, "requested",
                  (int)n, "replayed", dry_run ? 0 : s.replayed, "unroutable",
                  s.unroutable, "items", s.items);
  *status = 200;
out:
  pthread_mutex_unlock(&o->mu);
  json_decref(s.items);
  cli_ranges_free(&ranges);
  free(s.w);
  return out;
}

/* ---- sources --------------------------------------------------------- */

static json_t *effective(con_ops *o, int *status, char *errstr, size_t len) {
  json_t *topic_map = NULL;
  if (cli_sources_read(o->cfg, &topic_map, errstr, len) != LS_OK) {
    *status = 502;
    return NULL;
  }
  json_t *eff = cli_sources_effective(o->cfg, topic_map);
  json_decref(topic_map);
  return eff;
}

static json_t *publish(con_ops *o, json_t *rec, const char *action,
                       const char *user, const char *token, int *status,
                       char *errstr, size_t len) {
  const char *id = json_string_value(json_object_get(rec, "id"));
  json_t *audit = cli_audit_record(
      user, "console", action,
      json_pack("{s:s,s:s?}", "source_id", id, "tenant",
                json_string_value(json_object_get(rec, "tenant"))));
  memset(&o->dr, 0, sizeof o->dr);
  if (cli_sources_publish(o->producer, &o->dr, rec, audit, errstr, len) !=
      LS_OK) {
    *status = 502;
    json_decref(rec);
    return NULL;
  }
  ls_info("source changed", "{s:s,s:s,s:s}", "action", action, "source", id,
          "user", user);
  json_t *out = json_pack("{s:o}", "source", cli_sources_public(rec));
  if (token)
    json_object_set_new(out, "token", json_string(token));
  json_decref(rec);
  *status = 200;
  return out;
}

json_t *con_ops_source_add(con_ops *o, const json_t *req, const char *user,
                           int *status, char *errstr, size_t len) {
  pthread_mutex_lock(&o->mu);
  json_t *out = NULL, *eff = effective(o, status, errstr, len);
  if (eff) {
    char token[65];
    const json_t *scope = json_object_get(req, "scope_id");
    char scope_buf[32] = "";
    if (json_is_integer(scope))
      snprintf(scope_buf, sizeof scope_buf, "%lld",
               (long long)json_integer_value(scope));
    else if (json_is_string(scope))
      snprintf(scope_buf, sizeof scope_buf, "%s", json_string_value(scope));
    json_t *rec = cli_sources_new(
        o->cfg, eff, json_string_value(json_object_get(req, "tenant")),
        json_string_value(json_object_get(req, "id")),
        json_string_value(json_object_get(req, "level")),
        scope_buf[0] ? scope_buf : NULL, user, token, errstr, len);
    if (!rec) {
      *status = strstr(errstr, "exists already") ? 409 : 400;
    } else {
      out = publish(o, rec, "source.add", user, token, status, errstr, len);
    }
    json_decref(eff);
  }
  pthread_mutex_unlock(&o->mu);
  return out;
}

static const json_t *live_source(const json_t *eff, const char *id, int *status,
                                 char *errstr, size_t len) {
  const json_t *rec = json_object_get(eff, id);
  if (!rec || json_is_true(json_object_get(rec, "revoked"))) {
    *status = 404;
    snprintf(errstr, len, "no active source \"%s\"", id);
    return NULL;
  }
  return rec;
}

json_t *con_ops_source_rotate(con_ops *o, const char *id, long grace_s,
                              const char *user, int *status, char *errstr,
                              size_t len) {
  pthread_mutex_lock(&o->mu);
  json_t *out = NULL, *eff = effective(o, status, errstr, len);
  const json_t *rec = eff ? live_source(eff, id, status, errstr, len) : NULL;
  if (rec) {
    char token[65];
    json_t *next = cli_sources_rotated(rec, grace_s, user, token);
    if (next)
      out = publish(o, next, "source.rotate", user, token, status, errstr, len);
  }
  json_decref(eff);
  pthread_mutex_unlock(&o->mu);
  return out;
}

json_t *con_ops_source_revoke(con_ops *o, const char *id, const char *user,
                              int *status, char *errstr, size_t len) {
  pthread_mutex_lock(&o->mu);
  json_t *out = NULL, *eff = effective(o, status, errstr, len);
  const json_t *rec = eff ? live_source(eff, id, status, errstr, len) : NULL;
  if (rec)
    out = publish(o, cli_sources_revoked(rec, user), "source.revoke", user,
                  NULL, status, errstr, len);
  json_decref(eff);
  pthread_mutex_unlock(&o->mu);
  return out;
}

ls_err con_ops_seed_sources(con_ops *o, char *errstr, size_t len) {
  pthread_mutex_lock(&o->mu);
  json_t *topic_map = NULL;
  ls_err e = cli_sources_read(o->cfg, &topic_map, errstr, len);
  if (e == LS_OK) {
    json_t *cfg_map = cli_sources_from_config(o->cfg);
    const char *id;
    json_t *rec;
    int seeded = 0;
    memset(&o->dr, 0, sizeof o->dr);
    json_object_foreach(cfg_map, id, rec) {
      if (json_object_get(topic_map, id))
        continue;
      char *text = json_dumps(rec, JSON_COMPACT);
      e = cli_kafka_produce(o->producer, KQ_TOPIC_SOURCES, id, strlen(id), text,
                            strlen(text), NULL, errstr, len);
      free(text);
      if (e != LS_OK)
        break;
      seeded++;
    }
    if (e == LS_OK && seeded &&
        !cli_kafka_flush(o->producer, &o->dr, 30000, errstr, len))
      e = LS_ERR_KAFKA;
    if (e == LS_OK && seeded)
      ls_info("sources seeded from the config", "{s:i}", "sources", seeded);
    json_decref(cfg_map);
    json_decref(topic_map);
  }
  pthread_mutex_unlock(&o->mu);
  return e;
}

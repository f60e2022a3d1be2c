/* cli_sources: source records and audit records (see cli_sources.h). */
#include "cli_sources.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_hash.h"
#include "ls_time.h"

static void now_rfc3339(char *buf, size_t len) {
  ls_time_format_ms(ls_now_us(), buf, len);
}

static int on_source(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  (void)rg;
  json_t *map = op;
  if (!m->key || !m->key_len || m->key_len > 200)
    return 0;
  char id[256];
  snprintf(id, sizeof id, "%.*s", (int)m->key_len, (const char *)m->key);
  json_t *rec = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
  if (json_is_object(rec))
    json_object_set_new(map, id, rec);
  else {
    json_decref(rec);
    json_object_del(map, id); /* a tombstone */
  }
  return 0;
}

ls_err cli_sources_read(const ls_config *cfg, json_t **out, char *errstr,
                        size_t len) {
  *out = NULL;
  const char *topics[] = {KQ_TOPIC_SOURCES};
  cli_ranges ranges = {0};
  rd_kafka_t *rk = cli_kafka_consumer(cfg, NULL, errstr, len);
  if (!rk)
    return LS_ERR_KAFKA;
  json_t *map = json_object();
  ls_err e = cli_kafka_plan(rk, topics, 1, CLI_NO_TIME, CLI_NO_TIME, false,
                            10000, &ranges, errstr, len);
  if (e == LS_OK)
    e = cli_kafka_read(rk, &ranges, on_source, map, 10000, 0, errstr, len);
  cli_kafka_done(rk, &ranges);
  if (e != LS_OK) {
    json_decref(map);
    return e;
  }
  *out = map;
  return LS_OK;
}

json_t *cli_sources_from_config(const ls_config *cfg) {
  json_t *map = json_object();
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    const ls_tenant *t = &cfg->tenants[i];
    for (size_t k = 0; k < t->n_sources; k++) {
      const ls_source *s = &t->sources[k];
      json_t *rec = json_pack(
          "{s:s,s:s,s:s,s:s?,s:[{s:s,s:n}],s:s?,s:b,s:s}", "id", s->id,
          "tenant", t->id, "level", ls_level_name(s->level), "scope_id",
          s->scope_id, "tokens", "sha256", s->token_sha256, "not_after",
          "secret_key_sha256", s->has_secret ? s->secret_sha256 : NULL,
          "revoked", 0, "origin", "config");
      if (s->rate_per_s > 0)
        json_object_set_new(rec, "rate_limit",
                            json_pack("{s:f,s:f}", "per_second", s->rate_per_s,
                                      "burst", s->rate_burst));
      json_object_set_new(map, s->id, rec);
    }
  }
  return map;
}

json_t *cli_sources_effective(const ls_config *cfg, const json_t *topic_map) {
  json_t *map = cli_sources_from_config(cfg);
  const char *id;
  json_t *rec;
  json_object_foreach((json_t *)topic_map, id, rec) {
    json_object_set(map, id, rec);
  }
  return map;
}

static bool new_token(char token[65]) {
  unsigned char b[24];
  if (RAND_bytes(b, sizeof b) != 1)
    return false;
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof b; i++) {
    token[2 * i] = hx[b[i] >> 4];
    token[2 * i + 1] = hx[b[i] & 15];
  }
  token[2 * sizeof b] = '\0';
  return true;
}

static bool valid_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
          *s == '_'))
      return false;
  return true;
}

static bool all_digits(const char *s) {
  if (!*s || strlen(s) > 20)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

json_t *cli_sources_new(const ls_config *cfg, const json_t *effective,
                        const char *tenant, const char *id, const char *level,
                        const char *scope_id, const char *by, char token[65],
                        char *errstr, size_t len) {
  if (!tenant || !ls_config_tenant(cfg, tenant)) {
    snprintf(errstr, len, "tenant: no tenant \"%s\" in the config",
             tenant ? tenant : "");
    return NULL;
  }
  if (!id || !valid_id(id)) {
    snprintf(errstr, len, "id: 1 to 64 of a-z, 0-9, - and _");
    return NULL;
  }
  const json_t *old = json_object_get(effective, id);
  if (old && !json_is_true(json_object_get(old, "revoked"))) {
    snprintf(errstr, len, "id: a source \"%s\" exists already", id);
    return NULL;
  }
  if (!level)
    level = "user";
  bool scoped = !strcmp(level, "client") || !strcmp(level, "campaign");
  if (!scoped && strcmp(level, "user")) {
    snprintf(errstr, len, "level: user, client or campaign");
    return NULL;
  }
  if (scoped && (!scope_id || !all_digits(scope_id))) {
    snprintf(errstr, len, "scope_id: a %s level source needs the %s id", level,
             level);
    return NULL;
  }
  if (!new_token(token)) {
    snprintf(errstr, len, "no randomness for a token");
    return NULL;
  }
  char sha[65], at[40];
  ls_sha256_hex(token, strlen(token), sha);
  now_rfc3339(at, sizeof at);
  return json_pack("{s:s,s:s,s:s,s:s?,s:[{s:s,s:n,s:s}],s:n,s:b,s:s,s:s,"
                   "s:s?}",
                   "id", id, "tenant", tenant, "level", level, "scope_id",
                   scoped ? scope_id : NULL, "tokens", "sha256", sha,
                   "not_after", "created_at", at, "secret_key_sha256",
                   "revoked", 0, "origin", "console", "updated_at", at,
                   "updated_by", by);
}

json_t *cli_sources_rotated(const json_t *rec, int64_t grace_s, const char *by,
                            char token[65]) {
  if (!new_token(token))
    return NULL;
  json_t *out = json_deep_copy(rec);
  char sha[65], at[40], until[40];
  int64_t now = ls_now_us();
  ls_sha256_hex(token, strlen(token), sha);
  ls_time_format_ms(now, at, sizeof at);
  ls_time_format_ms(now + grace_s * 1000000, until, sizeof until);
  json_t *tokens = json_array();
  json_array_append_new(tokens, json_pack("{s:s,s:n,s:s}", "sha256", sha,
                                          "not_after", "created_at", at));
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(rec, "tokens"), i, t) {
    int64_t na_us;
    const char *na = json_string_value(json_object_get(t, "not_after"));
    if (na && ls_time_parse(na, &na_us) && na_us <= now)
      continue; /* expired already: nothing to keep */
    json_t *c = json_deep_copy(t);
    if (!na || (ls_time_parse(na, &na_us) && na_us > now + grace_s * 1000000))
      json_object_set_new(c, "not_after", json_string(until));
    json_array_append_new(tokens, c);
  }
  json_object_set_new(out, "tokens", tokens);
  json_object_set_new(out, "updated_at", json_string(at));
  json_object_set_new(out, "updated_by", json_string(by));
  const char *origin = json_string_value(json_object_get(out, "origin"));
  if (origin && !strcmp(origin, "config"))
    json_object_set_new(out, "origin", json_string("config+topic"));
  return out;
}

json_t *cli_sources_revoked(const json_t *rec, const char *by) {
  json_t *out = json_deep_copy(rec);
  char at[40];
  now_rfc3339(at, sizeof at);
  json_object_set_new(out, "tokens", json_array());
  json_object_set_new(out, "revoked", json_true());
  json_object_set_new(out, "updated_at", json_string(at));
  json_object_set_new(out, "updated_by", json_string(by));
  return out;
}

json_t *cli_sources_public(const json_t *rec) {
  json_t *out = json_deep_copy(rec);
  json_t *secret = json_object_get(out, "secret_key_sha256");
  json_object_set_new(out, "has_secret_key",
                      json_boolean(json_is_string(secret)));
  json_object_del(out, "secret_key_sha256");
  size_t i;
  json_t *t;
  json_array_foreach(json_object_get(out, "tokens"), i, t) {
    const char *sha = json_string_value(json_object_get(t, "sha256"));
    char fp[16];
    /* A short fingerprint tells tokens apart without handing out the
     * hash a brute force would start from. */
    snprintf(fp, sizeof fp, "%.8s", sha ? sha : "");
    json_object_set_new(t, "fingerprint", json_string(fp));
    json_object_del(t, "sha256");
  }
  return out;
}

static ls_err produce_json(rd_kafka_t *producer, const char *topic,
                           const char *key, const json_t *v, char *errstr,
                           size_t len) {
  char *text = json_dumps(v, JSON_COMPACT);
  if (!text) {
    snprintf(errstr, len, "out of memory");
    return LS_ERR_INTERNAL;
  }
  ls_err e = cli_kafka_produce(producer, topic, key, key ? strlen(key) : 0,
                               text, strlen(text), NULL, errstr, len);
  free(text);
  return e;
}

json_t *cli_audit_record(const char *user, const char *via, const char *action,
                         json_t *extra) {
  char at[40];
  now_rfc3339(at, sizeof at);
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "at", at, "user",
                        user ? user : "-", "via", via, "action", action);
  if (extra) {
    json_object_update(o, extra);
    json_decref(extra);
  }
  return o;
}

ls_err cli_audit_publish(rd_kafka_t *producer, const cli_delivery *dr,
                         json_t *audit, char *errstr, size_t len) {
  const char *user = json_string_value(json_object_get(audit, "user"));
  ls_err e = produce_json(producer, KQ_TOPIC_AUDIT, user, audit, errstr, len);
  json_decref(audit);
  if (e == LS_OK && !cli_kafka_flush(producer, dr, 30000, errstr, len))
    e = LS_ERR_KAFKA;
  return e;
}

ls_err cli_sources_publish(rd_kafka_t *producer, const cli_delivery *dr,
                           const json_t *rec, json_t *audit, char *errstr,
                           size_t len) {
  const char *id = json_string_value(json_object_get(rec, "id"));
  ls_err e = produce_json(producer, KQ_TOPIC_SOURCES, id, rec, errstr, len);
  if (e != LS_OK) {
    json_decref(audit);
    return e;
  }
  return cli_audit_publish(producer, dr, audit, errstr, len);
}

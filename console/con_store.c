/* con_store: the console's SQLite read model (see con_store.h). */
#include "con_store.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_time.h"

/* Bump when the layout changes: an older database is rebuilt from Kafka. */
#define STORE_LAYOUT "5"

struct con_store {
  sqlite3 *db;
  sqlite3_stmt *ev_received, *ev_outcome, *step, *parked, *replayed, *hit,
      *offset_set, *offset_get, *source_set, *source_del;
};

static const char schema_sql[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=OFF;"
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT);"
    "CREATE TABLE IF NOT EXISTS offsets(topic TEXT, part INTEGER, next "
    "INTEGER, PRIMARY KEY(topic, part)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS events("
    " seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, tenant TEXT,"
    " event_type TEXT, email TEXT, campaign_id TEXT, source TEXT,"
    " received_ms INTEGER NOT NULL, event_time TEXT, topic TEXT,"
    " part INTEGER, off INTEGER, outcome TEXT NOT NULL DEFAULT 'received',"
    " reason TEXT, outcome_ms INTEGER, contact_id TEXT, objects TEXT,"
    " error TEXT);"
    "CREATE INDEX IF NOT EXISTS ev_email ON events(email, received_ms);"
    "CREATE INDEX IF NOT EXISTS ev_tenant ON events(tenant, received_ms);"
    "CREATE INDEX IF NOT EXISTS ev_type ON events(event_type, received_ms);"
    "CREATE INDEX IF NOT EXISTS ev_outcome ON events(outcome, received_ms);"
    "CREATE INDEX IF NOT EXISTS ev_time ON events(received_ms);"
    "CREATE TABLE IF NOT EXISTS steps(event_id TEXT NOT NULL, at_ms INTEGER,"
    " kind TEXT, topic TEXT, part INTEGER, off INTEGER, detail TEXT);"
    "CREATE INDEX IF NOT EXISTS steps_ev ON steps(event_id, at_ms);"
    "CREATE TABLE IF NOT EXISTS parked(kind TEXT, part INTEGER, off INTEGER,"
    " at_ms INTEGER, event_id TEXT, tenant TEXT, email TEXT, event_type TEXT,"
    " reason TEXT, http_status INTEGER, category TEXT, message TEXT,"
    " attempts INTEGER, original_topic TEXT, replayed_ms INTEGER,"
    " replayed_by TEXT, replay_reason TEXT, PRIMARY KEY(kind, part, off));"
    "CREATE INDEX IF NOT EXISTS parked_state ON parked(kind, replayed_ms,"
    " at_ms);"
    "CREATE TABLE IF NOT EXISTS sources(id TEXT PRIMARY KEY, rec TEXT,"
    " updated_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS assurance(tenant TEXT PRIMARY KEY, rec TEXT,"
    " updated_ms INTEGER);"
    "CREATE TABLE IF NOT EXISTS source_hits(source TEXT, tenant TEXT,"
    " event_type TEXT, hour INTEGER, n INTEGER, last_ms INTEGER,"
    " PRIMARY KEY(source, event_type, hour)) WITHOUT ROWID;";

static ls_err sql_fail(sqlite3 *db, const char *what, char *errstr,
                       size_t len) {
  snprintf(errstr, len, "read model: %s: %s", what,
           db ? sqlite3_errmsg(db) : "out of memory");
  return LS_ERR_INTERNAL;
}

static bool prep(sqlite3 *db, const char *sql, sqlite3_stmt **st) {
  return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) ==
         SQLITE_OK;
}

static ls_err prepare_writes(con_store *s, char *errstr, size_t len) {
  struct {
    const char *sql;
    sqlite3_stmt **st;
  } t[] = {
      {"INSERT INTO events(event_id,tenant,event_type,email,campaign_id,"
       "source,received_ms,event_time,topic,part,off) "
       "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11) ON CONFLICT(event_id) DO "
       "UPDATE SET tenant=coalesce(tenant,excluded.tenant),"
       "event_type=coalesce(event_type,excluded.event_type),"
       "email=coalesce(email,excluded.email),"
       "campaign_id=coalesce(campaign_id,excluded.campaign_id),"
       "source=coalesce(source,excluded.source),"
       "received_ms=min(received_ms,excluded.received_ms),"
       "event_time=coalesce(event_time,excluded.event_time),"
       "topic=coalesce(topic,excluded.topic),part=coalesce(part,excluded.part),"
       "off=coalesce(off,excluded.off)",
       &s->ev_received},
      {"INSERT INTO events(event_id,tenant,event_type,email,campaign_id,"
       "received_ms,outcome,reason,outcome_ms,contact_id,objects,error,"
       "event_time) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?6,?9,?10,?11,?12) "
       "ON CONFLICT(event_id) DO UPDATE SET outcome=excluded.outcome,"
       "reason=excluded.reason,outcome_ms=excluded.outcome_ms,"
       "contact_id=coalesce(excluded.contact_id,contact_id),"
       "objects=coalesce(excluded.objects,objects),error=excluded.error,"
       "tenant=coalesce(tenant,excluded.tenant),"
       "event_type=coalesce(event_type,excluded.event_type),"
       "email=coalesce(email,excluded.email),"
       "event_time=coalesce(event_time,excluded.event_time) "
       /* A "released" read after the event's own outcome (sync_log
        * records written before the filter ordered them) is history,
        * not the latest outcome: it stays a step only. */
       "WHERE NOT (excluded.outcome='released' AND "
       "events.outcome NOT IN ('received','held','released'))",
       &s->ev_outcome},
      {"INSERT INTO steps(event_id,at_ms,kind,topic,part,off,detail) "
       "VALUES(?,?,?,?,?,?,?)",
       &s->step},
      {"INSERT OR IGNORE INTO parked(kind,part,off,at_ms,event_id,tenant,"
       "email,event_type,reason,http_status,category,message,attempts,"
       "original_topic) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
       &s->parked},
      {"UPDATE parked SET replayed_ms=?4,replayed_by=?5,replay_reason=?6 "
       "WHERE kind=?1 AND part=?2 AND off=?3",
       &s->replayed},
      {"INSERT INTO source_hits(source,tenant,event_type,hour,n,last_ms) "
       "VALUES(?1,?2,?3,?4,1,?5) ON CONFLICT(source,event_type,hour) DO "
       "UPDATE SET n=n+1,last_ms=max(last_ms,excluded.last_ms)",
       &s->hit},
      {"INSERT INTO offsets(topic,part,next) VALUES(?,?,?) "
       "ON CONFLICT(topic,part) DO UPDATE SET next=excluded.next",
       &s->offset_set},
      {"SELECT next FROM offsets WHERE topic=? AND part=?", &s->offset_get},
      {"INSERT INTO sources(id,rec,updated_ms) VALUES(?,?,?) "
       "ON CONFLICT(id) DO UPDATE SET rec=excluded.rec,"
       "updated_ms=excluded.updated_ms",
       &s->source_set},
      {"DELETE FROM sources WHERE id=?", &s->source_del},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!prep(s->db, t[i].sql, t[i].st))
      return sql_fail(s->db, "prepare", errstr, len);
  return LS_OK;
}

static bool layout_current(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  bool ok = false;
  if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k='layout'", -1, &st,
                         NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    ok = !strcmp((const char *)sqlite3_column_text(st, 0), STORE_LAYOUT);
  sqlite3_finalize(st);
  return ok;
}

static void remove_db(const char *path) {
  char p[4096];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

static void tune(sqlite3 *db) {
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA cache_size=-32768;PRAGMA temp_store=MEMORY;", NULL,
               NULL, NULL);
}

ls_err con_store_open(const char *path, bool rebuild, con_store **out,
                      char *errstr, size_t len) {
  *out = NULL;
  con_store *s = calloc(1, sizeof *s);
  if (!s)
    return sql_fail(NULL, "open", errstr, len);
  if (rebuild)
    remove_db(path);
  for (int attempt = 0; attempt < 2; attempt++) {
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
      goto fail;
    bool empty = true;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM sqlite_master WHERE name='meta'", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      empty = false;
    sqlite3_finalize(st);
    if (empty || layout_current(s->db))
      break;
    /* An older layout: the cache is thrown away and rebuilt from Kafka. */
    sqlite3_close(s->db);
    s->db = NULL;
    remove_db(path);
  }
  tune(s->db);
  /* The writer inserts into indexes keyed by random ids and emails: a
   * larger page cache keeps their upper levels in memory. */
  sqlite3_exec(s->db, "PRAGMA cache_size=-131072;", NULL, NULL, NULL);
  if (sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_exec(s->db,
                   "INSERT OR REPLACE INTO meta(k,v) VALUES('layout',"
                   "'" STORE_LAYOUT "')",
                   NULL, NULL, NULL) != SQLITE_OK)
    goto fail;
  if (prepare_writes(s, errstr, len) != LS_OK) {
    con_store_close(s);
    return LS_ERR_INTERNAL;
  }
  *out = s;
  return LS_OK;
fail:
  sql_fail(s->db, path, errstr, len);
  con_store_close(s);
  return LS_ERR_INTERNAL;
}

ls_err con_store_open_reader(const char *path, con_store **out, char *errstr,
                             size_t len) {
  *out = NULL;
  con_store *s = calloc(1, sizeof *s);
  if (!s)
    return sql_fail(NULL, "open", errstr, len);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    sql_fail(s->db, path, errstr, len);
    con_store_close(s);
    return LS_ERR_INTERNAL;
  }
  tune(s->db);
  *out = s;
  return LS_OK;
}

void con_store_close(con_store *s) {
  if (!s)
    return;
  sqlite3_stmt *all[] = {s->ev_received, s->ev_outcome, s->step,
                         s->parked,      s->replayed,   s->hit,
                         s->offset_set,  s->offset_get, s->source_set,
                         s->source_del};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    sqlite3_finalize(all[i]);
  sqlite3_close(s->db);
  free(s);
}

ls_err con_store_begin(con_store *s) {
  return sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK
             ? LS_OK
             : LS_ERR_INTERNAL;
}

ls_err con_store_commit(con_store *s) {
  return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK
             ? LS_OK
             : LS_ERR_INTERNAL;
}

int64_t con_store_offset(con_store *s, const char *topic, int32_t partition) {
  int64_t v = -1;
  sqlite3_bind_text(s->offset_get, 1, topic, -1, SQLITE_STATIC);
  sqlite3_bind_int(s->offset_get, 2, partition);
  if (sqlite3_step(s->offset_get) == SQLITE_ROW)
    v = sqlite3_column_int64(s->offset_get, 0);
  sqlite3_reset(s->offset_get);
  return v;
}

/* ---- applying records ------------------------------------------------ */

/* Binds text, NULL for "" or NULL. */
static void bind_s(sqlite3_stmt *st, int i, const char *v) {
  if (v && *v)
    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null(st, i);
}

static bool run(sqlite3_stmt *st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

typedef struct {
  char tenant[80], campaign[64], email[260];
} lead_key;

static void copy_part(const char *p, size_t n, char *out, size_t len) {
  if (n >= len)
    n = len - 1;
  if (n == 1 && p[0] == '-')
    n = 0;
  memcpy(out, p, n);
  out[n] = '\0';
}

static void split_key(const con_record *r, lead_key *k) {
  memset(k, 0, sizeof *k);
  if (!r->key)
    return;
  const char *p = r->key, *end = r->key + r->key_len;
  const char *c1 = memchr(p, ':', (size_t)(end - p));
  if (!c1)
    return;
  const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
  if (!c2)
    return;
  copy_part(p, (size_t)(c1 - p), k->tenant, sizeof k->tenant);
  copy_part(c1 + 1, (size_t)(c2 - c1 - 1), k->campaign, sizeof k->campaign);
  copy_part(c2 + 1, (size_t)(end - c2 - 1), k->email, sizeof k->email);
  for (char *e = k->email; *e; e++)
    *e = (char)tolower((unsigned char)*e);
}

static int64_t time_ms(const char *rfc3339, int64_t dflt) {
  int64_t us;
  if (rfc3339 && *rfc3339 && ls_time_parse(rfc3339, &us))
    return us / 1000;
  return dflt;
}

static bool add_step(con_store *s, const char *event_id, int64_t at_ms,
                     const char *kind, const con_record *r, json_t *detail) {
  char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
  sqlite3_bind_text(s->step, 1, event_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(s->step, 2, at_ms);
  sqlite3_bind_text(s->step, 3, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(s->step, 4, r->topic, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s->step, 5, r->partition);
  sqlite3_bind_int64(s->step, 6, r->offset);
  bind_s(s->step, 7, d);
  bool ok = run(s->step);
  free(d);
  json_decref(detail);
  return ok;
}

/* The event type from ce_type "ai.smartlead.email_reply" -> EMAIL_REPLY. */
static void type_of(const char *ce_type, char *out, size_t len) {
  out[0] = '\0';
  if (strncmp(ce_type, "ai.smartlead.", 13))
    return;
  size_t i = 0;
  for (const char *p = ce_type + 13; *p && i + 1 < len; p++)
    out[i++] = (char)toupper((unsigned char)*p);
  out[i] = '\0';
}

/* "/smartlead/<tenant>/<source id>" -> source id. */
static const char *source_of(const char *ce_source) {
  const char *slash = strrchr(ce_source, '/');
  return slash && strncmp(ce_source, "/smartlead/", 11) == 0 ? slash + 1 : "";
}

static bool apply_webhook(con_store *s, const con_record *r) {
  const char *id = r->header(r->opaque, "ce_id");
  if (!*id)
    return true;
  lead_key k;
  split_key(r, &k);
  char type[64];
  type_of(r->header(r->opaque, "ce_type"), type, sizeof type);
  const char *tenant = r->header(r->opaque, "ce_tenant");
  if (!*tenant)
    tenant = k.tenant;
  const char *src = source_of(r->header(r->opaque, "ce_source"));
  int64_t at = time_ms(r->header(r->opaque, "ls_received_at"), r->ts_ms);
  const char *replay = r->header(r->opaque, "ls_replay");
  bool released = !strcmp(r->header(r->opaque, "ls_released"), "1");
  sqlite3_stmt *st = s->ev_received;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  bind_s(st, 2, tenant);
  bind_s(st, 3, type);
  bind_s(st, 4, k.email);
  bind_s(st, 5, k.campaign);
  bind_s(st, 6, src);
  sqlite3_bind_int64(st, 7, at);
  bind_s(st, 8, r->header(r->opaque, "ce_time"));
  sqlite3_bind_text(st, 9, r->topic, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 10, r->partition);
  sqlite3_bind_int64(st, 11, r->offset);
  if (!run(st))
    return false;
  bool backfill = !strcmp(r->header(r->opaque, "ls_backfill"), "1");
  const char *kind = *replay    ? "replayed"
                     : released ? "released"
                     : backfill ? "backfilled"
                                : "received";
  json_t *detail = json_pack("{s:s?,s:s?}", "source", *src ? src : NULL,
                             "replay", *replay ? replay : NULL);
  if (*replay) {
    const char *attempt = r->header(r->opaque, "ls_attempt");
    json_object_set_new(detail, "attempt", json_string(attempt));
    /* ls_replay records are re-publications, not new arrivals: the time
     * is when they were re-published. */
    at = r->ts_ms;
  }
  if (!add_step(s, id, at, kind, r, detail))
    return false;
  if (*replay || released || !*src)
    return true;
  sqlite3_stmt *h = s->hit;
  bind_s(h, 1, src);
  bind_s(h, 2, tenant);
  bind_s(h, 3, type);
  sqlite3_bind_int64(h, 4, at / 3600000);
  sqlite3_bind_int64(h, 5, at);
  return run(h);
}

static const char *jstr(const json_t *o, const char *k) {
  const char *v = json_string_value(json_object_get(o, k));
  return v ? v : "";
}

static bool apply_sync_log(con_store *s, const con_record *r) {
  json_t *root = json_loadb(r->value, r->value_len, 0, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    return true; /* not ours to judge: the sync log's writers own it */
  }
  const char *id = jstr(root, "event_id");
  bool ok = true;
  if (!*id)
    goto out;
  int64_t at = time_ms(jstr(root, "logged_at"), r->ts_ms);
  char email[260];
  snprintf(email, sizeof email, "%s", jstr(root, "lead_email"));
  for (char *e = email; *e; e++)
    *e = (char)tolower((unsigned char)*e);
  const json_t *hs = json_object_get(root, "hubspot");
  const char *contact = jstr(hs, "contact_id");
  json_t *objs = json_object_get(hs, "objects");
  char *objs_s = json_is_array(objs) && json_array_size(objs)
                     ? json_dumps(objs, JSON_COMPACT)
                     : NULL;
  json_t *err = json_object_get(root, "error");
  char *err_s = json_is_object(err) ? json_dumps(err, JSON_COMPACT) : NULL;
  sqlite3_stmt *st = s->ev_outcome;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  bind_s(st, 2, jstr(root, "tenant"));
  bind_s(st, 3, jstr(root, "event_type"));
  bind_s(st, 4, email);
  bind_s(st, 5, jstr(root, "campaign_id"));
  sqlite3_bind_int64(st, 6, at);
  bind_s(st, 7, *jstr(root, "outcome") ? jstr(root, "outcome") : "unknown");
  bind_s(st, 8, jstr(root, "reason"));
  bind_s(st, 9, contact);
  bind_s(st, 10, objs_s);
  bind_s(st, 11, err_s);
  bind_s(st, 12, jstr(root, "event_time"));
  ok = run(st);
  free(objs_s);
  free(err_s);
  if (!ok)
    goto out;
  json_t *detail = json_deep_copy(root);
  /* The step keeps what the outcome says, not the lead's identity again. */
  json_object_del(detail, "lead_email");
  json_object_del(detail, "event_id");
  ok = add_step(s, id, at, jstr(root, "outcome"), r, detail);
out:
  json_decref(root);
  return ok;
}

static bool apply_parked(con_store *s, const con_record *r, bool dlq) {
  lead_key k;
  split_key(r, &k);
  const char *id = r->header(r->opaque, "ce_id");
  const char *tenant = r->header(r->opaque, "ce_tenant");
  if (!*tenant)
    tenant = k.tenant;
  char type[64];
  type_of(r->header(r->opaque, "ce_type"), type, sizeof type);
  const char *reason =
      r->header(r->opaque, dlq ? "ls_dlq_reason" : "ls_quarantine_reason");
  const char *status = r->header(r->opaque, "ls_dlq_http_status");
  const char *attempts = r->header(r->opaque, "ls_dlq_attempts");
  sqlite3_stmt *st = s->parked;
  sqlite3_bind_text(st, 1, dlq ? "dlq" : "quarantine", -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, r->partition);
  sqlite3_bind_int64(st, 3, r->offset);
  sqlite3_bind_int64(st, 4, r->ts_ms);
  bind_s(st, 5, id);
  bind_s(st, 6, tenant);
  bind_s(st, 7, k.email);
  bind_s(st, 8, type);
  bind_s(st, 9, reason);
  if (*status)
    sqlite3_bind_int(st, 10, (int)strtol(status, NULL, 10));
  bind_s(st, 11, r->header(r->opaque, "ls_dlq_hubspot_category"));
  bind_s(st, 12,
         r->header(r->opaque,
                   dlq ? "ls_dlq_hubspot_message" : "ls_quarantine_detail"));
  if (*attempts)
    sqlite3_bind_int(st, 13, (int)strtol(attempts, NULL, 10));
  bind_s(st, 14, r->header(r->opaque, "ls_dlq_original_topic"));
  if (!run(st))
    return false;
  if (!*id)
    return true;
  if (!dlq) {
    /* A quarantined body never reached a worker: this is its outcome. */
    sqlite3_stmt *o = s->ev_outcome;
    sqlite3_bind_text(o, 1, id, -1, SQLITE_TRANSIENT);
    bind_s(o, 2, tenant);
    bind_s(o, 3, type);
    bind_s(o, 4, k.email);
    bind_s(o, 5, k.campaign);
    sqlite3_bind_int64(o, 6, r->ts_ms);
    bind_s(o, 7, "quarantined");
    bind_s(o, 8, reason);
    if (!run(o))
      return false;
  }
  return add_step(s, id, r->ts_ms, dlq ? "dead_lettered" : "quarantined", r,
                  json_pack("{s:s?,s:s?}", "reason", *reason ? reason : NULL,
                            "http_status", *status ? status : NULL));
}

static bool apply_held(con_store *s, const con_record *r) {
  const char *id = r->header(r->opaque, "ce_id");
  if (!*id)
    return true; /* a marker of the filter's own bookkeeping */
  return add_step(s, id, r->ts_ms, "filter", r, NULL);
}

/* Audit records that change what the read model shows: replays mark the
 * parked records they re-published. */
static bool apply_audit(con_store *s, const con_record *r) {
  json_t *root = json_loadb(r->value, r->value_len, 0, NULL);
  const char *action = jstr(root, "action");
  bool ok = true;
  const char *kind = !strcmp(action, "dlq.replay")          ? "dlq"
                     : !strcmp(action, "quarantine.replay") ? "quarantine"
                                                            : NULL;
  if (kind && !json_is_true(json_object_get(root, "dry_run"))) {
    int64_t at = time_ms(jstr(root, "at"), r->ts_ms);
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(root, "items"), i, it) {
      sqlite3_stmt *st = s->replayed;
      sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
      sqlite3_bind_int(
          st, 2, (int)json_integer_value(json_object_get(it, "partition")));
      sqlite3_bind_int64(st, 3,
                         json_integer_value(json_object_get(it, "offset")));
      sqlite3_bind_int64(st, 4, at);
      bind_s(st, 5, jstr(root, "user"));
      bind_s(st, 6, jstr(root, "reason"));
      if (!run(st)) {
        ok = false;
        break;
      }
    }
  }
  json_decref(root);
  return ok;
}

static bool apply_source(con_store *s, const con_record *r) {
  if (!r->key || !r->key_len)
    return true;
  char id[256];
  copy_part(r->key, r->key_len, id, sizeof id);
  if (!r->value) { /* a tombstone: the source is gone */
    bind_s(s->source_del, 1, id);
    return run(s->source_del);
  }
  sqlite3_stmt *st = s->source_set;
  bind_s(st, 1, id);
  sqlite3_bind_text(st, 2, r->value, (int)r->value_len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, r->ts_ms);
  return run(st);
}

/* Assurance progress (compacted, key tenant): the latest per tenant. */
static bool apply_assurance(con_store *s, const con_record *r) {
  if (!r->key || !r->key_len || !r->value)
    return true;
  char tenant[128];
  copy_part(r->key, r->key_len, tenant, sizeof tenant);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO assurance(tenant,rec,updated_ms) "
                         "VALUES(?,?,?) ON CONFLICT(tenant) DO UPDATE SET "
                         "rec=excluded.rec,updated_ms=excluded.updated_ms",
                         -1, &st, NULL) != SQLITE_OK)
    return false;
  bind_s(st, 1, tenant);
  sqlite3_bind_text(st, 2, r->value, (int)r->value_len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, r->ts_ms);
  bool ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  return ok;
}

json_t *con_store_assurance(con_store *s) {
  sqlite3_stmt *st = NULL;
  json_t *out = json_array();
  if (sqlite3_prepare_v2(s->db,
                         "SELECT tenant,rec,updated_ms FROM assurance "
                         "ORDER BY tenant",
                         -1, &st, NULL) != SQLITE_OK)
    return out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    json_t *rec = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    if (!json_is_object(rec)) {
      json_decref(rec);
      continue;
    }
    char at[40];
    ls_time_format_ms(sqlite3_column_int64(st, 2) * 1000, at, sizeof at);
    json_object_set_new(rec, "tenant",
                        json_string((const char *)sqlite3_column_text(st, 0)));
    json_object_set_new(rec, "updated_at", json_string(at));
    json_array_append_new(out, rec);
  }
  sqlite3_finalize(st);
  return out;
}

ls_err con_store_apply(con_store *s, const con_record *r, const char *prefix) {
  bool ok;
  size_t pl = strlen(prefix);
  if (!strcmp(r->topic, "leadsync.sync_log"))
    ok = apply_sync_log(s, r);
  else if (!strcmp(r->topic, "leadsync.dlq"))
    ok = apply_parked(s, r, true);
  else if (!strcmp(r->topic, "leadsync.held"))
    ok = apply_held(s, r);
  else if (!strcmp(r->topic, "leadsync.audit"))
    ok = apply_audit(s, r);
  else if (!strcmp(r->topic, "leadsync.sources"))
    ok = apply_source(s, r);
  else if (!strcmp(r->topic, "leadsync.assurance"))
    ok = apply_assurance(s, r);
  else if (!strncmp(r->topic, prefix, pl) &&
           !strcmp(r->topic + pl, "quarantine"))
    ok = apply_parked(s, r, false);
  else if (!strncmp(r->topic, prefix, pl))
    ok = apply_webhook(s, r);
  else
    ok = true;
  if (!ok)
    return LS_ERR_INTERNAL;
  sqlite3_bind_text(s->offset_set, 1, r->topic, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s->offset_set, 2, r->partition);
  sqlite3_bind_int64(s->offset_set, 3, r->offset + 1);
  return run(s->offset_set) ? LS_OK : LS_ERR_INTERNAL;
}

/* ---- queries --------------------------------------------------------- */

/* A row as a JSON object; columns named "*_json" are parsed and renamed. */
static json_t *row_json(sqlite3_stmt *st) {
  json_t *o = json_object();
  int n = sqlite3_column_count(st);
  for (int i = 0; i < n; i++) {
    const char *name = sqlite3_column_name(st, i);
    size_t nl = strlen(name);
    bool parse = nl > 5 && !strcmp(name + nl - 5, "_json");
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(parse ? nl - 5 : nl), name);
    json_t *v;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      v = json_integer(sqlite3_column_int64(st, i));
      break;
    case SQLITE_FLOAT:
      v = json_real(sqlite3_column_double(st, i));
      break;
    case SQLITE_NULL:
      v = json_null();
      break;
    default: {
      const char *t = (const char *)sqlite3_column_text(st, i);
      v = parse ? json_loads(t, 0, NULL) : json_string(t);
    }
    }
    json_object_set_new(o, key, v ? v : json_null());
  }
  return o;
}

static void ms_field(json_t *o, const char *ms_key, const char *key) {
  json_t *v = json_object_get(o, ms_key);
  if (json_is_integer(v)) {
    char buf[40];
    ls_time_format_ms(json_integer_value(v) * 1000, buf, sizeof buf);
    json_object_set_new(o, key, json_string(buf));
  } else {
    json_object_set_new(o, key, json_null());
  }
  json_object_del(o, ms_key);
}

#define EVENT_COLS                                                             \
  "seq,event_id,tenant,event_type,email AS lead_email,campaign_id,"            \
  "source,received_ms,event_time,topic,part AS partition,off AS offset,"       \
  "outcome,reason,outcome_ms,contact_id,objects AS objects_json,"              \
  "error AS error_json"

static json_t *event_json(sqlite3_stmt *st) {
  json_t *o = row_json(st);
  ms_field(o, "received_ms", "received_at");
  ms_field(o, "outcome_ms", "outcome_at");
  return o;
}

/* {key: arr, "next": cursor of the last row, or null on the last page}. */
static json_t *page(const char *key, json_t *arr, bool more, int64_t a,
                    int64_t b) {
  json_t *out = json_pack("{s:o,s:n}", key, arr, "next");
  if (more) {
    char cur[64];
    snprintf(cur, sizeof cur, "%lld.%lld", (long long)a, (long long)b);
    json_object_set_new(out, "next", json_string(cur));
  }
  return out;
}

/* Cursor: "<received_ms>.<seq>" of the last row of the previous page. */
static bool parse_cursor(const char *c, int64_t *ms, int64_t *seq) {
  char *end;
  *ms = strtoll(c, &end, 10);
  if (*end != '.')
    return false;
  *seq = strtoll(end + 1, &end, 10);
  return *end == '\0';
}

json_t *con_store_events(con_store *s, const con_query *q, char *errstr,
                         size_t len) {
  char sql[1024];
  int limit = q->limit > 0 && q->limit <= 500 ? q->limit : 50;
  int64_t c_ms = 0, c_seq = 0;
  if (q->cursor && *q->cursor && !parse_cursor(q->cursor, &c_ms, &c_seq)) {
    snprintf(errstr, len, "cursor: not a cursor of this API");
    return NULL;
  }
  snprintf(sql, sizeof sql,
           "SELECT " EVENT_COLS " FROM events WHERE 1%s%s%s%s%s%s%s%s "
           "ORDER BY received_ms DESC, seq DESC LIMIT ?9",
           q->email && *q->email ? " AND email=?1" : "",
           q->tenant && *q->tenant ? " AND tenant=?2" : "",
           q->type && *q->type ? " AND event_type=?3" : "",
           q->outcome && *q->outcome ? " AND outcome=?4" : "",
           q->since_ms ? " AND received_ms>=?5" : "",
           q->until_ms ? " AND received_ms<?6" : "",
           q->cursor && *q->cursor
               ? " AND (received_ms<?7 OR (received_ms=?7 AND seq<?8))"
               : "",
           q->event_id && *q->event_id ? " AND event_id=?10" : "");
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    sql_fail(s->db, "events", errstr, len);
    return NULL;
  }
  char email[260] = "";
  if (q->email) {
    snprintf(email, sizeof email, "%s", q->email);
    for (char *e = email; *e; e++)
      *e = (char)tolower((unsigned char)*e);
  }
  bind_s(st, 1, email);
  bind_s(st, 2, q->tenant);
  bind_s(st, 3, q->type);
  bind_s(st, 4, q->outcome);
  sqlite3_bind_int64(st, 5, q->since_ms);
  sqlite3_bind_int64(st, 6, q->until_ms);
  sqlite3_bind_int64(st, 7, c_ms);
  sqlite3_bind_int64(st, 8, c_seq);
  sqlite3_bind_int(st, 9, limit + 1);
  bind_s(st, 10, q->event_id);
  json_t *arr = json_array();
  int n = 0, rc;
  int64_t last_ms = 0, last_seq = 0;
  bool more = false;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (n == limit) {
      more = true;
      break;
    }
    last_ms = sqlite3_column_int64(st, 7);
    last_seq = sqlite3_column_int64(st, 0);
    json_t *o = event_json(st);
    json_object_del(o, "seq");
    json_array_append_new(arr, o);
    n++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    json_decref(arr);
    sql_fail(s->db, "events", errstr, len);
    return NULL;
  }
  return page("events", arr, more, last_ms, last_seq);
}

static json_t *rows(sqlite3 *db, const char *sql, const char *bind1,
                    json_t *(*conv)(sqlite3_stmt *)) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    return NULL;
  bind_s(st, 1, bind1);
  json_t *arr = json_array();
  while (sqlite3_step(st) == SQLITE_ROW)
    json_array_append_new(arr, conv(st));
  sqlite3_finalize(st);
  return arr;
}

static json_t *step_json(sqlite3_stmt *st) {
  json_t *o = row_json(st);
  ms_field(o, "at_ms", "at");
  return o;
}

static json_t *parked_json(sqlite3_stmt *st) {
  json_t *o = row_json(st);
  ms_field(o, "at_ms", "parked_at");
  ms_field(o, "replayed_ms", "replayed_at");
  char id[64];
  snprintf(id, sizeof id, "%lld:%lld",
           (long long)json_integer_value(json_object_get(o, "partition")),
           (long long)json_integer_value(json_object_get(o, "offset")));
  json_object_set_new(o, "id", json_string(id));
  json_object_set_new(
      o, "state",
      json_string(json_is_null(json_object_get(o, "replayed_at"))
                      ? "pending"
                      : "replayed"));
  return o;
}

json_t *con_store_event(con_store *s, const char *event_id, char *errstr,
                        size_t len) {
  errstr[0] = '\0';
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT " EVENT_COLS " FROM events WHERE event_id=?",
                         -1, &st, NULL) != SQLITE_OK) {
    sql_fail(s->db, "event", errstr, len);
    return NULL;
  }
  bind_s(st, 1, event_id);
  json_t *ev = NULL;
  if (sqlite3_step(st) == SQLITE_ROW) {
    ev = event_json(st);
    json_object_del(ev, "seq");
  }
  sqlite3_finalize(st);
  if (!ev)
    return NULL;
  json_t *steps = rows(s->db,
                       "SELECT at_ms,kind,topic,part AS partition,off AS "
                       "offset,detail AS detail_json FROM steps WHERE "
                       "event_id=? ORDER BY at_ms, rowid",
                       event_id, step_json);
  json_t *parked = rows(s->db,
                        "SELECT kind,part AS partition,off AS offset,at_ms,"
                        "reason,http_status,category,message,attempts,"
                        "original_topic,replayed_ms,replayed_by,replay_reason "
                        "FROM parked WHERE event_id=? ORDER BY at_ms",
                        event_id, parked_json);
  return json_pack("{s:o,s:o,s:o}", "event", ev, "steps",
                   steps ? steps : json_array(), "parked",
                   parked ? parked : json_array());
}

json_t *con_store_parked(con_store *s, const char *kind, const char *state,
                         const con_query *q, char *errstr, size_t len) {
  char sql[1024];
  int limit = q->limit > 0 && q->limit <= 1000 ? q->limit : 100;
  int64_t c_ms = 0, c_seq = 0;
  if (q->cursor && *q->cursor && !parse_cursor(q->cursor, &c_ms, &c_seq)) {
    snprintf(errstr, len, "cursor: not a cursor of this API");
    return NULL;
  }
  /* Cursor for parked records: "<at_ms>.<partition * 2^40 + offset>". */
  snprintf(sql, sizeof sql,
           "SELECT kind,part AS partition,off AS offset,at_ms,event_id,"
           "tenant,email AS lead_email,event_type,reason,http_status,"
           "category,message,attempts,original_topic,replayed_ms,"
           "replayed_by,replay_reason FROM parked WHERE kind=?1%s%s%s%s "
           "ORDER BY at_ms DESC, part DESC, off DESC LIMIT ?5",
           !strcmp(state, "pending")    ? " AND replayed_ms IS NULL"
           : !strcmp(state, "replayed") ? " AND replayed_ms IS NOT NULL"
                                        : "",
           q->tenant && *q->tenant ? " AND tenant=?2" : "",
           q->outcome && *q->outcome ? " AND reason=?3" : "",
           q->cursor && *q->cursor
               ? " AND (at_ms<?4 OR (at_ms=?4 AND part*1099511627776+off<?6))"
               : "");
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    sql_fail(s->db, "parked", errstr, len);
    return NULL;
  }
  bind_s(st, 1, kind);
  bind_s(st, 2, q->tenant);
  bind_s(st, 3, q->outcome);
  sqlite3_bind_int64(st, 4, c_ms);
  sqlite3_bind_int(st, 5, limit + 1);
  sqlite3_bind_int64(st, 6, c_seq);
  json_t *arr = json_array();
  int n = 0;
  bool more = false;
  int64_t last_ms = 0, last_k = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (n == limit) {
      more = true;
      break;
    }
    last_ms = sqlite3_column_int64(st, 3);
    last_k = sqlite3_column_int64(st, 1) * 1099511627776LL +
             sqlite3_column_int64(st, 2);
    json_array_append_new(arr, parked_json(st));
    n++;
  }
  sqlite3_finalize(st);
  return page("records", arr, more, last_ms, last_k);
}

json_t *con_store_parked_one(con_store *s, const char *kind, int32_t partition,
                             int64_t offset) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(
          s->db,
          "SELECT kind,part AS partition,off AS offset,at_ms,event_id,tenant,"
          "email AS lead_email,event_type,reason,http_status,category,"
          "message,attempts,original_topic,replayed_ms,replayed_by,"
          "replay_reason FROM parked WHERE kind=? AND part=? AND off=?",
          -1, &st, NULL) != SQLITE_OK)
    return NULL;
  bind_s(st, 1, kind);
  sqlite3_bind_int(st, 2, partition);
  sqlite3_bind_int64(st, 3, offset);
  json_t *o = NULL;
  if (sqlite3_step(st) == SQLITE_ROW)
    o = parked_json(st);
  sqlite3_finalize(st);
  return o;
}

json_t *con_store_source_stats(con_store *s, int64_t since_ms) {
  sqlite3_stmt *st = NULL;
  json_t *out = json_object();
  if (sqlite3_prepare_v2(s->db,
                         "SELECT source,tenant,event_type,"
                         "sum(CASE WHEN hour>=?1 THEN n ELSE 0 END),"
                         "max(last_ms) FROM source_hits GROUP BY source,"
                         "event_type",
                         -1, &st, NULL) != SQLITE_OK)
    return out;
  sqlite3_bind_int64(st, 1, since_ms / 3600000);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *src = (const char *)sqlite3_column_text(st, 0);
    const char *type = (const char *)sqlite3_column_text(st, 2);
    json_t *o = json_object_get(out, src);
    if (!o) {
      o = json_pack("{s:s?,s:I,s:{}}", "tenant",
                    (const char *)sqlite3_column_text(st, 1), "last_ms",
                    (json_int_t)0, "counts_24h");
      json_object_set_new(out, src, o);
    }
    int64_t last = sqlite3_column_int64(st, 4);
    if (last > json_integer_value(json_object_get(o, "last_ms")))
      json_object_set_new(o, "last_ms", json_integer(last));
    json_object_set_new(json_object_get(o, "counts_24h"), type ? type : "-",
                        json_integer(sqlite3_column_int64(st, 3)));
  }
  sqlite3_finalize(st);
  return out;
}

json_t *con_store_sources(con_store *s) {
  sqlite3_stmt *st = NULL;
  json_t *out = json_object();
  if (sqlite3_prepare_v2(s->db, "SELECT id,rec FROM sources", -1, &st, NULL) !=
      SQLITE_OK)
    return out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    json_t *rec = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
    if (rec)
      json_object_set_new(out, (const char *)sqlite3_column_text(st, 0), rec);
  }
  sqlite3_finalize(st);
  return out;
}

json_t *con_store_tenant_stats(con_store *s, int64_t since_ms) {
  sqlite3_stmt *st = NULL;
  json_t *out = json_object();
  if (sqlite3_prepare_v2(
          s->db,
          "SELECT tenant,outcome,count(*),sum(CASE WHEN json_extract(error,"
          "'$.http_status')=429 THEN 1 ELSE 0 END) FROM events WHERE "
          "received_ms>=? GROUP BY tenant,outcome",
          -1, &st, NULL) != SQLITE_OK)
    return out;
  sqlite3_bind_int64(st, 1, since_ms);
  while (sqlite3_step(st) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    if (!t)
      continue;
    json_t *o = json_object_get(out, t);
    if (!o) {
      o = json_pack("{s:{},s:i}", "outcomes_24h", "rate_limited_24h", 0);
      json_object_set_new(out, t, o);
    }
    json_object_set_new(json_object_get(o, "outcomes_24h"),
                        (const char *)sqlite3_column_text(st, 1),
                        json_integer(sqlite3_column_int64(st, 2)));
    json_object_set_new(o, "rate_limited_24h",
                        json_integer(json_integer_value(json_object_get(
                                         o, "rate_limited_24h")) +
                                     sqlite3_column_int64(st, 3)));
  }
  sqlite3_finalize(st);
  return out;
}

long long con_store_count(con_store *s, const char *table) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
  sqlite3_stmt *st = NULL;
  long long n = -1;
  if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* fl_snap: checkpoints of the filter's state on leadsync.filter_state. */
#include "fl_snap.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_log.h"
#include "ls_time.h"
#include "wrk_fault.h"

/* A chunk's size: a handful of fetches' worth, far below the topics'
 * max.message.bytes. */
#define CHUNK_BYTES (128 * 1024)
/* Records read backwards from the partition's end at first while looking
 * for the newest end record (it is normally among the last few). */
#define FIND_WINDOW 16
/* Older snapshots tried when the newest is incomplete (its chunks gone). */
#define MAX_FALLBACKS 3
/* Chunks met while looking for the end record are kept up to this many
 * bytes: a small snapshot is then loaded without reading it again. */
#define FIND_CACHE_BYTES (4 * 1024 * 1024)

#define H_SNAP "ls_snap"        /* "chunk" or "end" */
#define H_SNAP_ID "ls_snap_id"  /* the snapshot's id */
#define H_SNAP_NO "ls_snap_no"  /* a chunk's index */
#define H_GROUP "ls_snap_group" /* the filter's consumer group */

void fl_snap_on_delivery(fl_snap_dr *d, const rd_kafka_message_t *m) {
  if (m->err) {
    if (!d->failed)
      snprintf(d->err, sizeof d->err, "%s", rd_kafka_err2str(m->err));
    d->failed = true;
    return;
  }
  if (d->first < 0 || m->offset < d->first)
    d->first = m->offset;
  if (m->offset > d->last)
    d->last = m->offset;
}

static bool wait_acked(rd_kafka_t *pr, int64_t deadline_us,
                       volatile sig_atomic_t *stop, char *errstr,
                       size_t errlen) {
  while (rd_kafka_outq_len(pr) > 0) {
    if (stop && *stop) {
      snprintf(errstr, errlen, "stopping");
      return false;
    }
    if (ls_mono_us() > deadline_us) {
      snprintf(errstr, errlen, "not acknowledged in time");
      return false;
    }
    rd_kafka_flush(pr, 200);
  }
  rd_kafka_poll(pr, 0); /* the last delivery reports */
  return true;
}

/* Produces one record to partition p (takes val when F_FREE and h). */
static bool snap_send(rd_kafka_t *pr, int32_t p, const char *key, void *val,
                      size_t len, int flags, rd_kafka_headers_t *h,
                      void *opaque, char *errstr, size_t errlen) {
  rd_kafka_resp_err_t err;
  for (;;) {
    err = rd_kafka_producev(
        pr, RD_KAFKA_V_TOPIC(KQ_TOPIC_FILTER_STATE), RD_KAFKA_V_PARTITION(p),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(val, len),
        RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      break;
    rd_kafka_poll(pr, 100);
  }
  if (err) {
    snprintf(errstr, errlen, "produce %s [%d]: %s", KQ_TOPIC_FILTER_STATE,
             (int)p, rd_kafka_err2str(err));
    if (h)
      rd_kafka_headers_destroy(h);
    if (flags & RD_KAFKA_MSG_F_FREE)
      free(val);
  }
  return !err;
}

static rd_kafka_headers_t *headers(const char *kind, const char *id,
                                   const char *group, long no) {
  rd_kafka_headers_t *h = rd_kafka_headers_new(4);
  rd_kafka_header_add(h, H_SNAP, -1, kind, -1);
  rd_kafka_header_add(h, H_SNAP_ID, -1, id, -1);
  rd_kafka_header_add(h, H_GROUP, -1, group, -1);
  if (no >= 0) {
    char n[24];
    snprintf(n, sizeof n, "%ld", no);
    rd_kafka_header_add(h, H_SNAP_NO, -1, n, -1);
  }
  return h;
}

bool fl_snap_write(rd_kafka_t *producer, fl_snap_dr *dr, const ls_config *cfg,
                   const char *group, int32_t p, const fl_state *s,
                   int64_t upto, fl_snap_info *prev, int64_t deadline_us,
                   volatile sig_atomic_t *stop, char *errstr, size_t errlen) {
  static uint64_t seq;
  char id[24], key[512];
  snprintf(id, sizeof id, "%016llx",
           (unsigned long long)((uint64_t)ls_now_us() ^ ((uint64_t)p << 44) ^
                                (++seq * 0x9e3779b97f4a7c15ull)));
  *dr = (fl_snap_dr){.first = -1, .last = -1};
  fl_cursor cur = {0};
  uint32_t n = 0;
  size_t bytes = 0;
  for (;;) {
    uint8_t *buf = malloc(CHUNK_BYTES);
    if (!buf) {
      snprintf(errstr, errlen, "out of memory");
      return false;
    }
    size_t len = fl_state_encode(s, &cur, buf, CHUNK_BYTES);
    if (!len) {
      free(buf);
      break;
    }
    snprintf(key, sizeof key, "%s:%d:%s:%u", group, (int)p, id, n);
    if (!snap_send(producer, p, key, buf, len, RD_KAFKA_MSG_F_FREE,
                   headers("chunk", id, group, (long)n), dr, errstr, errlen))
      return false;
    n++;
    bytes += len;
  }
  if (!wait_acked(producer, deadline_us, stop, errstr, errlen))
    return false;
  if (dr->failed) {
    snprintf(errstr, errlen, "a chunk was refused: %s", dr->err);
    return false;
  }
  json_t *tenants = json_array();
  for (size_t i = 0; i < cfg->n_tenants && i < FL_TENANT_NONE; i++)
    json_array_append_new(tenants, json_string(cfg->tenants[i].id));
  int64_t now = ls_now_us();
  json_t *end = json_pack(
      "{s:s,s:i,s:s,s:I,s:I,s:i,s:I,s:I,s:I,s:I,s:I,s:o}", "group", group,
      "partition", (int)p, "id", id, "held_offset", (json_int_t)upto, "first",
      (json_int_t)dr->first, "chunks", (int)n, "bytes", (json_int_t)bytes,
      "leads", (json_int_t)fl_state_leads(s), "held",
      (json_int_t)fl_state_held(s), "written_at_us", (json_int_t)now,
      "prev_end", (json_int_t)(prev ? prev->end_offset : -1), "tenants",
      tenants);
  char *v = end ? json_dumps(end, JSON_COMPACT) : NULL;
  json_decref(end);
  if (!v) {
    snprintf(errstr, errlen, "out of memory");
    return false;
  }
  if (wrk_fault("filter_snapshot_end")) {
    /* Tests: as if the process died after the chunks. */
    snprintf(errstr, errlen, "injected: no end record");
    return false;
  }
  *dr = (fl_snap_dr){.first = -1, .last = -1};
  snprintf(key, sizeof key, "%s:%d:end", group, (int)p);
  if (!snap_send(producer, p, key, v, strlen(v), RD_KAFKA_MSG_F_FREE,
                 headers("end", id, group, -1), dr, errstr, errlen))
    return false;
  if (!wait_acked(producer, deadline_us, stop, errstr, errlen))
    return false;
  if (dr->failed || dr->last < 0) {
    snprintf(errstr, errlen, "the end record was refused: %s", dr->err);
    return false;
  }
  /* The previous snapshot's chunks are not needed any more: tombstones,
   * so compaction removes them (not waited for; a lost one is garbage a
   * later snapshot does not read). */
  if (prev && prev->id[0]) {
    char ignored[64];
    for (uint32_t i = 0; i < prev->chunks; i++) {
      snprintf(key, sizeof key, "%s:%d:%s:%u", group, (int)p, prev->id, i);
      snap_send(producer, p, key, NULL, 0, 0, NULL, NULL, ignored,
                sizeof ignored);
    }
  }
  if (prev) {
    *prev = (fl_snap_info){.held_offset = upto,
                           .end_offset = dr->last,
                           .chunks = n,
                           .written_us = now,
                           .bytes = bytes,
                           .entries = fl_state_leads(s) + fl_state_held(s)};
    snprintf(prev->id, sizeof prev->id, "%s", id);
  }
  return true;
}

/* -- load ------------------------------------------------------------ */

static bool hdr_is(const rd_kafka_message_t *m, const char *name,
                   const char *want) {
  char v[256];
  return !strcmp(kq_header(m, name, v, sizeof v), want);
}

/* A chunk of the group met while looking for the end record. */
typedef struct {
  int64_t offset;
  char id[24];
  unsigned long no;
  uint8_t *data;
  size_t len;
} cached;

typedef struct {
  const char *group;
  json_t *end; /* the newest end record of the group seen */
  int64_t end_off;
  size_t records;
  int64_t from; /* every record from here to the end was seen */
  cached *c;    /* the group's chunks among them (complete unless over) */
  size_t n, cap, bytes;
  bool over;
} find_arg;

static bool chunk_no(const rd_kafka_message_t *m, unsigned long *no) {
  char v[24], *e;
  *no = strtoul(kq_header(m, H_SNAP_NO, v, sizeof v), &e, 10);
  return v[0] && !*e;
}

static void keep_chunk(find_arg *a, const rd_kafka_message_t *m) {
  unsigned long no;
  if (a->over || !chunk_no(m, &no))
    return;
  if (a->bytes + m->len > FIND_CACHE_BYTES) {
    a->over = true;
    return;
  }
  if (a->n == a->cap) {
    size_t ncap = a->cap ? 2 * a->cap : 16;
    cached *c = realloc(a->c, ncap * sizeof *c);
    if (!c) {
      a->over = true;
      return;
    }
    a->c = c;
    a->cap = ncap;
  }
  cached *k = &a->c[a->n];
  k->data = malloc(m->len ? m->len : 1);
  if (!k->data) {
    a->over = true;
    return;
  }
  memcpy(k->data, m->payload, m->len);
  k->len = m->len;
  k->offset = m->offset;
  k->no = no;
  kq_header(m, H_SNAP_ID, k->id, sizeof k->id);
  a->bytes += m->len;
  a->n++;
}

static void find_free(find_arg *a) {
  for (size_t i = 0; i < a->n; i++)
    free(a->c[i].data);
  free(a->c);
  json_decref(a->end);
}

static void find_fn(const rd_kafka_message_t *m, void *arg) {
  find_arg *a = arg;
  a->records++;
  if (!m->payload || !hdr_is(m, H_GROUP, a->group))
    return;
  if (hdr_is(m, H_SNAP, "chunk")) {
    keep_chunk(a, m);
    return;
  }
  if (m->offset <= a->end_off || !hdr_is(m, H_SNAP, "end"))
    return;
  json_t *v = json_loadb(m->payload, m->len, 0, NULL);
  if (!json_is_object(v)) {
    json_decref(v);
    return;
  }
  json_decref(a->end);
  a->end = v;
  a->end_off = m->offset;
}

typedef struct {
  const char *group, *id;
  fl_state *s;
  const uint16_t *tmap;
  size_t ntmap;
  uint8_t *seen;
  uint32_t chunks, got;
  size_t bytes, records;
  bool bad;
} chunk_arg;

static void add_chunk(chunk_arg *a, unsigned long i, const void *data,
                      size_t len) {
  if (i >= a->chunks || a->seen[i])
    return; /* a copy (the dev broker stores a retried batch twice) */
  a->seen[i] = 1;
  a->got++;
  a->bytes += len;
  if (!fl_state_decode(a->s, data, len, a->tmap, a->ntmap))
    a->bad = true;
}

static void chunk_fn(const rd_kafka_message_t *m, void *arg) {
  chunk_arg *a = arg;
  a->records++;
  unsigned long i;
  if (m->payload && hdr_is(m, H_SNAP, "chunk") &&
      hdr_is(m, H_GROUP, a->group) && hdr_is(m, H_SNAP_ID, a->id) &&
      chunk_no(m, &i))
    add_chunk(a, i, m->payload, m->len);
}

/* Loads the snapshot whose end record is v (at offset end_off), from the
 * chunks fa kept when it saw them all, else by reading them. */
static fl_snap_result load_one(fl_reader *rd, const ls_config *cfg,
                               const char *group, int32_t p, json_t *v,
                               int64_t end_off, int64_t lo, const find_arg *fa,
                               fl_state **out, fl_snap_info *info, char *errstr,
                               size_t errlen) {
  const char *id = json_string_value(json_object_get(v, "id"));
  json_int_t first = json_integer_value(json_object_get(v, "first"));
  json_int_t chunks = json_integer_value(json_object_get(v, "chunks"));
  json_t *off = json_object_get(v, "held_offset");
  json_t *tenants = json_object_get(v, "tenants");
  if (!id || !json_is_integer(off) || chunks < 0 || chunks > 100000000 ||
      (chunks && (first < 0 || first >= end_off))) {
    snprintf(errstr, errlen, "malformed end record at %lld",
             (long long)end_off);
    return FL_SNAP_NONE;
  }
  if (chunks && first < lo) {
    snprintf(errstr, errlen,
             "snapshot at %lld: its chunks are gone (retention)",
             (long long)end_off);
    return FL_SNAP_NONE;
  }
  size_t nt = json_array_size(tenants);
  uint16_t *tmap = calloc(nt ? nt : 1, sizeof *tmap);
  uint8_t *seen = calloc(chunks ? (size_t)chunks : 1, 1);
  fl_state *s = fl_state_new();
  if (!tmap || !seen || !s) {
    free(tmap);
    free(seen);
    fl_state_free(s);
    snprintf(errstr, errlen, "out of memory");
    return FL_SNAP_ERROR;
  }
  for (size_t t = 0; t < nt; t++) {
    const char *name = json_string_value(json_array_get(tenants, t));
    tmap[t] = FL_TENANT_NONE;
    for (size_t i = 0; name && i < cfg->n_tenants && i < FL_TENANT_NONE; i++)
      if (!strcmp(cfg->tenants[i].id, name))
        tmap[t] = (uint16_t)i;
  }
  chunk_arg a = {.group = group,
                 .id = id,
                 .s = s,
                 .tmap = tmap,
                 .ntmap = nt,
                 .seen = seen,
                 .chunks = (uint32_t)chunks};
  bool ok = true;
  if (chunks && !fa->over && first >= fa->from) {
    for (size_t i = 0; i < fa->n; i++)
      if (fa->c[i].offset >= first && fa->c[i].offset < end_off &&
          !strcmp(fa->c[i].id, id))
        add_chunk(&a, fa->c[i].no, fa->c[i].data, fa->c[i].len);
  } else if (chunks) {
    ok = fl_reader_range(rd, KQ_TOPIC_FILTER_STATE, p, first, end_off, chunk_fn,
                         &a, errstr, errlen);
  }
  free(tmap);
  free(seen);
  info->records += a.records + 1;
  if (!ok) {
    fl_state_free(s);
    return FL_SNAP_ERROR;
  }
  if (a.bad || a.got != a.chunks) {
    fl_state_free(s);
    snprintf(errstr, errlen, "snapshot at %lld: %s (%u of %u chunks)",
             (long long)end_off,
             a.bad ? "a chunk is malformed or memory ran out"
                   : "chunks missing",
             a.got, a.chunks);
    return FL_SNAP_NONE;
  }
  info->held_offset = json_integer_value(off);
  info->end_offset = end_off;
  snprintf(info->id, sizeof info->id, "%s", id);
  info->chunks = a.chunks;
  info->written_us = json_integer_value(json_object_get(v, "written_at_us"));
  info->bytes = a.bytes;
  info->entries = fl_state_leads(s) + fl_state_held(s);
  *out = s;
  return FL_SNAP_LOADED;
}

fl_snap_result fl_snap_load(fl_reader *rd, const ls_config *cfg,
                            const char *group, int32_t p, fl_state **out,
                            fl_snap_info *info, char *errstr, size_t errlen) {
  *out = NULL;
  *info = (fl_snap_info){.held_offset = -1, .end_offset = -1};
  int64_t lo, hi;
  if (!fl_reader_watermarks(rd, KQ_TOPIC_FILTER_STATE, p, &lo, &hi, errstr,
                            errlen))
    return FL_SNAP_ERROR;
  if (hi <= lo) {
    snprintf(errstr, errlen, "no snapshot");
    return FL_SNAP_NONE;
  }
  /* The newest end record of the group: read backwards from the end in
   * growing windows (other groups' records and an unfinished snapshot's
   * chunks may come after it). */
  find_arg fa = {.group = group, .end_off = -1, .from = hi};
  int64_t to = hi, w = FIND_WINDOW;
  for (;;) {
    int64_t from = to - w > lo ? to - w : lo;
    if (!fl_reader_range(rd, KQ_TOPIC_FILTER_STATE, p, from, to, find_fn, &fa,
                         errstr, errlen)) {
      find_free(&fa);
      return FL_SNAP_ERROR;
    }
    fa.from = from;
    if (fa.end || from == lo)
      break;
    to = from;
    w *= 8;
  }
  info->records = fa.records;
  fa.records = 0;
  fl_snap_result res = FL_SNAP_NONE;
  snprintf(errstr, errlen, "no snapshot of group %s", group);
  for (int k = 0; fa.end && k <= MAX_FALLBACKS; k++) {
    if (k) {
      ls_warn("filter: snapshot not usable; trying the one before", "{s:i,s:s}",
              "partition", (int)p, "reason", errstr);
    }
    res = load_one(rd, cfg, group, p, fa.end, fa.end_off, lo, &fa, out, info,
                   errstr, errlen);
    if (res != FL_SNAP_NONE)
      break;
    json_int_t prev = json_integer_value(json_object_get(fa.end, "prev_end"));
    json_decref(fa.end);
    fa.end = NULL;
    fa.end_off = prev - 1;
    if (prev < lo || prev >= hi)
      break;
    if (!fl_reader_range(rd, KQ_TOPIC_FILTER_STATE, p, prev, prev + 1, find_fn,
                         &fa, errstr, errlen)) {
      res = FL_SNAP_ERROR;
      break;
    }
    info->records += fa.records;
    fa.records = 0;
  }
  find_free(&fa);
  return res;
}

/* wrk_ledger: per partition number, an open-addressing table of 16-byte
 * entries (96 bits of event id, the minute it was recorded and three
 * flags), restored from the group's records of leadsync.ledger on
 * assignment and expired after worker.dedup_window. */
#include "wrk_ledger.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_hash.h"
#include "ls_json.h"
#include "ls_log.h"
#include "ls_time.h"
#include "wrk_alloc.h"
#include "wrk_fault.h"
#include "wrk_out.h"
#include "wrk_records.h"

#define MAX_PARTS 1024
#define FLAG_BITS 3u
#define MINUTE_US 60000000LL
#define SWEEP_SLICE_US 2000 /* expiry sweep per loop turn */

/* a == 0 && b == 0 marks an empty slot. tm = minute << 3 | flags. */
typedef struct {
  uint64_t a;
  uint32_t b;
  uint32_t tm;
} slot;

typedef struct {
  slot *s;
  size_t cap, n;
} table;

enum { P_IDLE, P_RESTORING, P_READY };

typedef struct {
  table t;
  int state;
  int refs;        /* assigned topic-partitions with this number */
  bool active;     /* assigned on the ledger consumer */
  int64_t pos;     /* next offset to read */
  int64_t t0_us;   /* restore start (mono) */
  size_t restored; /* entries read in the restore */
  bool reported;   /* has metric series */
} part;

struct wrk_ledger {
  part *p;
  int32_t nparts;
  rd_kafka_t *rk; /* NULL: local */
  ls_metrics *m;
  char prefix[200]; /* "<group>:" */
  size_t plen;
  long window_s;
  /* Group-consumer partitions paused until their number is restored
   * (wrk_ledger_hold). */
  rd_kafka_topic_partition_list_t *waiting;
  int64_t next_sweep_us, next_metrics_us, assign_us, stall_until_us;
  int pending; /* partitions restoring */
  /* The expiry sweep in progress: a slice per loop turn (sweep_slice). */
  bool sweeping;
  int32_t sweep_part; /* partition being swept */
  size_t sweep_at;    /* next slot of its table */
  uint32_t sweep_min; /* entries of an earlier minute expire */
};

/* -- the table ------------------------------------------------------ */

/* Hex digit values plus one (0: not a hex digit). */
static const unsigned char HEX1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16};

/* 32 hex digits to 96 bits: the first 16 digits, and the last 16 folded
 * to 32 bits. false: not 32 hex digits. One pass, no branches per digit
 * but the validity check (a restore takes a million of these). */
static bool hex_key(const char *h, uint64_t *a, uint32_t *b) {
  uint64_t x = 0, y = 0;
  unsigned bad = 0;
  for (int i = 0; i < 16; i++) {
    unsigned v = HEX1[(unsigned char)h[i]], w = HEX1[(unsigned char)h[16 + i]];
    bad |= (v - 1) | (w - 1);
    x = (x << 4) | ((v - 1) & 15u);
    y = (y << 4) | ((w - 1) & 15u);
  }
  if (bad > 15)
    return false;
  uint32_t f = (uint32_t)y ^ (uint32_t)(y >> 32);
  if (!x && !f)
    f = 1;
  *a = x;
  *b = f;
  return true;
}

/* 96 bits of the id (event ids are 32 hex digits of a hash); anything
 * else through SHA-256 first. */
static void to_key(const char *id, uint64_t *a, uint32_t *b) {
  char hex[65];
  *a = 0;
  *b = 1;
  if (strlen(id) == 32 && hex_key(id, a, b))
    return;
  ls_sha256_hex(id, strlen(id), hex);
  hex_key(hex, a, b);
}

static size_t home(const table *t, uint64_t a, uint32_t b) {
  uint64_t h = (a ^ ((uint64_t)b << 17)) * 0x9e3779b97f4a7c15ull;
  return (size_t)(((unsigned __int128)h * t->cap) >> 64);
}

static slot *find(const table *t, uint64_t a, uint32_t b) {
  if (!t->cap)
    return NULL;
  size_t j = home(t, a, b);
  for (;;) {
    slot *s = &t->s[j];
    if (!s->a && !s->b)
      return NULL;
    if (s->a == a && s->b == b)
      return s;
    if (++j == t->cap)
      j = 0;
  }
}

static void put_new(table *t, slot v) {
  size_t j = home(t, v.a, v.b);
  while (t->s[j].a || t->s[j].b)
    if (++j == t->cap)
      j = 0;
  t->s[j] = v;
  t->n++;
}

/* Rebuilds with room for want entries at about 60 % load, keeping the
 * entries recorded at or after min_minute. */
static bool rebuild(table *t, size_t want, uint32_t min_minute) {
  size_t ncap = want < 64 ? 128 : want + want * 2 / 3;
  slot *ns = calloc(ncap, sizeof *ns);
  if (!ns)
    return false;
  table nt = {ns, ncap, 0};
  for (size_t i = 0; i < t->cap; i++) {
    slot v = t->s[i];
    if ((v.a || v.b) && (v.tm >> FLAG_BITS) >= min_minute)
      put_new(&nt, v);
  }
  free(t->s);
  *t = nt;
  return true;
}

/* Grows by half at 80 % load: 20 to 30 bytes per entry. One probe
 * sequence finds the entry or the free slot it goes into. */
static bool tab_add(table *t, uint64_t a, uint32_t b, uint32_t minute,
                    unsigned flags) {
  if ((t->n + 1) * 5 > t->cap * 4 && !rebuild(t, t->n + t->n / 2 + 1, 0)) {
    slot *s = find(t, a, b); /* full and no memory: update only */
    if (s)
      s->tm = (minute << FLAG_BITS) | ((s->tm | flags) & 7u);
    return s != NULL;
  }
  size_t j = home(t, a, b);
  for (;;) {
    slot *s = &t->s[j];
    if (!s->a && !s->b) {
      *s = (slot){a, b, (minute << FLAG_BITS) | (flags & 7u)};
      t->n++;
      return true;
    }
    if (s->a == a && s->b == b) {
      s->tm = (minute << FLAG_BITS) | ((s->tm | flags) & 7u);
      return true;
    }
    if (++j == t->cap)
      j = 0;
  }
}

/* Empties slot i, moving later entries of its probe run back so every
 * entry stays reachable from its home (no tombstones). */
static void tab_del(table *t, size_t i) {
  size_t j = i;
  for (;;) {
    t->s[i] = (slot){0, 0, 0};
    for (;;) {
      if (++j == t->cap)
        j = 0;
      const slot *v = &t->s[j];
      if (!v->a && !v->b) {
        t->n--;
        return;
      }
      size_t h = home(t, v->a, v->b);
      /* The entry may fill the hole unless its home lies in (i, j]. */
      if (i <= j ? (h <= i || h > j) : (h <= i && h > j))
        break;
    }
    t->s[i] = t->s[j];
    i = j;
  }
}

static void tab_free(table *t) {
  free(t->s);
  t->s = NULL;
  t->cap = t->n = 0;
}

static uint32_t minute_of_us(int64_t wall_us) {
  return wall_us > 0 ? (uint32_t)(wall_us / MINUTE_US) : 0;
}

/* -- metrics -------------------------------------------------------- */

#define M_ENTRIES "leadsync_worker_state_entries"
#define M_BYTES "leadsync_worker_state_bytes"
#define M_RESTORE "leadsync_worker_state_restore_seconds"
#define M_RESTORING "leadsync_worker_state_restoring_partitions"
#define M_SKIPPED "leadsync_worker_dedup_skipped_total"
#define M_SUSPECT "leadsync_worker_suspect_searches_total"

static const double restore_le[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,
                                    2.5,  5,    10,  30,   60,  300};
static const ls_buckets restore_buckets = {
    restore_le, sizeof restore_le / sizeof restore_le[0]};

void wrk_ledger_declare(ls_metrics *m) {
  if (!m)
    return;
  ls_metrics_declare(m, LS_GAUGE, M_ENTRIES,
                     "De-duplication state entries (events within "
                     "worker.dedup_window) per assigned partition",
                     NULL);
  ls_metrics_declare(m, LS_GAUGE, M_BYTES,
                     "Bytes of the de-duplication state table per assigned "
                     "partition",
                     NULL);
  ls_metrics_declare(m, LS_HISTOGRAM, M_RESTORE,
                     "Time to restore a partition's state from "
                     "leadsync.ledger after its assignment",
                     &restore_buckets);
  ls_metrics_declare(m, LS_GAUGE, M_RESTORING,
                     "Assigned partitions whose state is still restoring "
                     "(their records held back until restored)",
                     NULL);
  ls_metrics_declare(m, LS_COUNTER, M_SKIPPED,
                     "Duplicates skipped, by cause: state (the ledger), "
                     "in_flush (a copy in the same flush), search (found in "
                     "HubSpot by leadsync_event_id)",
                     NULL);
  ls_metrics_declare(m, LS_COUNTER, M_SUSPECT,
                     "Events searched by leadsync_event_id before a create, "
                     "by cause: intent (a create may have applied), window "
                     "(received before worker.dedup_window)",
                     NULL);
}

void wrk_ledger_count_skip(wrk_ledger *l, const char *cause) {
  char lab[64];
  if (!l || !l->m)
    return;
  snprintf(lab, sizeof lab, "cause=\"%s\"", cause);
  ls_metrics_inc(l->m, M_SKIPPED, NULL, lab, 1);
}

static void part_metrics(wrk_ledger *l, int32_t p, bool drop) {
  char lab[32];
  if (!l->m)
    return;
  snprintf(lab, sizeof lab, "partition=\"%d\"", (int)p);
  if (drop) {
    if (l->p[p].reported) {
      ls_metrics_remove(l->m, M_ENTRIES, lab);
      ls_metrics_remove(l->m, M_BYTES, lab);
      l->p[p].reported = false;
    }
    return;
  }
  ls_metrics_set(l->m, M_ENTRIES, NULL, lab, (double)l->p[p].t.n);
  ls_metrics_set(l->m, M_BYTES, NULL, lab,
                 (double)(l->p[p].t.cap * sizeof(slot)));
  l->p[p].reported = true;
}

const char **wrk_ledger_prefetch_props(const ls_config *cfg, const char **out,
                                       size_t n) {
  static const char *const props[][2] = {
      /* librdkafka's defaults: 100,000 records and 64 MiB per partition
       * ahead of a worker that takes ~1,000 a flush. */
      {"queued.min.messages", "1000"},
      {"queued.max.messages.kbytes", "2048"},
      {"fetch.max.bytes", "4194304"},
      {"fetch.message.max.bytes", "262144"},
      /* A partition at its bound waits this long before its next fetch
       * (librdkafka treats it as a fetch error: 500 ms by default, which
       * starves small queues). */
      {"fetch.error.backoff.ms", "20"},
      /* A fetch waiting on quiet partitions holds back the refill of the
       * busy ones until it returns: 500 ms by default. */
      {"fetch.wait.max.ms", "50"}};
  size_t k = 0;
  for (size_t i = 0; i < sizeof props / sizeof props[0] && k + 3 <= n; i++)
    if (!json_object_get(cfg->kafka_props, props[i][0])) {
      out[k++] = props[i][0];
      out[k++] = props[i][1];
    }
  out[k] = NULL;
  return out;
}

/* -- construction --------------------------------------------------- */

static wrk_ledger *alloc_ledger(int32_t nparts, long window_s) {
  wrk_ledger *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->nparts = nparts;
  l->window_s = window_s > 0 ? window_s : WRK_DEDUP_WINDOW_S;
  l->p = calloc((size_t)nparts, sizeof *l->p);
  l->waiting = rd_kafka_topic_partition_list_new(16);
  if (!l->p || !l->waiting) {
    wrk_ledger_free(l);
    return NULL;
  }
  return l;
}

wrk_ledger *wrk_ledger_new_local(void) {
  wrk_ledger *l = alloc_ledger(MAX_PARTS, WRK_DEDUP_WINDOW_S);
  for (int32_t p = 0; l && p < l->nparts; p++)
    l->p[p].state = P_READY;
  return l;
}

wrk_ledger *wrk_ledger_new(const ls_config *cfg, const char *group,
                           long window_s, ls_metrics *metrics, char *errstr,
                           size_t errlen) {
  wrk_ledger *l = NULL;
  const struct rd_kafka_metadata *md = NULL;
  char gid[220];
  /* Group-less: partitions are assigned by hand, a few restoring at once
   * (start_restores); end of partition events end a restore. */
  static const char *const props[] = {
      "enable.partition.eof", "true", "auto.offset.reset", "earliest",
      "queued.min.messages", "20000", "queued.max.messages.kbytes", "2048",
      "fetch.message.max.bytes", "1048576", "fetch.wait.max.ms", "25",
      /* The queue bound is the consumer's
       * whole queue; at it, librdkafka
       * backs every partition off this
       * long (500 ms by default). */
      "fetch.error.backoff.ms", "10", NULL};
  snprintf(gid, sizeof gid, "leadsync-%s-ledger", group);
  kq_consumer_opts o = {.kind = KQ_READER, .group_id = gid, .props = props};
  rd_kafka_t *rk = kq_consumer_new(cfg, &o, errstr, errlen);
  if (!rk)
    return NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, KQ_TOPIC_LEDGER, NULL);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int tries = 0; tries < 50; tries++) {
    err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
        md->topics[0].partition_cnt > 0)
      break;
    if (md) {
      rd_kafka_metadata_destroy(md);
      md = NULL;
    }
  }
  rd_kafka_topic_destroy(rkt);
  if (!md) {
    snprintf(errstr, errlen, "ledger topic %s: no metadata (%s)",
             KQ_TOPIC_LEDGER, rd_kafka_err2str(err));
    goto fail;
  }
  int32_t n = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  if (n > MAX_PARTS)
    n = MAX_PARTS;
  l = alloc_ledger(n, window_s);
  if (!l) {
    snprintf(errstr, errlen, "out of memory");
    goto fail;
  }
  l->rk = rk;
  l->m = metrics;
  snprintf(l->prefix, sizeof l->prefix, "%s:", group);
  l->plen = strlen(l->prefix);
  return l;
fail:
  rd_kafka_destroy(rk);
  return NULL;
}

void wrk_ledger_free(wrk_ledger *l) {
  if (!l)
    return;
  if (l->rk) {
    rd_kafka_consumer_close(l->rk);
    rd_kafka_destroy(l->rk);
  }
  for (int32_t p = 0; l->p && p < l->nparts; p++)
    tab_free(&l->p[p].t);
  free(l->p);
  if (l->waiting)
    rd_kafka_topic_partition_list_destroy(l->waiting);
  free(l);
}

/* -- lookups -------------------------------------------------------- */

static table *tab_of(const wrk_ledger *l, int32_t partition) {
  if (partition < 0 || partition >= l->nparts)
    partition = 0; /* cannot happen with co-partitioned topics */
  return &l->p[partition].t;
}

unsigned wrk_ledger_seen(const wrk_ledger *l, int32_t partition,
                         const char *event_id) {
  uint64_t a;
  uint32_t b;
  to_key(event_id, &a, &b);
  const slot *s = find(tab_of(l, partition), a, b);
  if (!s)
    return 0;
  /* An entry past the window that was not swept yet means nothing more
   * than a missing one would: keep using it (a duplicate avoided). */
  return s->tm & 7u;
}

void wrk_ledger_record(wrk_ledger *l, int32_t partition, const char *event_id,
                       unsigned flags) {
  wrk_ledger_record_at(l, partition, event_id, flags, ls_now_us());
}

void wrk_ledger_record_at(wrk_ledger *l, int32_t partition,
                          const char *event_id, unsigned flags,
                          int64_t wall_us) {
  uint64_t a;
  uint32_t b;
  to_key(event_id, &a, &b);
  if (!tab_add(tab_of(l, partition), a, b, minute_of_us(wall_us), flags))
    ls_warn("ledger state: out of memory (the event is searched if it "
            "comes back)",
            NULL);
}

bool wrk_ledger_beyond_window(const wrk_ledger *l, int64_t received_us) {
  return received_us > 0 &&
         received_us < ls_now_us() - (int64_t)l->window_s * 1000000;
}

size_t wrk_ledger_size(const wrk_ledger *l) {
  size_t n = 0;
  for (int32_t p = 0; p < l->nparts; p++)
    n += l->p[p].t.n;
  return n;
}

bool wrk_ledger_restored(const wrk_ledger *l, int32_t partition) {
  return partition >= 0 && partition < l->nparts &&
         l->p[partition].state == P_READY;
}

int wrk_ledger_restoring(const wrk_ledger *l) {
  return l->pending;
}

/* -- assignment ----------------------------------------------------- */

static void ledger_assign(wrk_ledger *l, int32_t p) {
  rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(tp, KQ_TOPIC_LEDGER, p)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_error_t *err = rd_kafka_incremental_assign(l->rk, tp);
  if (err) {
    ls_error("ledger partition not assigned", "{s:i,s:s}", "partition", (int)p,
             "error", rd_kafka_error_string(err));
    rd_kafka_error_destroy(err);
  }
  rd_kafka_topic_partition_list_destroy(tp);
}

static void ledger_unassign(wrk_ledger *l, int32_t p) {
  rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(tp, KQ_TOPIC_LEDGER, p);
  rd_kafka_error_t *err = rd_kafka_incremental_unassign(l->rk, tp);
  if (err) {
    ls_warn("ledger partition not unassigned", "{s:i,s:s}", "partition", (int)p,
            "error", rd_kafka_error_string(err));
    rd_kafka_error_destroy(err);
  }
  rd_kafka_topic_partition_list_destroy(tp);
}

void wrk_ledger_assign(wrk_ledger *l,
                       const rd_kafka_topic_partition_list_t *parts) {
  if (!l->pending)
    l->assign_us = ls_mono_us();
  for (int i = 0; i < parts->cnt; i++) {
    int32_t p = parts->elems[i].partition;
    if (p < 0 || p >= l->nparts) {
      /* Its ledger records cannot be written (no such partition): its
       * events fail their outputs and stay in Kafka until the topic has
       * as many partitions as the sources (docs/kafka-contract.md). */
      ls_error("no ledger partition for an assigned partition", "{s:s,s:i,s:i}",
               "topic", parts->elems[i].topic, "partition", (int)p,
               "ledger_partitions", (int)l->nparts);
      continue;
    }
    part *pp = &l->p[p];
    pp->refs++;
    if (pp->state == P_READY)
      continue;
    if (pp->state == P_IDLE) {
      /* Started by wrk_ledger_poll, a few at a time. */
      pp->state = P_RESTORING;
      pp->pos = 0;
      pp->restored = 0;
      pp->t0_us = ls_mono_us();
      l->pending++;
    }
  }
  if (l->m)
    ls_metrics_set(l->m, M_RESTORING, NULL, NULL, l->pending);
}

wrk_hold wrk_ledger_hold(wrk_ledger *l, rd_kafka_t *consumer, const char *topic,
                         int32_t p, int64_t offset) {
  if (!consumer || p < 0 || p >= l->nparts)
    return WRK_HOLD_FAILED;
  rd_kafka_topic_partition_t *h =
      rd_kafka_topic_partition_list_find(l->waiting, topic, p);
  if (h) {
    /* Never set forward: what lies between would be skipped. */
    if (h->offset <= offset)
      return WRK_HOLD_ALREADY;
    h->offset = offset;
    return WRK_HOLD_SET_BACK;
  }
  rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(one, topic, p);
  rd_kafka_resp_err_t err = rd_kafka_pause_partitions(consumer, one);
  if (!err)
    err = one->elems[0].err;
  rd_kafka_topic_partition_list_destroy(one);
  if (err) {
    ls_warn("cannot pause a partition while its state restores",
            "{s:s,s:i,s:s}", "topic", topic, "partition", (int)p, "error",
            rd_kafka_err2str(err));
    return WRK_HOLD_FAILED;
  }
  rd_kafka_topic_partition_list_add(l->waiting, topic, p)->offset = offset;
  ls_info("partition held until its state is restored", "{s:s,s:i}", "topic",
          topic, "partition", (int)p);
  return WRK_HOLD_SET_BACK;
}

/* Resumes the held partitions of number p (p >= 0), else those in parts
 * (NULL: all), and forgets them. */
static void resume_waiting(wrk_ledger *l, rd_kafka_t *consumer,
                           const rd_kafka_topic_partition_list_t *parts,
                           int32_t p, const char *failed) {
  rd_kafka_topic_partition_list_t *r = rd_kafka_topic_partition_list_new(4);
  for (int i = 0; i < l->waiting->cnt;) {
    const rd_kafka_topic_partition_t *tp = &l->waiting->elems[i];
    if (p >= 0 ? tp->partition == p
               : !parts || rd_kafka_topic_partition_list_find(parts, tp->topic,
                                                              tp->partition)) {
      rd_kafka_topic_partition_list_add(r, tp->topic, tp->partition);
      rd_kafka_topic_partition_list_del_by_idx(l->waiting, i);
    } else {
      i++;
    }
  }
  if (r->cnt && consumer) {
    rd_kafka_resp_err_t err = rd_kafka_resume_partitions(consumer, r);
    if (err)
      ls_error(failed, "{s:s}", "error", rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(r);
}

void wrk_ledger_release(wrk_ledger *l, rd_kafka_t *consumer,
                        const rd_kafka_topic_partition_list_t *parts) {
  resume_waiting(l, consumer, parts, -1, "cannot resume revoked partitions");
}

/* Drops partition number p's state (no assigned topic has it any more). */
static void drop_part(wrk_ledger *l, int32_t p) {
  part *pp = &l->p[p];
  if (pp->state == P_RESTORING)
    l->pending--;
  if (pp->active)
    ledger_unassign(l, p);
  pp->active = false;
  pp->refs = 0;
  pp->state = P_IDLE;
  tab_free(&pp->t);
  part_metrics(l, p, true);
}

void wrk_ledger_revoke(wrk_ledger *l,
                       const rd_kafka_topic_partition_list_t *parts) {
  if (!l->rk)
    return; /* local tables (tests): nothing is restored again */
  if (!parts) {
    /* Every partition (an eager revoke, or a lost assignment). */
    for (int32_t p = 0; p < l->nparts; p++)
      if (l->p[p].state != P_IDLE)
        drop_part(l, p);
  }
  for (int i = 0; parts && i < parts->cnt; i++) {
    int32_t p = parts->elems[i].partition;
    if (p < 0 || p >= l->nparts)
      continue;
    part *pp = &l->p[p];
    if (pp->refs > 0)
      pp->refs--;
    if (!pp->refs && pp->state != P_IDLE)
      drop_part(l, p);
  }
  if (l->m)
    ls_metrics_set(l->m, M_RESTORING, NULL, NULL, l->pending);
}

/* -- restore and tail ----------------------------------------------- */

static void take(wrk_ledger *l, const rd_kafka_message_t *m, int64_t min_ms) {
  part *pp = &l->p[m->partition];
  if (m->key_len != l->plen + 32 || memcmp(m->key, l->prefix, l->plen))
    return; /* another group's record, or the layout before issue 14 */
  rd_kafka_timestamp_type_t tt;
  int64_t ts = rd_kafka_message_timestamp(m, &tt);
  if (ts > 0 && ts < min_ms)
    return; /* beyond the window: as if retention had removed it */
  char st[16];
  uint64_t a;
  uint32_t b;
  if (!hex_key((const char *)m->key + l->plen, &a, &b)) {
    char id[33]; /* not hex: hashed, as wrk_ledger_record does */
    memcpy(id, (const char *)m->key + l->plen, 32);
    id[32] = '\0';
    to_key(id, &a, &b);
  }
  kq_header(m, "ls_state", st, sizeof st);
  unsigned flags = !strcmp(st, "intent") ? WRK_SEEN_INTENT : WRK_SEEN_SYNCED;
  if (!tab_add(&pp->t, a, b, minute_of_us(ts > 0 ? ts * 1000 : ls_now_us()),
               flags))
    ls_warn("ledger state: out of memory in a restore", NULL);
  else if (pp->state == P_RESTORING)
    pp->restored++;
}

static void restored(wrk_ledger *l, rd_kafka_t *consumer, int32_t p) {
  part *pp = &l->p[p];
  if (pp->state != P_RESTORING)
    return;
  pp->state = P_READY;
  l->pending--;
  double secs = (double)(ls_mono_us() - pp->t0_us) / 1e6;
  resume_waiting(l, consumer, NULL, p, "cannot resume restored partitions");
  part_metrics(l, p, false);
  if (l->m) {
    ls_metrics_observe(l->m, M_RESTORE, NULL, NULL, secs);
    ls_metrics_set(l->m, M_RESTORING, NULL, NULL, l->pending);
  }
  ls_info("ledger restored", "{s:i,s:i,s:i,s:i,s:i}", "partition", (int)p,
          "entries", (int)pp->t.n, "ms", (int)(secs * 1000), "pending",
          l->pending, "assign_ms", (int)((ls_mono_us() - l->assign_us) / 1000));
  /* The restore's fetch buffers are freed now; give the pages back, or
   * the peak stays resident. */
  if (!l->pending)
    wrk_alloc_release();
}

/* At most this many partitions restore at once: a fetch response holds
 * a batch (or up to fetch.message.max.bytes) of each, so the buffers in
 * flight stay bounded whatever the number of assigned partitions (the
 * queue bound is the consumer's whole queue). 32 at once was 1.5-2x
 * slower than 8 on the dev broker (docs/bench.md 9a). */
#define MAX_ACTIVE_RESTORES 8

static void start_restores(wrk_ledger *l) {
  int active = 0;
  for (int32_t p = 0; p < l->nparts; p++)
    active += l->p[p].state == P_RESTORING && l->p[p].active;
  for (int32_t p = 0; p < l->nparts && active < MAX_ACTIVE_RESTORES; p++) {
    part *pp = &l->p[p];
    if (pp->state != P_RESTORING || pp->active)
      continue;
    pp->active = true;
    pp->t0_us = ls_mono_us();
    ledger_assign(l, p);
    active++;
  }
}

/* The expiry sweep, a bounded slice at a time: until until_us (mono; 0:
 * the whole round), deleting in place the
 * entries of the round's expired minutes. A table that grows during the
 * round keeps what it has not been swept for the next round (a lookup
 * treats an expired entry as any other: a duplicate avoided). true: the
 * round is done. */
static bool sweep_slice(wrk_ledger *l, int64_t until_us) {
  size_t looked = 0;
  while (l->sweep_part < l->nparts) {
    table *t = &l->p[l->sweep_part].t;
    while (l->sweep_at < t->cap) {
      if (until_us && !(++looked & 4095) && ls_mono_us() >= until_us)
        return false;
      const slot *v = &t->s[l->sweep_at];
      if ((v->a || v->b) && (v->tm >> FLAG_BITS) < l->sweep_min)
        tab_del(t, l->sweep_at); /* a later entry may move here */
      else
        l->sweep_at++;
    }
    /* Give the memory of expired entries back once the table is less
     * than 30 % full: one table rebuilt, to about 60 %. */
    if (t->cap > 128 && t->n * 10 < t->cap * 3 &&
        !rebuild(t, t->n, l->sweep_min))
      ls_warn("ledger state: out of memory shrinking a table", NULL);
    l->sweep_part++;
    l->sweep_at = 0;
  }
  l->sweeping = false;
  return true;
}

static void sweep_start(wrk_ledger *l, int64_t now_us) {
  l->sweeping = true;
  l->sweep_part = 0;
  l->sweep_at = 0;
  l->sweep_min = minute_of_us(now_us - (int64_t)l->window_s * 1000000);
}

bool wrk_ledger_sweep_step(wrk_ledger *l, int64_t now_us, long budget_us) {
  if (!l->sweeping)
    sweep_start(l, now_us);
  return sweep_slice(l, budget_us > 0 ? ls_mono_us() + budget_us : 0);
}

static void take_msg(wrk_ledger *l, rd_kafka_t *consumer,
                     const rd_kafka_message_t *m, int64_t min_ms) {
  int32_t p = m->partition;
  if (p < 0 || p >= l->nparts || l->p[p].state == P_IDLE)
    return;
  part *pp = &l->p[p];
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    /* The end of the partition as it was when read: restored. Records
     * written later (a previous owner's last ones) follow as the tail. */
    if (pp->state == P_RESTORING)
      restored(l, consumer, p);
  } else if (!m->err) {
    take(l, m, min_ms);
    pp->pos = m->offset + 1;
  } else {
    ls_warn("ledger read error", "{s:i,s:s}", "partition", (int)p, "error",
            rd_kafka_message_errstr(m));
  }
}

void wrk_ledger_poll(wrk_ledger *l, rd_kafka_t *consumer) {
  int64_t now = ls_mono_us();
  /* Test seam: a restore held back N times 100 ms (tests kill or
   * rebalance a worker while it restores). */
  bool stall = l->pending && now < l->stall_until_us;
  if (l->pending && !stall && wrk_fault("restore_stall")) {
    l->stall_until_us = now + 100000;
    stall = true;
  }
  if (l->rk && !stall) {
    if (l->pending)
      start_restores(l);
    int64_t min_ms = (ls_now_us() - (int64_t)l->window_s * 1000000) / 1000;
    /* A restore gets a bounded slice of each loop turn, so the other
     * partitions go on; the tail (records of the previous owner arriving
     * late) a small one. */
    int64_t until = now + (l->pending ? 50000 : 2000);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(l->rk);
    rd_kafka_message_t *batch[512];
    while (q && ls_mono_us() < until) {
      ssize_t n =
          rd_kafka_consume_batch_queue(q, l->pending ? 5 : 0, batch, 512);
      if (n <= 0)
        break;
      for (ssize_t i = 0; i < n; i++) {
        take_msg(l, consumer, batch[i], min_ms);
        rd_kafka_message_destroy(batch[i]);
      }
      if (l->pending)
        start_restores(l);
    }
    if (q)
      rd_kafka_queue_destroy(q);
  }
  /* Expiry: a round every minute, about 2 ms of it per loop turn (a
   * whole round at once stalled the loop 150 ms at 1M entries). */
  if (!l->sweeping && now >= l->next_sweep_us) {
    if (l->next_sweep_us)
      sweep_start(l, ls_now_us());
    l->next_sweep_us = now + 60 * 1000000LL;
  }
  if (l->sweeping)
    sweep_slice(l, ls_mono_us() + SWEEP_SLICE_US);
  if (l->m && now >= l->next_metrics_us) {
    for (int32_t p = 0; p < l->nparts; p++)
      if (l->p[p].state == P_READY && (l->p[p].refs || l->p[p].t.n))
        part_metrics(l, p, false);
    l->next_metrics_us = now + 5 * 1000000LL;
  }
}

/* -- records -------------------------------------------------------- */

static void produce(wrk *w, struct wrk_out *o, wrk_event *e, json_t *j,
                    const char *state) {
  size_t n = 0;
  char *s = ls_json_dumps(j, &n);
  json_decref(j);
  if (!s) {
    wrk_out_fail(o, "out of memory serialising a record");
    return;
  }
  char key[sizeof w->s.group_id + 48];
  int kl = snprintf(key, sizeof key, "%s:%s", w->s.group, e->ev.event_id);
  rd_kafka_headers_t *h = rd_kafka_headers_new(1);
  rd_kafka_header_add(h, "ls_state", -1, state, -1);
  wrk_out_produce_to(o, KQ_TOPIC_LEDGER, e->msg ? e->msg->partition : 0, key,
                     (size_t)kl, s, n, h);
  free(s);
}

void wrk_ledger_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  produce(w, o, e, wrk_ledger_json(e), "synced");
}

void wrk_intent_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  const char *tenant = e->tenant ? e->tenant->id : NULL;
  json_t *j =
      json_pack("{s:s,s:o,s:s,s:s,s:o,s:[],s:s}", "event_id", e->ev.event_id,
                "tenant", tenant ? json_string(tenant) : json_null(),
                "event_type", e->ev.type_name, "state", "intent", "contact_id",
                e->contact_id[0] ? json_string(e->contact_id) : json_null(),
                "objects", "at", now);
  produce(w, o, e, j, "intent");
}

/* wrk_batch: intake (parse, identify, de-duplicate, filter, map) and the
 * flush: sync -> outputs queued -> outputs acknowledged -> the plan of
 * offsets to store (the loop stores them; docs/worker.md "One cycle"). */
#include "wrk_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_array.h"
#include "ls_json.h"
#include "ls_log.h"
#include "ls_mask.h"
#include "ls_time.h"
#include "wrk.h"
#include "wrk_poison.h"
#include "wrk_sync.h"
#include "wrk_fault.h"
#include "wrk_consumer.h"
#include "wrk_filter.h"
#include "wrk_ledger.h"
#include "wrk_obs.h"
#include "wrk_out.h"
#include "wrk_records.h"

struct wrk_batch {
  wrk *w;
  wrk_event **evs;
  size_t n, cap;
  size_t *per_tenant; /* events waiting for HubSpot, per tenant */
  size_t waiting_max;
  size_t tenants;   /* tenants with events waiting */
  int64_t first_us; /* mono time of the oldest event */
  int64_t last_us;  /* mono time of the newest event */
  int64_t idle_us;  /* mono time the last flush ended */
  json_t *ids;      /* event ids in this batch: copies are duplicates */
};

wrk_batch *wrk_batch_new(wrk *w) {
  wrk_batch *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->w = w;
  b->per_tenant = calloc(w->cfg->n_tenants + 1, sizeof *b->per_tenant);
  b->ids = json_object();
  if (!b->per_tenant || !b->ids) {
    free(b->per_tenant);
    json_decref(b->ids);
    free(b);
    return NULL;
  }
  return b;
}

static void reset(wrk_batch *b) {
  if (b->w->out)
    wrk_out_disown(b->w->out); /* outputs still queued outlive events */
  for (size_t i = 0; i < b->n; i++)
    wrk_event_free(b->evs[i]);
  b->n = 0;
  b->waiting_max = 0;
  b->tenants = 0;
  json_object_clear(b->ids);
  memset(b->per_tenant, 0, (b->w->cfg->n_tenants + 1) * sizeof *b->per_tenant);
}

void wrk_batch_free(wrk_batch *b) {
  if (!b)
    return;
  reset(b);
  free(b->evs);
  free(b->per_tenant);
  json_decref(b->ids);
  free(b);
}

size_t wrk_batch_len(const wrk_batch *b) {
  return b->n;
}

wrk_event *wrk_batch_event(const wrk_batch *b, size_t i) {
  return i < b->n ? b->evs[i] : NULL;
}

/* A record that could not be taken in (out of memory): nothing at or
 * after its offset in its partition is stored until the partition was
 * read again from it (plan marks it unfinished at once). */
static void block(wrk_batch *b, const rd_kafka_message_t *m, const char *why,
                  wrk_plan *plan) {
  wrk_pos pos;
  wrk_pos_of(&pos, m);
  wrk_poison_note(b->w->poison, &pos, why, false);
  ls_error("record not handled; its partition stops here until it is read "
           "again",
           "{s:s,s:s,s:i,s:I}", "why", why, "topic", pos.topic, "partition",
           (int)pos.partition, "offset", (json_int_t)pos.offset);
  wrk_plan_unfinished(plan, &pos, -1, 0);
}

/* The partition number whose state holds the event (events built by
 * tests without a record: 0). */
static int32_t part_of(const wrk_event *e) {
  return e->has_pos ? e->pos.partition : 0;
}

static bool is_hex32(const char *s) {
  if (strlen(s) != 32)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

static void count_event(wrk *w, const char *name, const char *help,
                        const wrk_event *e) {
  char lab[160];
  snprintf(lab, sizeof lab, "event_type=\"%s\",tenant=\"%s\"",
           e->ev.type_name[0] ? e->ev.type_name : "UNKNOWN",
           e->tenant ? e->tenant->id : "-");
  ls_metrics_inc(w->metrics, name, help, lab, 1);
}

/* Suspect: an intent without a final record, or an event first received
 * before worker.dedup_window (a late replay): the state may not know it,
 * so the leadsync_event_id search decides before any create. */
static void check_suspect(wrk *w, wrk_event *e) {
  if (e->map.eng == HS_ENG_NONE)
    return;
  unsigned seen = wrk_ledger_seen(w->ledger, part_of(e), e->ev.event_id);
  const char *cause = (seen & WRK_SEEN_INTENT) ? "intent"
                      : wrk_ledger_beyond_window(w->ledger, e->received_us)
                          ? "window"
                          : NULL;
  if (!cause)
    return;
  char lab[32];
  e->suspect = true;
  /* An intent may be a create made moments ago (an output refused, the
   * process killed): HubSpot's search shows it only after its index lag,
   * so the search waits search_settle_ms from now, which is at least that
   * long after any such create. */
  if (seen & WRK_SEEN_INTENT)
    e->search_from = ls_mono_us() + w->s.search_settle_ms * 1000;
  snprintf(lab, sizeof lab, "cause=\"%s\"", cause);
  ls_metrics_inc(w->metrics, "leadsync_worker_suspect_searches_total", NULL,
                 lab, 1);
}

/* The end of intake for an event that is mapped: nothing to write, a copy
 * of an event already waiting, or waiting for HubSpot. */
static void intake_mapped(wrk_batch *b, wrk_event *e) {
  wrk *w = b->w;
  if (!e->map.contact) {
    e->outcome = WRK_FILTERED;
    snprintf(e->reason, sizeof e->reason, "%s",
             e->map.filtered ? e->map.filtered : "no_hubspot_write");
    return;
  }
  /* An intent without a final ledger record: a previous run (or the
   * previous owner of the partition) may have created the engagement and
   * stopped before recording it. Search before creating. */
  /* Another copy of the event is already waiting for HubSpot in this batch
   * (a retried or replayed webhook): that copy decides, this one is a
   * duplicate. Only copies on the sync path count: a copy forwarded to
   * the filter and the copy the filter passed back are different steps.
   * Before this check, copies went into one create call with the same
   * objectWriteTraceId and each made an object (issue 12). */
  if (json_object_get(b->ids, e->ev.event_id)) {
    e->outcome = WRK_DUPLICATE;
    snprintf(e->reason, sizeof e->reason, "in_batch");
    wrk_ledger_count_skip(w->ledger, "in_flush");
    return;
  }
  json_object_set_new(b->ids, e->ev.event_id, json_true());
  check_suspect(w, e);
  e->outcome = WRK_PENDING;
}

/* An operator's replay (header ls_replay): synced again on purpose. */
static bool is_replay(const rd_kafka_message_t *m) {
  char hv[8];
  return m && kq_header(m, "ls_replay", hv, sizeof hv)[0] != '\0';
}

/* Tenant, receive time, body, event id and key of a consumed record;
 * false when it got its final outcome here (DLQ: not an event, unknown
 * tenant, or a poison record). *replay: an operator's replay. */
static bool identify(wrk_batch *b, wrk_event *e, bool *replay) {
  wrk *w = b->w;
  const rd_kafka_message_t *m = e->msg;
  char tenant_id[LS_TENANT_MAX + 1], hv[128], err[LS_ERRSTR_SIZE];
  kq_header(m, "ce_tenant", tenant_id, sizeof tenant_id);
  if (!tenant_id[0] && m->key) {
    size_t k = 0;
    const char *key = m->key;
    while (k < m->key_len && k < LS_TENANT_MAX && key[k] != ':')
      k++;
    memcpy(tenant_id, key, k);
    tenant_id[k] = '\0';
  }
  e->tenant = ls_config_tenant(w->cfg, tenant_id);
  kq_header(m, "ls_received_at", hv, sizeof hv);
  if (!hv[0] || !ls_time_parse(hv, &e->received_us)) {
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    e->received_us = ts > 0 ? ts * 1000 : 0;
  }
  e->root = m->payload ? ls_json_loadb(m->payload, m->len) : NULL;
  if (!json_is_object(e->root) ||
      ls_event_identify(e->root, m->payload, m->len,
                        tenant_id[0] ? tenant_id : "-", w->cfg->topic_prefix,
                        &e->ev) != LS_OK) {
    snprintf(e->ev.event_id, sizeof e->ev.event_id, "%s",
             kq_header(m, "ce_id", hv, sizeof hv));
    wrk_event_fail(e, WRK_DLQ_MAPPING, 0, "BAD_RECORD",
                   "record body is not a Smartlead event (JSON object with "
                   "event_type)");
    return false;
  }
  kq_header(m, "ce_id", hv, sizeof hv);
  if (is_hex32(hv))
    memcpy(e->ev.event_id, hv, 33);
  if (m->key && m->key_len > 0 && m->key_len < sizeof e->ev.key) {
    memcpy(e->ev.key, m->key, m->key_len);
    e->ev.key[m->key_len] = '\0';
  }
  /* Failed on every read so far (its outputs refused, out of memory):
   * to the DLQ, so the partition moves on. */
  if (wrk_poison_check(w->poison, w->s.poison_after, e))
    return false;
  if (!e->tenant) {
    snprintf(err, sizeof err, "unknown tenant \"%s\"", tenant_id);
    wrk_event_fail(e, WRK_DLQ_MAPPING, 0, "UNKNOWN_TENANT", err);
    return false;
  }
  *replay = is_replay(m);
  return true;
}

/* Already synced (ledger), or already final in this process unless an
 * operator replays it on purpose: a duplicate. */
static bool already_final(wrk_batch *b, wrk_event *e, bool replay) {
  wrk *w = b->w;
  unsigned seen = wrk_ledger_seen(w->ledger, part_of(e), e->ev.event_id);
  if (!(seen & WRK_SEEN_SYNCED) && (replay || !(seen & WRK_SEEN_DONE)))
    return false;
  e->outcome = WRK_DUPLICATE;
  snprintf(e->reason, sizeof e->reason, "in_ledger");
  wrk_ledger_count_skip(w->ledger, "state");
  return true;
}

/* The tenant's category filter: false when it held or filtered e. */
static bool filter_passes(wrk_batch *b, wrk_event *e) {
  wrk *w = b->w;
  char reason[64] = "";
  /* A hold forwards the record: that output is the event's. */
  wrk_out_owner_set(w->out, &e->out);
  wrk_verdict v = wrk_filter_decide(w->filter, e->tenant, &e->ev, e->root,
                                    e->msg, reason, sizeof reason);
  wrk_out_owner_set(w->out, NULL);
  if (v == WRK_VERDICT_SYNC)
    return true;
  e->outcome = v == WRK_VERDICT_HELD ? WRK_HELD : WRK_FILTERED;
  snprintf(e->reason, sizeof e->reason, "%s",
           reason[0] ? reason
                     : (v == WRK_VERDICT_HELD ? "category" : "filter"));
  return false;
}

/* What the event writes to HubSpot (hs_map_event); false: DLQ mapping. */
static bool map(wrk_batch *b, wrk_event *e) {
  char err[LS_ERRSTR_SIZE];
  int64_t t = e->ev.event_time_us ? e->ev.event_time_us
              : e->received_us    ? e->received_us
                                  : ls_now_us();
  const json_t *sync = json_object_get(e->tenant->json, "sync");
  hs_map_opts mo = {
      .opens_as_notes = e->tenant->opens_as_notes,
      .clicks_as_notes = e->tenant->clicks_as_notes,
      .junk_senders = json_object_get(sync, "junk_senders"),
      .keep_junk = json_is_true(json_object_get(sync, "keep_junk_senders"))};
  (void)b;
  if (hs_map_event(e->root, &e->ev, t, &mo, &e->map, err, sizeof err) == LS_OK)
    return true;
  wrk_event_fail(e, WRK_DLQ_MAPPING, 0, "MAPPING", err);
  return false;
}

/* Classifies one record; everything that needs no HubSpot call gets its
 * final outcome here and waits for the flush only to be logged. An event
 * built by the caller (tests: no message) is identified and mapped
 * already. */
static void intake_steps(wrk_batch *b, wrk_event *e) {
  bool replay = false;
  if (e->msg && !identify(b, e, &replay))
    return;
  if (already_final(b, e, replay) || !filter_passes(b, e))
    return;
  if (e->msg && !map(b, e))
    return;
  intake_mapped(b, e);
}

/* The parsed body is needed by intake only (identify, filter, map keep
 * what they need): dropped here, it is most of what a waiting event holds
 * (a flush's memory grows with its events). */
static void intake(wrk_batch *b, wrk_event *e) {
  intake_steps(b, e);
  json_decref(e->root);
  e->root = NULL;
  /* Its mapped properties as one compact text until its flush
   * (wrk_batch_sync): the trees are most of what remains (docs/worker.md
   * "Flush sizing"). Kept as trees when that fails. */
  if (e->outcome == WRK_PENDING)
    hs_mapped_pack(&e->map);
}

static bool append_room(wrk_batch *b) {
  return LS_ARRAY_GROW(b->evs, b->cap, b->n + 1);
}

/* Appends e (intake done); false when the batch cannot grow. */
static bool append(wrk_batch *b, wrk_event *e) {
  if (b->n == b->cap && !append_room(b))
    return false;
  b->last_us = ls_mono_us();
  if (!b->n)
    b->first_us = b->last_us;
  b->evs[b->n++] = e;
  if (e->outcome == WRK_PENDING) {
    size_t ti = (size_t)(e->tenant - b->w->cfg->tenants);
    if (!b->per_tenant[ti])
      b->tenants++;
    if (++b->per_tenant[ti] > b->waiting_max)
      b->waiting_max = b->per_tenant[ti];
  }
  return true;
}

/* Intake of record m into e (room in the batch was made). */
static void take_in(wrk_batch *b, wrk_event *e, rd_kafka_message_t *m) {
  e->msg = m;
  wrk_pos_of(&e->pos, m);
  e->has_pos = true;
  wrk_obs_consumed(m);
  intake(b, e);
  count_event(b->w, "leadsync_worker_consumed_total", "Events consumed", e);
  append(b, e);
}

void wrk_batch_add(wrk_batch *b, rd_kafka_message_t *m, wrk_plan *plan) {
  wrk *w = b->w;
  wrk_event *e = wrk_fault("alloc_intake") ? NULL : calloc(1, sizeof *e);
  if (!e || (b->n == b->cap && !append_room(b))) {
    const char *why =
        e ? "out of memory growing the batch" : "out of memory before intake";
    free(e);
    block(b, m, why, plan);
    rd_kafka_message_destroy(m);
    return;
  }
  if (!wrk_ledger_restored(w->ledger, m->partition)) {
    /* Its state is still restoring: read again once restored. */
    free(e);
    wrk_consumer_defer(w, m, plan);
    rd_kafka_message_destroy(m);
    return;
  }
  take_in(b, e, m);
}

bool wrk_batch_take(wrk_batch *b, rd_kafka_message_t *m) {
  /* No fault seam here: a refusal leaves the record to wrk_batch_add,
   * which has one. */
  if (!wrk_ledger_restored(b->w->ledger, m->partition))
    return false;
  wrk_event *e = calloc(1, sizeof *e);
  if (!e || (b->n == b->cap && !append_room(b))) {
    free(e);
    return false;
  }
  take_in(b, e, m);
  return true;
}

void wrk_batch_add_event(wrk_batch *b, wrk_event *e) {
  intake(b, e);
  if (!append(b, e))
    wrk_event_free(e);
}

/* A flush's size (docs/worker.md "Flush sizing"). One tenant: 2 x
 * flush_max events in all. Many tenants share a flush, and each needs
 * about BATCH_FILL calls' worth of events for its own calls to fill up, so
 * the bound grows with the tenants waiting, up to FLUSH_SCALE_MAX x
 * flush_max: the memory a flush may hold (a waiting event holds its
 * record, its struct and its mapped properties, packed until its flush;
 * the parsed body is dropped after intake). */
#define BATCH_FILL 4
#define FLUSH_SCALE_MAX 4
/* Past the linger a flush still takes records that keep coming (a
 * backlog: the consumer answered within STREAM_GAP_US), up to
 * LINGER_STRETCH lingers from its oldest event; live traffic that stops
 * flushes STREAM_GAP_US after its last record. */
#define STREAM_GAP_US 10000
#define LINGER_STRETCH 5

static size_t flush_cap(const wrk_batch *b) {
  size_t fm = (size_t)b->w->s.flush_max, bm = (size_t)b->w->s.batch_max;
  size_t cap = fm * 2, want = b->tenants * bm * BATCH_FILL;
  if (want > cap)
    cap = want < fm * FLUSH_SCALE_MAX ? want : fm * FLUSH_SCALE_MAX;
  return cap;
}

bool wrk_batch_full(const wrk_batch *b) {
  /* A backlog fills a flush of flush_max events at once: one flush then
   * merges contacts across all of them and fills every call with
   * batch_max inputs. Below that, the linger bounds the latency. */
  return b->n &&
         (b->waiting_max >= (size_t)b->w->s.flush_max || b->n >= flush_cap(b));
}

bool wrk_batch_due(const wrk_batch *b, int64_t now_us) {
  if (!b->n)
    return wrk_sync_carry_due(b->w, now_us);
  if (wrk_batch_full(b))
    return true;
  int64_t linger = b->w->s.linger_ms * 1000, age = now_us - b->first_us;
  if (age < linger)
    return false;
  return now_us - b->last_us >= STREAM_GAP_US || age >= linger * LINGER_STRETCH;
}

int64_t wrk_batch_wait_us(const wrk_batch *b, int64_t now_us) {
  if (!b->n)
    return 100000;
  int64_t linger = b->w->s.linger_ms * 1000;
  int64_t left = b->first_us + linger - now_us;
  if (left <= 0) /* stretched: wait for the next record a little */
    left = b->last_us + STREAM_GAP_US - now_us;
  return left > 0 ? left : 0;
}

/* The counts of events waiting for HubSpot, again (events left). */
static void recount(wrk_batch *b) {
  memset(b->per_tenant, 0, (b->w->cfg->n_tenants + 1) * sizeof *b->per_tenant);
  b->tenants = 0;
  b->waiting_max = 0;
  size_t n = b->n;
  b->n = 0;
  int64_t first = b->first_us, last = b->last_us;
  for (size_t i = 0; i < n; i++)
    append(b, b->evs[i]); /* no growth: i < n */
  b->first_us = first;
  b->last_us = last;
}

void wrk_batch_recheck(wrk_batch *b) {
  wrk *w = b->w;
  bool changed = false;
  for (size_t i = 0; i < b->n; i++) {
    wrk_event *e = b->evs[i];
    /* Only outcomes decided after the ledger check of intake: waiting
     * for HubSpot, or filtered (recorded as done when final). */
    if (!e->tenant || (e->outcome != WRK_PENDING && e->outcome != WRK_FILTERED))
      continue;
    wrk_outcome was = e->outcome;
    if (already_final(b, e, is_replay(e->msg))) {
      changed |= was == WRK_PENDING;
      continue;
    }
    /* An intent the previous flush put on record (an output refused,
     * a revoke): search before creating. */
    if (e->outcome == WRK_PENDING && !e->suspect)
      check_suspect(w, e);
  }
  if (changed)
    recount(b);
}

size_t wrk_batch_drop_from(wrk_batch *b, const wrk_pos *at) {
  size_t k = 0, dropped = 0;
  for (size_t i = 0; i < b->n; i++) {
    wrk_event *e = b->evs[i];
    if (e->has_pos && wrk_pos_same_partition(&e->pos, at) &&
        e->pos.offset >= at->offset) {
      /* The copy that holds its id in this batch is gone: a later copy
       * is not its duplicate. */
      if (e->outcome == WRK_PENDING)
        json_object_del(b->ids, e->ev.event_id);
      wrk_event_free(e);
      dropped++;
      continue;
    }
    b->evs[k++] = e;
  }
  if (dropped) {
    b->n = k;
    recount(b);
  }
  return dropped;
}

void wrk_batch_handover(wrk_batch *from, wrk_batch *to) {
  to->idle_us = from->idle_us;
  /* Its linger starts now, as for a batch begun after the flush: the
   * loop goes on taking a backlog that keeps coming up to the size
   * bounds (wrk_batch_due). Timed from when its first record was taken
   * in, it would be due at once, half full, whenever the waits were too
   * short to take a whole flush in (smaller flushes, calls less full). */
  if (to->n)
    to->first_us = to->last_us = ls_mono_us();
}

/* Adds every event, final or not, to plan. */
static void plan_all(wrk_batch *b, wrk_plan *plan, bool abandoned) {
  wrk *w = b->w;
  for (size_t i = 0; i < b->n; i++) {
    const wrk_event *e = b->evs[i];
    if (!e->has_pos)
      continue;
    if (!abandoned && wrk_outcome_final(e->outcome)) {
      wrk_plan_final(plan, &e->pos);
      continue;
    }
    /* Left in Kafka: nothing after it in its partition is stored until it
     * is read again; a daily block holds it until the portal's reset. */
    int ti = !abandoned && e->tenant && !e->failed
                 ? (int)(e->tenant - w->cfg->tenants)
                 : -1;
    wrk_plan_unfinished(plan, &e->pos, ti, e->received_us);
  }
}

void wrk_batch_abandon(wrk_batch *b, wrk_plan *plan) {
  if (b->n)
    ls_info("batch abandoned; its offsets are not stored", "{s:i}", "events",
            (int)b->n);
  if (plan)
    plan_all(b, plan, true);
  reset(b);
}

static void account(wrk *w, const wrk_event *e) {
  switch (e->outcome) {
  case WRK_SYNCED:
    count_event(w, "leadsync_worker_synced_total", "Events synced", e);
    if (e->received_us > 0)
      ls_metrics_observe(w->metrics, "leadsync_worker_event_latency_seconds",
                         "From ingress receipt to HubSpot answer", NULL,
                         (double)(ls_now_us() - e->received_us) / 1e6);
    break;
  case WRK_FILTERED:
    count_event(w, "leadsync_worker_filtered_total",
                "Events that write nothing to HubSpot", e);
    break;
  case WRK_HELD:
    count_event(w, "leadsync_worker_to_filter_total",
                "Events handed to the category filter (leadsync.held)", e);
    break;
  case WRK_DLQ: {
    char lab[160];
    snprintf(lab, sizeof lab, "reason=\"%s\",tenant=\"%s\"", e->reason,
             e->tenant ? e->tenant->id : "-");
    ls_metrics_inc(w->metrics, "leadsync_worker_dlq_total",
                   "Events sent to the DLQ", lab, 1);
    break;
  }
  case WRK_DUPLICATE:
    count_event(w, "leadsync_worker_duplicates_total",
                "Events skipped because the ledger holds them", e);
    break;
  case WRK_DEFERRED:
    count_event(w, "leadsync_worker_deferred_total",
                "Events left in Kafka (daily limit, shutdown)", e);
    break;
  default:
    break;
  }
}

void wrk_batch_sync(wrk_batch *b) {
  wrk *w = b->w;
  if (b->idle_us && b->n) /* taking in the records of this flush */
    wrk_sync_phase(w, "intake",
                   b->first_us > b->idle_us ? b->first_us : b->idle_us);
  size_t waiting = 0;
  for (size_t i = 0; i < b->n; i++) {
    wrk_event *e = b->evs[i];
    if (e->outcome == WRK_PENDING && hs_mapped_unpack(&e->map) != LS_OK) {
      /* Out of memory: left in Kafka, read again. */
      e->outcome = WRK_DEFERRED;
      e->failed = true;
      snprintf(e->reason, sizeof e->reason, "out_of_memory");
    }
    waiting += e->outcome == WRK_PENDING;
  }
  if (waiting)
    wrk_sync(w, b->evs, b->n);
  else if (wrk_sync_carry_due(w, ls_mono_us()))
    wrk_sync_carry(w);
}

void wrk_batch_emit(wrk_batch *b) {
  wrk *w = b->w;
  if (!b->n)
    return;
  int64_t t = ls_mono_us();
  ls_metrics_inc(w->metrics, "leadsync_worker_batches_total", "Batches flushed",
                 NULL, 1);
  ls_metrics_inc(w->metrics, "leadsync_worker_batch_events_total",
                 "Events in flushed batches (sum; / batches = mean size)", NULL,
                 (double)b->n);
  ls_metrics_set(w->metrics, "leadsync_worker_last_batch_size",
                 "Events in the last flushed batch", NULL, (double)b->n);

  for (size_t i = 0; i < b->n; i++) {
    wrk_event *e = b->evs[i];
    account(w, e);
    switch (e->outcome) {
    case WRK_SYNCED:
      wrk_ledger_emit(w, w->out, e);
      wrk_synclog_emit(w, w->out, e);
      break;
    case WRK_DLQ: {
      /* The full message goes to the DLQ headers; the log gets it with
       * addresses masked. */
      char masked[sizeof e->hs_message];
      ls_mask_pii(e->hs_message, masked, sizeof masked);
      ls_warn("event to DLQ", "{s:s,s:s,s:s,s:i,s:s}", "event_id",
              e->ev.event_id, "tenant", e->tenant ? e->tenant->id : "-",
              "reason", e->reason, "status", (int)e->http_status, "message",
              masked);
      wrk_dlq_emit(w, w->out, e);
      wrk_synclog_emit(w, w->out, e);
      break;
    }
    case WRK_FILTERED:
    case WRK_DUPLICATE:
      wrk_synclog_emit(w, w->out, e);
      break;
    case WRK_HELD:
      /* Forwarded to leadsync.held: the filter role logs held or passes it
       * on, so one event gets one decision in the sync_log. */
      break;
    default:
      break;
    }
  }
  wrk_sync_phase(w, "emit", t);
}

void wrk_batch_settle(wrk_batch *b, bool revoked, wrk_plan *plan) {
  wrk *w = b->w;
  if (!b->n)
    return;
  /* The one place that decides what is final: an event whose outputs
   * were all acknowledged (here or in the intent wait) and whose outcome
   * is final. Anything else stays in Kafka, and the plan stops its
   * partition there. */
  int64_t t = ls_mono_us();
  if (!wrk_out_wait(w->out, w->s.flush_timeout_ms, NULL))
    ls_error("outputs not acknowledged; their events will be read again",
             "{s:i}", "events", (int)b->n);
  wrk_sync_phase(w, "settle", t);
  size_t failed = 0;
  for (size_t i = 0; i < b->n; i++) {
    wrk_event *e = b->evs[i];
    if (e->out.failed) {
      failed++;
      if (e->outcome == WRK_SYNCED ||
          (e->outcome == WRK_DEFERRED && e->map.eng != HS_ENG_NONE))
        /* The engagement may exist without a ledger record: search
         * before creating it again. */
        wrk_ledger_record(w->ledger, part_of(e), e->ev.event_id,
                          WRK_SEEN_INTENT);
      bool dlq = e->outcome == WRK_DLQ;
      e->outcome = WRK_DEFERRED;
      e->failed = true;
      if (!revoked && e->has_pos)
        wrk_poison_note(w->poison, &e->pos, e->out.error, dlq);
      continue;
    }
    if (e->outcome == WRK_SYNCED)
      wrk_ledger_record(w->ledger, part_of(e), e->ev.event_id, WRK_SEEN_SYNCED);
    else if (e->outcome == WRK_DLQ || e->outcome == WRK_FILTERED)
      wrk_ledger_record(w->ledger, part_of(e), e->ev.event_id, WRK_SEEN_DONE);
    else if (e->outcome == WRK_DEFERRED && e->map.eng != HS_ENG_NONE && revoked)
      wrk_ledger_record(w->ledger, part_of(e), e->ev.event_id, WRK_SEEN_INTENT);
    if (wrk_outcome_final(e->outcome) && e->has_pos)
      wrk_poison_clear(w->poison, &e->pos);
  }
  if (failed)
    ls_warn("events left in Kafka after an output failure", "{s:i,s:i}",
            "events", (int)failed, "poison_after", w->s.poison_after);
  if (revoked)
    /* Partitions went to another owner (maybe us again) during the flush:
     * it reads their events again. What completed is in the ledger now
     * (duplicate there); what did not may have an engagement: it is
     * searched before being created again. The loop drops the revoked
     * partitions from the plan, so nothing of theirs is stored. */
    ls_info("partitions revoked during a flush; their events will be read "
            "again",
            "{s:i}", "events", (int)b->n);
  plan_all(b, plan, false);
  reset(b);
  b->idle_us = ls_mono_us();
}

/* leadsync-worker: consumes Smartlead event topics in a consumer group and
 * syncs them into HubSpot (docs/worker.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_role.h"
#include "hs_account.h"
#include "hs_setup.h"
#include "kq.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_token.h"
#include "ls_time.h"
#include "wrk.h"
#include "wrk_alloc.h"
#include "wrk_batch.h"
#include "wrk_consumer.h"
#include "wrk_plan.h"
#include "wrk_poison.h"
#include "wrk_sync.h"
#include "wrk_filter.h"
#include "ls_ops.h"
#include "wrk_ledger.h"
#include "wrk_obs.h"
#include "wrk_out.h"
#include "ls_version.h"
#include "ls_env.h"
#include "ls_signals.h"

static volatile sig_atomic_t stop_flag;

static void usage(FILE *f) {
  fprintf(f,
          "usage: leadsync-worker --config FILE --group NAME [--events A,B]\n"
          "                       [--listen HOST:PORT] [--ready-file PATH]\n"
          "                       [--setup] [--no-setup] [--version]\n"
          "       leadsync-worker --config FILE --role filter [--group NAME]\n"
          "                       [--listen HOST:PORT] [--ready-file PATH]\n"
          "Env: LEADSYNC_CONFIG, LEADSYNC_GROUP, LEADSYNC_EVENTS,\n"
          "LEADSYNC_LISTEN, LEADSYNC_ROLE. --setup creates the HubSpot\n"
          "properties of every tenant and exits; --no-setup skips it at\n"
          "start. Without --events, the group's types in worker.groups.\n"
          "--role filter runs the category filter (hold and release,\n"
          "docs/filter.md) on leadsync.held instead of syncing.\n");
}

/* "EMAIL_SENT,EMAIL_OPEN" -> types; false on an unknown name. */
static bool parse_events(const char *list, wrk_settings *s, char *errstr,
                         size_t errlen) {
  char *copy = strdup(list), *save = NULL;
  size_t cap = LS_EV__COUNT;
  s->types = calloc(cap, sizeof *s->types);
  if (!copy || !s->types) {
    free(copy);
    snprintf(errstr, errlen, "out of memory");
    return false;
  }
  for (char *tok = strtok_r(copy, ", ", &save); tok;
       tok = strtok_r(NULL, ", ", &save)) {
    ls_event_type t = ls_event_type_from_name(tok);
    if (t == LS_EV_UNKNOWN) {
      snprintf(errstr, errlen, "--events: unknown event type \"%.64s\"", tok);
      free(copy);
      return false;
    }
    bool dup = false;
    for (size_t i = 0; i < s->n_types; i++)
      dup |= s->types[i] == t;
    if (!dup && s->n_types < cap)
      s->types[s->n_types++] = t;
  }
  free(copy);
  if (!s->n_types) {
    snprintf(errstr, errlen, "--events: no event types");
    return false;
  }
  return true;
}

/* The group's share of each portal's rate limit: LEADSYNC_PORTAL_SHARE,
 * else worker.portal_share (a number, or an object by group name), else
 * the group's fraction of the event types: every type belongs to one
 * group, so the defaults of a deployment sum to at most 1. */
static double portal_share(const ls_config *cfg, const wrk_settings *s) {
  const char *env = getenv("LEADSYNC_PORTAL_SHARE");
  const ls_worker_conf *wc = &cfg->worker;
  double share = -1.0;
  if (env && *env) {
    char *end;
    share = strtod(env, &end);
    if (end == env || *end)
      share = -1.0;
  } else if (wc->portal_share >= 0.0) {
    share = wc->portal_share;
  } else {
    for (size_t i = 0; i < wc->n_shares; i++)
      if (s->group && !strcmp(wc->shares[i].group, s->group))
        share = wc->shares[i].share;
  }
  if (share < 0.0)
    share = (double)s->n_types / (double)LS_EV_UNKNOWN;
  return share > 1.0 ? 1.0 : share;
}

/* The "worker" section, typed and range-checked by the loader. */
static void load_settings(const ls_config *cfg, wrk_settings *s) {
  const ls_worker_conf *wc = &cfg->worker;
  s->batch_max = (int)wc->batch_max;
  s->flush_max = (int)wc->flush_max;
  s->linger_ms = wc->batch_linger_ms;
  s->setup_on_start = wc->setup_on_start;
  s->search_settle_ms = wc->search_settle_ms;
  s->guard_ms = wc->ratelimit_guard_ms;
  s->flush_timeout_ms = wc->flush_timeout_ms;
  s->poison_after = (int)wc->poison_attempts;
  /* The producer's limit (librdkafka's default unless configured): a DLQ
   * copy that cannot fit is written as a stub (wrk_dlq.c). */
  const json_t *mmb = json_object_get(cfg->kafka_props, "message.max.bytes");
  s->max_msg_bytes = json_is_integer(mmb) ? (long)json_integer_value(mmb)
                     : json_is_string(mmb)
                         ? strtol(json_string_value(mmb), NULL, 10)
                         : 0;
  if (s->max_msg_bytes <= 0)
    s->max_msg_bytes = KQ_MESSAGE_MAX_BYTES;
  hs_policy_defaults(&s->pol);
  s->pol.max_retries = (int)wc->max_retries;
  s->pol.backoff_base_ms = wc->backoff_base_ms;
  s->pol.backoff_max_ms = wc->backoff_max_ms;
  s->pol.max_in_flight = (int)wc->max_in_flight;
}

/* Replies and category updates are served first when the portal is
 * busy (docs/worker.md "Rate limiting"): a group that handles one of them
 * takes the headroom that bulk groups leave free. */
static bool priority_type(ls_event_type t) {
  return t == LS_EV_EMAIL_REPLY || t == LS_EV_UNTRACKED_REPLIES ||
         t == LS_EV_LEAD_CATEGORY_UPDATED;
}

/* A group of priority types only (replies, category updates) flushes
 * after worker.priority_linger_ms instead of batch_linger_ms: a reply
 * waits a round trip, not a batch linger. A group that also has bulk
 * types keeps the batch linger. */
static bool priority_only(const wrk_settings *s) {
  for (size_t i = 0; i < s->n_types; i++)
    if (!priority_type(s->types[i]))
      return false;
  return s->n_types > 0;
}

static hs_rl_class quota_class(const wrk_settings *s) {
  for (size_t i = 0; i < s->n_types; i++)
    if (s->types[i] == LS_EV_EMAIL_REPLY ||
        s->types[i] == LS_EV_UNTRACKED_REPLIES ||
        s->types[i] == LS_EV_LEAD_CATEGORY_UPDATED)
      return HS_RL_PRIORITY;
  return HS_RL_BULK;
}

/* One target per tenant; tenants of one portal share its limiter. */
static bool make_targets(wrk *w) {
  w->limiters = hs_limiters_new();
  w->targets =
      calloc(w->cfg->n_tenants ? w->cfg->n_tenants : 1, sizeof *w->targets);
  if (!w->limiters || !w->targets)
    return false;
  for (size_t i = 0; i < w->cfg->n_tenants; i++) {
    const ls_tenant *t = &w->cfg->tenants[i];
    hs_limiter_conf lc = {t->hs_per_10s,
                          10000,
                          t->hs_daily,
                          w->s.guard_ms,
                          4,
                          (int)w->cfg->worker.ratelimit_reserve,
                          w->cfg->worker.ratelimit_borrow ? 0 : -1};
    w->targets[i].base_url = t->hs_base_url;
    w->targets[i].token = t->hs_token;
    /* A token_file (a mounted Secret) is followed: a rotated token is used
     * within a second, no restart. */
    if (t->hs_token_ref && !strncmp(t->hs_token_ref, "file:", 5))
      w->targets[i].token_src = ls_token_file(t->hs_token_ref + 5, t->hs_token);
    w->targets[i].label = t->id;
    w->targets[i].lim = hs_limiters_get(w->limiters, t->hs_base_url,
                                        t->hs_token ? t->hs_token : "", &lc);
    if (!w->targets[i].lim)
      return false;
    hs_limiter_set_class(w->targets[i].lim, quota_class(&w->s));
  }
  return true;
}

/* The daily limit resets at midnight in each portal's time zone: a
 * configured hubspot.utc_offset_minutes, else account-info's offset, else
 * UTC (logged). Once per portal at start. */
static void portal_time_zones(wrk *w) {
  hs_policy pol = w->s.pol;
  pol.max_retries = 2;
  for (size_t i = 0; i < w->cfg->n_tenants; i++) {
    bool seen = false;
    for (size_t k = 0; k < i; k++)
      seen |= w->targets[k].lim == w->targets[i].lim;
    const ls_tenant *t = &w->cfg->tenants[i];
    if (seen || !w->targets[i].lim)
      continue;
    const json_t *cm = json_object_get(json_object_get(t->json, "hubspot"),
                                       "utc_offset_minutes");
    if (json_is_integer(cm)) {
      hs_limiter_set_utc_offset(w->targets[i].lim,
                                (int64_t)json_integer_value(cm) * 60000);
      ls_info("portal time zone from the config", "{s:s,s:i}", "tenant", t->id,
              "utc_offset_minutes", (int)json_integer_value(cm));
      continue;
    }
    char tz[64] = "", err[LS_ERRSTR_SIZE] = "";
    int64_t off = 0;
    if (w->targets[i].token &&
        hs_account_time_zone(w->tp, &w->targets[i], &pol, tz, sizeof tz, &off,
                             err, sizeof err)) {
      hs_limiter_set_utc_offset(w->targets[i].lim, off);
      ls_info("portal time zone", "{s:s,s:s,s:i}", "tenant", t->id, "time_zone",
              tz, "utc_offset_minutes", (int)(off / 60000));
    } else {
      ls_warn("portal time zone unknown: the daily limit is assumed to reset "
              "at UTC midnight",
              "{s:s,s:s}", "tenant", t->id, "error",
              err[0] ? err : "no HubSpot token");
    }
  }
}

/* Runs setup once per portal. Transient failures are retried until stop;
 * a tenant whose token is refused is reported and skipped (its events go
 * to the DLQ with reason auth). */
static int run_setup(wrk *w, bool strict) {
  int failures = 0;
  for (size_t i = 0; i < w->cfg->n_tenants; i++) {
    bool seen = false;
    for (size_t k = 0; k < i; k++)
      seen |= w->targets[k].lim == w->targets[i].lim;
    if (seen)
      continue;
    if (!w->targets[i].token) {
      ls_error("no HubSpot token: setup skipped", "{s:s,s:s}", "tenant",
               w->cfg->tenants[i].id, "token_ref",
               w->cfg->tenants[i].hs_token_ref);
      failures++;
      continue;
    }
    for (int attempt = 1; !stop_flag; attempt++) {
      char err[LS_ERRSTR_SIZE];
      hs_setup_result res;
      ls_err e =
          hs_setup_run(w->tp, &w->targets[i], &w->s.pol, &res, err, sizeof err);
      if (e == LS_OK && res.skipped) {
        /* Refused for good: reported once (hs_setup); every tenant of the
         * portal syncs without these properties (wrk_sync). */
        if (!w->setup_skipped)
          w->setup_skipped = json_object();
        for (size_t k = 0; k < w->cfg->n_tenants; k++)
          if (w->targets[k].lim == w->targets[i].lim)
            json_object_set(w->setup_skipped, w->cfg->tenants[k].id,
                            res.skipped);
      }
      json_decref(res.skipped);
      if (e == LS_OK)
        break;
      ls_error("hubspot setup failed", "{s:s,s:s,s:i}", "tenant",
               w->cfg->tenants[i].id, "error", err, "attempt", attempt);
      if (e == LS_ERR_UNAUTHORIZED || strict) {
        failures++;
        break;
      }
      long back = hs_backoff_ms(&w->s.pol, attempt);
      for (long slept = 0; slept < back && !stop_flag; slept += 100) {
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
      }
    }
  }
  return failures;
}

/* Applies what the rebalance callback recorded (it only records, raises
 * the flush's abort flag and (un)assigns). A revoke: the batch is dropped
 * (every event is read again, by whoever owns its partition now), the
 * revoked partitions leave plan (nothing of theirs is stored), their
 * stashed records, stuck marks and poison counts are forgotten, and their
 * de-duplication state is dropped. An assign: partition numbers whose
 * state is not restored yet start their restore (wrk_ledger_poll); a
 * record of one that arrives first is not taken in but held back
 * (wrk_batch_add, wrk_consumer_defer). After each, the share
 * follows what is owned. Runs after every poll and after every flush. */
static void apply_rebalances(wrk *w, wrk_plan *plan) {
  wrk_reb r;
  while (wrk_consumer_take(w, &r)) {
    if (r.kind == WRK_REB_REVOKE) {
      wrk_batch_abandon(w->batch, plan);
      if (w->next) /* taken in during the flush the revoke came in */
        wrk_batch_abandon(w->next, plan);
      wrk_plan_drop(plan, r.parts);
      wrk_consumer_forget(w, &r);
      wrk_poison_forget(w->poison, r.parts);
      /* Partitions held for their restore were resumed by the callback,
       * before the unassign (wrk_ledger_release). */
      wrk_ledger_revoke(w->ledger, r.parts);
    } else {
      wrk_consumer_forget(w, &r);
      if (r.parts)
        wrk_ledger_assign(w->ledger, r.parts);
      ls_info("partitions assigned", "{s:s,s:i,s:i,s:i}", "group", w->s.group,
              "count", wrk_consumer_owned(w), "added",
              r.parts ? r.parts->cnt : 0, "restoring",
              wrk_ledger_restoring(w->ledger));
    }
    if (r.parts)
      rd_kafka_topic_partition_list_destroy(r.parts);
    wrk_consumer_set_share(w, wrk_consumer_owned(w));
  }
}

/* Stores what plan allows (after the rebalances it must respect). */
static void store(wrk *w, wrk_plan *plan) {
  apply_rebalances(w, plan);
  wrk_consumer_store(w, plan);
  wrk_plan_free(plan);
}

/* Set while a flush sends: its HubSpot waits take the next flush's
 * records in (overlap_idle). */
static bool overlapping;

#define M_OVERLAP "leadsync_worker_overlap_events_total"
#define M_OVERLAP_HELP                                                         \
  "Events taken in while the previous flush waited (docs/worker.md \"The "     \
  "overlap\")"

/* Longest stretch of intake per call of the idle hook: the HubSpot client
 * calls it every 10 ms while answers travel, and answers that arrive
 * meanwhile wait for it to return. */
#define OVERLAP_SLICE_US 8000

/* hs_policy.idle: keeps the group membership alive and reads ahead into
 * the stash (wrk_consumer_service); while a flush sends, it also takes
 * stashed records, in order, through intake into the next batch, up to a
 * flush's worth. It stops at a rebalance (the next batch is abandoned
 * with the flush's, apply_rebalances) and at a record it cannot take
 * (left in the stash for the loop). docs/worker.md "The overlap". */
static void overlap_idle(void *arg) {
  wrk *w = arg;
  wrk_consumer_service(w);
  /* A flush with events of its own: its settle waits for every output
   * the intake queues (a hold's forward) while their events live. */
  if (!overlapping || !w->next || !wrk_batch_len(w->batch) || stop_flag ||
      wrk_consumer_rebalancing(w) || wrk_consumer_revoked(w))
    return;
  int64_t until = ls_mono_us() + OVERLAP_SLICE_US;
  size_t taken = 0;
  rd_kafka_message_t *m;
  while (!wrk_batch_full(w->next) && (m = wrk_consumer_peek(w))) {
    if (!wrk_batch_take(w->next, m))
      break;
    wrk_consumer_pop(w);
    taken++;
    if (!(taken & 15) && ls_mono_us() >= until)
      break;
  }
  if (taken)
    ls_metrics_inc(w->metrics, M_OVERLAP, M_OVERLAP_HELP, NULL, (double)taken);
}

/* After a flush (its offsets stored): the batch taken in meanwhile
 * becomes the one the loop fills. Its events of a partition left behind
 * (stuck) were read past the record that stopped it: dropped, as the
 * stash's are, since the partition is read again from there. The ledger
 * is asked again for the rest before anything of it is sent. */
static void next_batch(wrk *w) {
  wrk_batch *done = w->batch;
  if (!w->next)
    return;
  for (size_t i = 0; i < w->cons->n_stuck; i++)
    wrk_batch_drop_from(w->next, &w->cons->stuck[i].pos);
  w->batch = w->next;
  w->next = done;
  wrk_batch_handover(done, w->batch);
  wrk_batch_recheck(w->batch);
}

/* The cycle: poll -> intake -> (flush when due: sync -> outputs ->
 * outputs acknowledged) -> offsets stored. Nothing else stores offsets,
 * and the flush never calls the consumer: while it waits for HubSpot the
 * client's idle hook keeps the group membership alive and takes the next
 * flush's records in (overlap_idle). */
static void run_loop(wrk *w) {
  int64_t next_chores = 0, next_lag = 0;
  while (!stop_flag) {
    int64_t now = ls_mono_us();
    int timeout_ms = (int)(wrk_batch_wait_us(w->batch, now) / 1000);
    if (timeout_ms > 100)
      timeout_ms = 100;
    if (wrk_ledger_restoring(w->ledger))
      timeout_ms = 0; /* the restore reads in wrk_ledger_poll */
    rd_kafka_message_t *m = wrk_consumer_next(w, timeout_ms);
    wrk_plan plan = {0};
    apply_rebalances(w, &plan);
    if (m)
      wrk_batch_add(w->batch, m, &plan);
    if (plan.n)
      store(w, &plan);
    wrk_plan_free(&plan);
    now = ls_mono_us();
    if (wrk_batch_due(w->batch, now)) {
      wrk_consumer_arm(w); /* a revoke from now on aborts the flush */
      overlapping = true;
      wrk_batch_sync(w->batch);
      wrk_batch_emit(w->batch);
      overlap_idle(w); /* while the outputs travel */
      overlapping = false;
      wrk_batch_settle(w->batch, wrk_consumer_revoked(w), &plan);
      store(w, &plan);
      wrk_alloc_release();
      next_batch(w);
      /* Between flushes (no event read past a stuck record in a batch):
       * partitions left behind may be read again from their first
       * unfinished record. */
      wrk_consumer_unstick(w);
    }
    /* The state: restores (a slice per turn), the tail, expiry. */
    wrk_ledger_poll(w->ledger, w->cons->rk);
    if (now >= next_chores) {
      if (!wrk_batch_len(w->batch))
        wrk_consumer_unstick(w);
      next_chores = now + 1000000;
    }
    if (now >= next_lag) {
      wrk_obs_tick(w);
      ls_metrics_set(w->metrics, "leadsync_worker_ledger_events",
                     "Event ids known to the ledger", NULL,
                     (double)wrk_ledger_size(w->ledger));
      next_lag = now + 5000000;
    }
  }
}

/* The command line (flags, then the LEADSYNC_* environment). */
typedef struct {
  const char *config, *group, *events, *listen, *ready_file, *role;
  bool setup_only, no_setup, filter_role;
} flags;

/* -1: go on; otherwise the exit code (help, usage errors). */
static int parse_flags(int argc, char **argv, flags *f) {
  memset(f, 0, sizeof *f);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--config") && v)
      f->config = v, i++;
    else if (!strcmp(a, "--group") && v)
      f->group = v, i++;
    else if (!strcmp(a, "--events") && v)
      f->events = v, i++;
    else if (!strcmp(a, "--listen") && v)
      f->listen = v, i++;
    else if (!strcmp(a, "--ready-file") && v)
      f->ready_file = v, i++;
    else if (!strcmp(a, "--role") && v)
      f->role = v, i++;
    else if (!strcmp(a, "--setup"))
      f->setup_only = true;
    else if (!strcmp(a, "--no-setup"))
      f->no_setup = true;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  f->config = ls_env_or(f->config, "LEADSYNC_CONFIG");
  f->group = ls_env_or(f->group, "LEADSYNC_GROUP");
  f->events = ls_env_or(f->events, "LEADSYNC_EVENTS");
  f->listen = ls_env_or(f->listen, "LEADSYNC_LISTEN");
  f->role = ls_env_or(f->role, "LEADSYNC_ROLE");
  f->filter_role = f->role && !strcmp(f->role, "filter");
  ls_log_init(f->filter_role ? "filter" : "worker");
  if (f->role && !f->filter_role && strcmp(f->role, "sync")) {
    fprintf(stderr, "leadsync-worker: --role must be sync or filter\n");
    return 2;
  }
  if (f->filter_role && !f->group)
    f->group = "filter";
  if (!f->config || (!f->setup_only && !f->filter_role && !f->group)) {
    usage(stderr);
    return 2;
  }
  return -1;
}

/* Metrics, the HubSpot policy (the stop flag, the revoke abort flag, the
 * consumer's keep-alive as the idle hook), the transport and one target
 * per tenant. false: logged, stop. */
static bool start_hubspot(wrk *w) {
  w->stop = &stop_flag;
  w->metrics = ls_metrics_new();
  if (w->metrics) {
    wrk_obs_declare(w->metrics);
    ls_metrics_declare(w->metrics, LS_COUNTER, M_OVERLAP, M_OVERLAP_HELP, NULL);
    wrk_ledger_declare(w->metrics);
  }
  w->s.pol.stop = &stop_flag;
  w->s.pol.abort = &w->cons->abort;
  w->s.pol.idle = overlap_idle;
  w->s.pol.idle_ud = w;
  w->s.pol.metrics = w->metrics;
  w->tp = hs_transport_curl_new(w->cfg->worker.http_timeout_ms, 5000,
                                (size_t)w->cfg->worker.max_response_bytes);
  if (!w->metrics || !w->tp || !make_targets(w)) {
    ls_error("out of memory at start", NULL);
    return false;
  }
  return true;
}

/* The Kafka side: producer, de-duplication state (restored per partition
 * on assignment), filter seam, batch and the
 * subscribed consumer. false: logged, stop. */
static bool start_kafka(wrk *w) {
  char err[LS_ERRSTR_SIZE] = "";
  w->out = wrk_out_new(w->cfg, err, sizeof err);
  w->ledger = wrk_ledger_new(w->cfg, w->s.group, w->cfg->worker.dedup_window_s,
                             w->metrics, err, sizeof err);
  w->filter = w->out ? wrk_filter_hold_new(w->out) : NULL;
  if (!w->out || !w->ledger || !w->filter) {
    ls_error("cannot start the Kafka side", "{s:s}", "error", err);
    return false;
  }
  w->batch = wrk_batch_new(w);
  w->next = wrk_batch_new(w);
  if (!w->batch || !w->next || !wrk_consumer_start(w, err, sizeof err)) {
    ls_error("cannot start the consumer", "{s:s}", "error", err);
    return false;
  }
  return true;
}

/* Releases everything, in the reverse order of start (the consumer first:
 * it commits what is stored and leaves the group). */
static void release(wrk *w, ls_ops *http) {
  wrk_consumer_close(w);
  wrk_batch_free(w->batch);
  wrk_batch_free(w->next);
  wrk_out_free(w->out);
  wrk_ledger_free(w->ledger);
  wrk_filter_free(w->filter);
  ls_ops_stop(http);
  hs_transport_free(w->tp);
  hs_limiters_free(w->limiters);
  for (size_t i = 0; w->targets && i < w->cfg->n_tenants; i++)
    ls_token_free(w->targets[i].token_src);
  free(w->targets);
  free(w->s.types);
  wrk_poison_free(w->poison);
  if (w->carry->n)
    ls_warn("first-touch properties not written (stopping)", "{s:i}",
            "contacts", (int)w->carry->n);
  wrk_carry_clear(w->carry);
  json_decref(w->setup_skipped);
  ls_metrics_free(w->metrics);
  ls_config_free(w->cfg);
}

int main(int argc, char **argv) {
  flags f;
  int rc = 1;
  char err[LS_ERRSTR_SIZE];
  wrk w;
  wrk_consumer cons;
  wrk_poison poison;
  wrk_carry carry;
  wrk_alloc_bounds();
  memset(&w, 0, sizeof w);
  memset(&cons, 0, sizeof cons);
  memset(&poison, 0, sizeof poison);
  memset(&carry, 0, sizeof carry);
  w.cons = &cons;
  w.poison = &poison;
  w.carry = &carry;
  ls_ops *http = NULL;

  if (ls_version_flag(argc, argv, "leadsync-worker"))
    return 0;
  if ((rc = parse_flags(argc, argv, &f)) >= 0)
    return rc;
  rc = 1;
  const char *group = f.group, *events = f.events, *listen = f.listen;
  const char *ready_file = f.ready_file;
  bool setup_only = f.setup_only;
  ls_signals_install(&stop_flag);
  if (ls_config_load(f.config, &w.cfg, err, sizeof err) != LS_OK) {
    ls_error("invalid configuration", "{s:s}", "error", err);
    return 1;
  }
  ls_config_log_problems(w.cfg);
  load_settings(w.cfg, &w.s);
  /* --events, else the group's types from worker.groups. */
  if (!events)
    events = ls_config_group_events(w.cfg, group);
  if (!setup_only && !f.filter_role && !events) {
    fprintf(stderr,
            "leadsync-worker: --events not given and group \"%s\" "
            "is not in worker.groups\n",
            group);
    rc = 2;
    goto out;
  }
  w.s.group = group ? group : "setup";
  snprintf(w.s.group_id, sizeof w.s.group_id, "leadsync-%s", w.s.group);
  if (f.filter_role) {
    /* The category filter (filter/): no HubSpot, leadsync.held only. */
    fl_role_args fa = {
        w.cfg,      w.s.group_id,     listen,           ready_file,
        &stop_flag, w.s.poison_after, w.s.max_msg_bytes};
    rc = fl_role_run(&fa);
    goto out;
  }
  if (!setup_only && !parse_events(events, &w.s, err, sizeof err)) {
    ls_error("invalid arguments", "{s:s}", "error", err);
    goto out;
  }
  w.s.portal_share = portal_share(w.cfg, &w.s);
  if (!setup_only && priority_only(&w.s))
    w.s.linger_ms = w.cfg->worker.priority_linger_ms;
  if (!start_hubspot(&w))
    goto out;
  if (setup_only) {
    rc = run_setup(&w, true) ? 1 : 0;
    goto out;
  }
  portal_time_zones(&w);

  char url[160] = "";
  http = ls_ops_start(listen ? listen : w.cfg->worker.listen, w.metrics,
                      &w.ready, url, sizeof url, err, sizeof err);
  if (!http) {
    ls_error("cannot start the HTTP server", "{s:s}", "error", err);
    goto out;
  }
  if (w.s.setup_on_start && !f.no_setup)
    run_setup(&w, false);

  if (!start_kafka(&w))
    goto out;
  w.ready = 1;
  if (ready_file && ls_write_file_atomic(ready_file, url) != 0) {
    ls_error("cannot write the ready file", "{s:s}", "path", ready_file);
    goto out;
  }
  ls_info("worker ready", "{s:s,s:s,s:s,s:i,s:i,s:i,s:f}", "group", w.s.group,
          "events", events, "url", url, "batch_max", w.s.batch_max, "flush_max",
          w.s.flush_max, "linger_ms", (int)w.s.linger_ms, "portal_share",
          w.s.portal_share);

  run_loop(&w);
  ls_info("shutting down", "{s:s}", "group", w.s.group);
  w.ready = 0;
  wrk_batch_abandon(w.batch, NULL);
  wrk_batch_abandon(w.next, NULL);
  rc = 0;
out:
  release(&w, http);
  /* SIGTERM during start-up (setup, subscribe) is a normal
   * stop: nothing was consumed, nothing is lost. */
  if (rc != 0 && stop_flag && !setup_only) {
    ls_info("stopped during start-up", NULL);
    rc = 0;
  }
  ls_info("stopped", "{s:i}", "rc", rc);
  return rc;
}

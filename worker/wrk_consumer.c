/* wrk_consumer: the group consumer: subscription, rebalances recorded for
 * the loop, offsets stored only for events in a final state, seek back of
 * partitions left behind, the rate-limit share. */
#include "wrk_consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_array.h"
#include "ls_log.h"
#include "ls_time.h"
#include "wrk.h"
#include "wrk_fault.h"
#include "wrk_ledger.h"
#include "wrk_poison.h"

#define COMMIT_EVERY_US 200000 /* commits after stores, at most */

/* Partitions of every subscribed topic (the group's whole work); 0 when
 * the metadata cannot be read. */
static int total_partitions(wrk *w, rd_kafka_t *rk) {
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  int total = 0;
  for (size_t i = 0; i < w->s.n_types; i++) {
    char t[LS_TOPIC_MAX];
    snprintf(t, sizeof t, "%s%s", w->cfg->topic_prefix,
             ls_event_type_slug(w->s.types[i]));
    for (int k = 0; k < md->topic_cnt; k++)
      if (!strcmp(md->topics[k].topic, t) && !md->topics[k].err)
        total += md->topics[k].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return total;
}

void wrk_consumer_set_share(wrk *w, int owned) {
  int total = owned > 0 ? total_partitions(w, w->cons->rk) : 0;
  if (owned > 0 && total <= 0) {
    /* No metadata: the configured count, never below what we own. */
    total = w->cfg->partitions * (int)w->s.n_types;
    if (total < owned)
      total = owned;
  }
  double share =
      total > 0 ? w->s.portal_share * (double)owned / (double)total : 0.0;
  if (share > w->s.portal_share)
    share = w->s.portal_share;
  int64_t now = ls_mono_us();
  for (size_t i = 0; i < w->cfg->n_tenants; i++) {
    bool seen = false;
    for (size_t k = 0; k < i; k++)
      seen |= w->targets[k].lim == w->targets[i].lim;
    if (!seen && w->targets[i].lim)
      hs_limiter_set_share(w->targets[i].lim, share, now);
  }
  ls_info("rate-limit share", "{s:s,s:f,s:i,s:i}", "group", w->s.group, "share",
          share, "partitions", owned, "of", total);
}

int wrk_consumer_owned(wrk *w) {
  rd_kafka_topic_partition_list_t *l = NULL;
  if (!w->cons->rk || rd_kafka_assignment(w->cons->rk, &l) || !l)
    return 0;
  int n = l->cnt;
  rd_kafka_topic_partition_list_destroy(l);
  return n;
}

/* Keeps a copy of parts for the loop. false: out of memory. */
static bool record(wrk_consumer *c, wrk_reb_kind kind,
                   const rd_kafka_topic_partition_list_t *parts) {
  if (!LS_ARRAY_GROW(c->reb, c->cap_reb, c->n_reb + 1))
    return false;
  rd_kafka_topic_partition_list_t *copy =
      parts ? rd_kafka_topic_partition_list_copy(parts) : NULL;
  if (parts && !copy)
    return false;
  c->reb[c->n_reb++] = (wrk_reb){kind, copy, c->epoch};
  return true;
}

/* The rebalance callback (served by rd_kafka_consumer_poll, from the loop
 * or the flush's keep-alive). It records the change for the loop, raises
 * the flush's abort flag on a revoke, commits what is stored before
 * partitions go, and (un)assigns as the group's protocol wants: eager
 * assign / assign(NULL), or incremental for cooperative-sticky. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  wrk *w = opaque;
  wrk_consumer *c = w->cons;
  bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
  rd_kafka_error_t *error = NULL;
  rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (coop)
      error = rd_kafka_incremental_assign(rk, parts);
    else
      aerr = rd_kafka_assign(rk, parts);
    if (!error && !aerr && !record(c, WRK_REB_ASSIGN, parts))
      ls_error("out of memory recording an assignment", NULL);
  } else {
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
      ls_error("rebalance failed; leaving the assignment", "{s:s}", "error",
               rd_kafka_err2str(err));
    /* Events read but not final are read again by the next owner; a flush
     * in progress sends nothing more and stores nothing of these. */
    c->abort = 1;
    c->revoked = true;
    bool all = !coop || err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS;
    if (!record(c, WRK_REB_REVOKE, all ? NULL : parts)) {
      /* Cannot say which: the loop treats it as every partition. */
      c->revoke_all = true;
      c->revoke_all_epoch = c->epoch;
    }
    /* Records stashed from now on were read after the revoke (of a
     * partition assigned again, or kept): they stay. */
    c->epoch++;
    /* Resumed here, before the unassign: librdkafka keeps an
     * application's pause across an unassign (a partition assigned again
     * would never be fetched), and a resume issued later could race the
     * fetch start of its next assignment. */
    wrk_ledger_release(w->ledger, rk, all ? NULL : parts);
    if (!rd_kafka_assignment_lost(rk)) {
      rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
      if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        ls_warn("commit on revoke failed", "{s:s}", "error",
                rd_kafka_err2str(cerr));
    }
    ls_info("partitions revoked", "{s:s,s:i,s:s}", "group", w->s.group, "count",
            parts ? parts->cnt : 0, "protocol", coop ? "cooperative" : "eager");
    if (coop && err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
      error = rd_kafka_incremental_unassign(rk, parts);
    else
      aerr = rd_kafka_assign(rk, NULL);
  }
  if (error) {
    ls_error("incremental (un)assign failed", "{s:s}", "error",
             rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
  } else if (aerr) {
    ls_error("(un)assign failed", "{s:s}", "error", rd_kafka_err2str(aerr));
  }
}

bool wrk_consumer_start(wrk *w, char *errstr, size_t errlen) {
  rd_kafka_topic_partition_list_t *topics = NULL;
  const char *prefetch[16];
  kq_consumer_opts co = {.kind = KQ_GROUP_MEMBER,
                         .group_id = w->s.group_id,
                         .props =
                             wrk_ledger_prefetch_props(w->cfg, prefetch, 16),
                         .on_rebalance = on_rebalance,
                         .opaque = w,
                         .poll_set_consumer = true};
  rd_kafka_t *rk = kq_consumer_new(w->cfg, &co, errstr, errlen);
  if (!rk)
    return false;
  topics = rd_kafka_topic_partition_list_new((int)w->s.n_types);
  for (size_t i = 0; i < w->s.n_types; i++) {
    char t[LS_TOPIC_MAX];
    snprintf(t, sizeof t, "%s%s", w->cfg->topic_prefix,
             ls_event_type_slug(w->s.types[i]));
    rd_kafka_topic_partition_list_add(topics, t, RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    snprintf(errstr, errlen, "subscribe: %s", rd_kafka_err2str(err));
    goto fail;
  }
  w->cons->rk = rk;
  return true;
fail:
  if (rk)
    rd_kafka_destroy(rk);
  return false;
}

/* Marks the partition stuck at pos->offset (the lowest wins). */
static void mark_stuck(wrk *w, const wrk_pos *pos, int tenant,
                       int64_t since_us) {
  wrk_consumer *c = w->cons;
  for (size_t i = 0; i < c->n_stuck; i++) {
    wrk_stuck *s = &c->stuck[i];
    if (!wrk_pos_same_partition(&s->pos, pos))
      continue;
    if (s->pos.offset > pos->offset)
      *s = (wrk_stuck){*pos, tenant, since_us};
    return;
  }
  if (!LS_ARRAY_GROW(c->stuck, c->cap_stuck, c->n_stuck + 1)) {
    /* Cannot even remember it: stop storing anything, the process is
     * out of memory; the next owner reads from the committed offset. */
    *w->stop = 1;
    return;
  }
  c->stuck[c->n_stuck++] = (wrk_stuck){*pos, tenant, since_us};
}

static const wrk_stuck *stuck_of(const wrk_consumer *c, const wrk_pos *pos) {
  for (size_t i = 0; i < c->n_stuck; i++)
    if (wrk_pos_same_partition(&c->stuck[i].pos, pos))
      return &c->stuck[i];
  return NULL;
}

/* A record that could not be handled (out of memory stashing it): nothing
 * at or after its offset in its partition is stored until the partition
 * was read again from it. */
static void block(wrk *w, const rd_kafka_message_t *m, const char *why) {
  wrk_pos pos;
  wrk_pos_of(&pos, m);
  wrk_poison_note(w->poison, &pos, why, false);
  ls_error("record not handled; its partition stops here until it is read "
           "again",
           "{s:s,s:s,s:i,s:I}", "why", why, "topic", pos.topic, "partition",
           (int)pos.partition, "offset", (json_int_t)pos.offset);
  mark_stuck(w, &pos, -1, 0);
}

static bool stash_push(wrk *w, rd_kafka_message_t *m) {
  wrk_consumer *c = w->cons;
  if (c->head && c->head == c->n_stash)
    c->head = c->n_stash = 0;
  if (c->n_stash == c->cap_stash && c->head) {
    /* Full with records already taken at the front: move the waiting ones
     * down instead of growing. Without this, a stash that is refilled
     * while it is read (during every HubSpot wait) and so never empties
     * grew by one slot per record for as long as a backlog lasted (7 MiB
     * of slots in the bench worker load), whatever its bound. */
    memmove(c->stash, c->stash + c->head,
            (c->n_stash - c->head) * sizeof *c->stash);
    c->n_stash -= c->head;
    c->head = 0;
  }
  if (c->n_stash == c->cap_stash &&
      (wrk_fault("alloc_stash") ||
       !LS_ARRAY_GROW(c->stash, c->cap_stash, c->n_stash + 1)))
    return false;
  wrk_stashed *st = &c->stash[c->n_stash++];
  st->msg = m;
  wrk_pos_of(&st->pos, m);
  st->epoch = c->epoch;
  return true;
}

/* A consumed message, or NULL (errors are logged and dropped). */
static rd_kafka_message_t *poll_one(rd_kafka_t *rk, int timeout_ms) {
  rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout_ms);
  if (m && m->err) {
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      ls_warn("consumer error", "{s:s}", "error", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return NULL;
  }
  return m;
}

rd_kafka_message_t *wrk_consumer_next(wrk *w, int timeout_ms) {
  wrk_consumer *c = w->cons;
  /* Records polled while the last flush waited for HubSpot go first. */
  if (c->head < c->n_stash)
    return c->stash[c->head++].msg;
  c->head = c->n_stash = 0;
  return c->rk ? poll_one(c->rk, timeout_ms) : NULL;
}

rd_kafka_message_t *wrk_consumer_peek(wrk *w) {
  wrk_consumer *c = w->cons;
  return c->head < c->n_stash ? c->stash[c->head].msg : NULL;
}

void wrk_consumer_pop(wrk *w) {
  wrk_consumer *c = w->cons;
  if (c->head < c->n_stash)
    c->head++;
}

bool wrk_consumer_rebalancing(const wrk *w) {
  return w->cons->n_reb || w->cons->revoke_all;
}

void wrk_consumer_service(void *arg) {
  wrk *w = arg;
  wrk_consumer *c = w->cons;
  if (!c->rk)
    return;
  /* rd_kafka_consumer_poll, not rd_kafka_poll: the main queue is
   * forwarded to the consumer's (rd_kafka_poll is not permitted then),
   * and only a consumer poll serves the group (rebalances, the
   * max.poll.interval.ms clock). What it returns waits in the stash and is
   * taken in after the flush, in order; it is stored only after a flush of
   * its own. Bounded: past the bound librdkafka keeps the records (and a
   * rebalance waits for the flush). */
  size_t bound = (size_t)w->s.flush_max * 4;
  while (c->n_stash - c->head < bound) {
    rd_kafka_message_t *m = poll_one(c->rk, 0);
    if (!m)
      return;
    if (!stash_push(w, m)) {
      /* Its partition stops here and is read again from it. */
      block(w, m, "out of memory stashing a record");
      rd_kafka_message_destroy(m);
      return;
    }
  }
}

void wrk_consumer_arm(wrk *w) {
  w->cons->abort = 0;
  w->cons->revoked = false;
}

bool wrk_consumer_revoked(const wrk *w) {
  return w->cons->revoked;
}

bool wrk_consumer_take(wrk *w, wrk_reb *r) {
  wrk_consumer *c = w->cons;
  if (c->revoke_all) {
    /* A revoke that could not be recorded: every partition, and what
     * was recorded before it is moot (the assignment is re-read). */
    c->revoke_all = false;
    *r = (wrk_reb){WRK_REB_REVOKE, NULL, c->revoke_all_epoch};
    return true;
  }
  if (!c->n_reb)
    return false;
  *r = c->reb[0];
  memmove(c->reb, c->reb + 1, (c->n_reb - 1) * sizeof *c->reb);
  c->n_reb--;
  return true;
}

/* Drops stashed records read at or before epoch of one partition (one),
 * else of the partitions in parts (NULL: all). */
static void unstash(wrk_consumer *c,
                    const rd_kafka_topic_partition_list_t *parts,
                    const wrk_pos *one, unsigned epoch) {
  size_t k = c->head;
  for (size_t i = c->head; i < c->n_stash; i++) {
    const wrk_pos *pos = &c->stash[i].pos;
    bool drop =
        c->stash[i].epoch <= epoch &&
        (one ? wrk_pos_same_partition(pos, one) : wrk_pos_in(pos, parts));
    if (!drop)
      c->stash[k++] = c->stash[i];
    else if (c->stash[i].msg)
      rd_kafka_message_destroy(c->stash[i].msg);
  }
  c->n_stash = k;
}

void wrk_consumer_forget(wrk *w, const wrk_reb *r) {
  wrk_consumer *c = w->cons;
  if (r->kind == WRK_REB_REVOKE)
    unstash(c, r->parts, NULL, r->epoch);
  size_t k = 0;
  for (size_t i = 0; i < c->n_stuck; i++)
    if (!wrk_pos_in(&c->stuck[i].pos, r->parts))
      c->stuck[k++] = c->stuck[i];
  c->n_stuck = k;
}

void wrk_consumer_store(wrk *w, const wrk_plan *p) {
  if (p->oom) {
    ls_error("out of memory deciding offsets; nothing stored", NULL);
    *w->stop = 1;
    return;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  for (size_t i = 0; i < p->n; i++) {
    const wrk_mark *m = &p->v[i];
    /* A partition left behind stores nothing until it was read again from
     * its lowest unfinished offset (mark_stuck keeps the lowest: a record
     * dropped from the stash may be newer than events of the same
     * partition still finishing in this flush). */
    int64_t off = wrk_plan_store_offset(m);
    if (off >= 0 && !stuck_of(w->cons, &m->pos))
      rd_kafka_topic_partition_list_add(l, m->pos.topic, m->pos.partition)
          ->offset = off;
    if (m->unfinished >= 0) {
      wrk_pos at = m->pos;
      at.offset = m->unfinished;
      mark_stuck(w, &at, m->tenant, m->since_us);
    }
  }
  if (l->cnt && w->cons->rk) {
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(w->cons->rk, l);
    if (err)
      ls_warn("offset store failed", "{s:s}", "error", rd_kafka_err2str(err));
    else if (ls_mono_us() >= w->cons->commit_us) {
      /* Committed now (asynchronously, at most every 200 ms) rather than
       * by the auto-commit up to 5 s later: an eager revoke's own commit
       * fails while the group's members rejoin (the dev broker refuses
       * commits then, "rebalance in progress"), and the next owner reads
       * again whatever was stored but not committed. */
      rd_kafka_commit(w->cons->rk, NULL, 1);
      w->cons->commit_us = ls_mono_us() + COMMIT_EVERY_US;
    }
  }
  rd_kafka_topic_partition_list_destroy(l);
}

/* rd_kafka_seek_partitions before librdkafka 2.1.0 waited timeout_ms in
 * microseconds (its changelog, #4230): a 2 s wait was 2 ms, so under load
 * a seek that went through reported a time-out, the partition stayed
 * stuck and was sought and read again at every chore. */
static int seek_wait_ms(int ms) {
  return rd_kafka_version() < 0x02010000 ? ms * 1000 : ms;
}

/* Sets pos's partition to read from pos->offset next; NULL or the error
 * (the caller destroys it). */
static rd_kafka_error_t *seek_to(rd_kafka_t *rk, const wrk_pos *pos) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, pos->topic, pos->partition)->offset =
      pos->offset;
  rd_kafka_error_t *err = rd_kafka_seek_partitions(rk, l, seek_wait_ms(2000));
  if (!err && l->elems[0].err)
    err = rd_kafka_error_new(l->elems[0].err, "%s",
                             rd_kafka_err2str(l->elems[0].err));
  rd_kafka_topic_partition_list_destroy(l);
  return err;
}

void wrk_consumer_defer(wrk *w, const rd_kafka_message_t *m, wrk_plan *plan) {
  wrk_consumer *c = w->cons;
  wrk_pos pos;
  wrk_pos_of(&pos, m);
  const char *topic = rd_kafka_topic_name(m->rkt);
  rd_kafka_topic_partition_list_t *mine = NULL;
  if (c->rk && !rd_kafka_assignment(c->rk, &mine) && mine) {
    bool owned =
        rd_kafka_topic_partition_list_find(mine, topic, m->partition) != NULL;
    rd_kafka_topic_partition_list_destroy(mine);
    if (!owned)
      return; /* stashed before its revoke: its next owner reads it */
  }
  wrk_hold hold =
      wrk_ledger_hold(w->ledger, c->rk, topic, m->partition, m->offset);
  if (hold == WRK_HOLD_ALREADY)
    return; /* read again from an earlier record */
  bool held = hold == WRK_HOLD_SET_BACK;
  /* Paused: set back to this record, fetched from it once resumed. */
  rd_kafka_error_t *err = held ? seek_to(c->rk, &pos) : NULL;
  if (held && !err) {
    /* Its later records polled already are read again too. */
    unstash(c, NULL, &pos, (unsigned)-1);
    return;
  }
  if (err)
    rd_kafka_error_destroy(err);
  /* Not set back: nothing past it is stored, and it is read again from
   * it (wrk_consumer_unstick). Not a failed attempt: no poison count. */
  wrk_plan_unfinished(plan, &pos, -1, 0);
}

void wrk_consumer_unstick(wrk *w) {
  wrk_consumer *c = w->cons;
  int64_t now = ls_mono_us();
  size_t k = 0;
  for (size_t i = 0; i < c->n_stuck; i++) {
    wrk_stuck s = c->stuck[i];
    int ti = s.tenant;
    bool keep = true;
    if (!((size_t)ti < w->cfg->n_tenants &&
          hs_limiter_daily_blocked(w->targets[ti].lim, now, NULL))) {
      rd_kafka_error_t *err = seek_to(c->rk, &s.pos);
      if (err || wrk_fault("seek")) {
        /* Still stuck: nothing past the offset is stored; tried again at
         * the next chores. */
        ls_warn("seek back failed", "{s:s,s:i,s:s}", "topic", s.pos.topic,
                "partition", (int)s.pos.partition, "error",
                err ? rd_kafka_error_string(err) : "injected");
        if (err)
          rd_kafka_error_destroy(err);
      } else {
        ls_info("reading deferred events again", "{s:s,s:i,s:I}", "topic",
                s.pos.topic, "partition", (int)s.pos.partition, "offset",
                (json_int_t)s.pos.offset);
        unstash(c, NULL, &s.pos, (unsigned)-1);
        keep = false;
      }
    }
    if (keep)
      c->stuck[k++] = s;
  }
  c->n_stuck = k;
}

void wrk_consumer_close(wrk *w) {
  wrk_consumer *c = w->cons;
  for (size_t i = c->head; i < c->n_stash; i++)
    if (c->stash[i].msg)
      rd_kafka_message_destroy(c->stash[i].msg);
  c->head = c->n_stash = 0;
  if (c->rk) {
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
      ls_warn("final commit failed", "{s:s}", "error", rd_kafka_err2str(err));
    /* Runs the revoke through on_rebalance (recorded, dropped below). */
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
  }
  free(c->stash);
  for (size_t i = 0; i < c->n_reb; i++)
    if (c->reb[i].parts)
      rd_kafka_topic_partition_list_destroy(c->reb[i].parts);
  free(c->reb);
  free(c->stuck);
  memset(c, 0, sizeof *c);
}

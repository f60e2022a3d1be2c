/* wrk_consumer: the group consumer: subscription, the rebalance callback
 * (records what changed, never touches the batch), the keep-alive used
 * while a flush waits, offsets stored from a flush's plan, partitions left
 * behind ("stuck") and their seek back, the rate-limit share. */
#ifndef WRK_CONSUMER_H
#define WRK_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wrk_event.h"
#include "wrk_plan.h"

struct wrk;

/* A partition left behind: nothing at or past pos.offset is stored until
 * it was read again from there (seek back, wrk_consumer_unstick). */
typedef struct wrk_stuck {
  wrk_pos pos;      /* pos.offset: the first record to read again */
  int tenant;       /* its daily block holds it, or -1: seek at once */
  int64_t since_us; /* ingress receive time of that record */
} wrk_stuck;

/* What the rebalance callback recorded, for the loop to apply. */
typedef enum { WRK_REB_ASSIGN, WRK_REB_REVOKE } wrk_reb_kind;

typedef struct wrk_reb {
  wrk_reb_kind kind;
  rd_kafka_topic_partition_list_t *parts; /* owned; NULL: every partition */
  unsigned epoch; /* REVOKE: stashed records of an epoch <= it were read
                     before the revoke, later ones after it */
} wrk_reb;

/* Records polled while a flush waited (wrk_consumer_service), in order. */
typedef struct wrk_stashed {
  rd_kafka_message_t *msg; /* owned */
  wrk_pos pos;
  unsigned epoch; /* revokes seen when it was polled */
} wrk_stashed;

typedef struct wrk_consumer {
  rd_kafka_t *rk;
  wrk_stuck *stuck;
  size_t n_stuck, cap_stuck;
  wrk_stashed *stash;
  size_t head, n_stash, cap_stash; /* taken from head */
  wrk_reb *reb;
  size_t n_reb, cap_reb;
  unsigned epoch;  /* revokes seen */
  bool revoke_all; /* a revoke could not be recorded (memory) */
  unsigned revoke_all_epoch;
  /* A revoke raises both: the flush sends nothing more (hs_policy.abort)
   * and stores nothing of the revoked partitions. The flush lowers them
   * when it starts. */
  volatile sig_atomic_t abort;
  bool revoked;
  int64_t commit_us; /* mono: the next commit after a store, not before */
} wrk_consumer;

/* Creates the consumer and subscribes to the group's event topics. */
bool wrk_consumer_start(struct wrk *w, char *errstr, size_t errlen);
/* The next record: stashed ones first, else one poll of at most
 * timeout_ms (which may run the rebalance callback). NULL: none. */
rd_kafka_message_t *wrk_consumer_next(struct wrk *w, int timeout_ms);
/* The oldest stashed record, left in the stash (NULL: none), and taking
 * it after a peek (the next flush's intake while a flush waits). */
rd_kafka_message_t *wrk_consumer_peek(struct wrk *w);
void wrk_consumer_pop(struct wrk *w);
/* A rebalance came (recorded, not applied yet). */
bool wrk_consumer_rebalancing(const struct wrk *w);
/* Before a flush: lowers the abort flag and the revoked mark (a revoke
 * from now on raises both). */
void wrk_consumer_arm(struct wrk *w);
/* A revoke came since wrk_consumer_arm. */
bool wrk_consumer_revoked(const struct wrk *w);
/* hs_policy.idle while a flush waits: keeps the group membership alive
 * (rd_kafka_consumer_poll) and stashes what it returns; never touches
 * the batch. */
void wrk_consumer_service(void *w);
/* Takes the oldest recorded rebalance (false: none). The caller destroys
 * r->parts. */
bool wrk_consumer_take(struct wrk *w, wrk_reb *r);
/* The consumer's part of applying a rebalance: a revoke drops the stashed
 * records read before it and the stuck marks of its partitions; an assign
 * drops the stuck marks of the new partitions. */
void wrk_consumer_forget(struct wrk *w, const wrk_reb *r);
/* Stores the plan's offsets: a partition already stuck stores nothing;
 * an unfinished record makes its partition stuck from there. */
void wrk_consumer_store(struct wrk *w, const wrk_plan *p);
/* Seeks partitions whose deferred records can go again (daily reset, or
 * at once for a record left behind by a failure). Call only between
 * flushes, with the batch empty: stashed records of a partition read
 * before its seek are dropped, never stored. */
void wrk_consumer_unstick(struct wrk *w);
/* m (taken from the stash or polled) belongs to a partition whose number
 * is still restoring: its partition is paused (wrk_ledger_hold) and set
 * back to m, its later stashed records dropped, so it is read again from
 * m once restored. When either fails, plan keeps m unfinished and the
 * partition is read again from it later (wrk_consumer_unstick). A record
 * of a partition no longer assigned (stashed before its revoke) is only
 * dropped. */
void wrk_consumer_defer(struct wrk *w, const rd_kafka_message_t *m,
                        wrk_plan *plan);
/* Partitions owned now. */
int wrk_consumer_owned(struct wrk *w);
/* Sets this process's share of every portal's rate limit: the group's
 * share times the fraction of the group's partitions it owns. */
void wrk_consumer_set_share(struct wrk *w, int owned);
/* Commits what is stored, leaves the group, frees everything. */
void wrk_consumer_close(struct wrk *w);

#endif

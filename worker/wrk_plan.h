/* wrk_plan: what a flush lets the consumer store. Per partition: the next
 * offset to store (after the last final event) and the lowest offset that
 * is not final; the consumer stores nothing at or past that one until the
 * partition was read again from it (docs/worker.md "the invariant"). */
#ifndef WRK_PLAN_H
#define WRK_PLAN_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wrk_event.h"

typedef struct wrk_mark {
  wrk_pos pos;        /* topic and partition; pos.offset unused */
  int64_t store;      /* last final offset + 1; -1: nothing final */
  int64_t unfinished; /* lowest offset not final; -1: none */
  int tenant;         /* tenant index whose daily block holds it, or -1:
                         read again at once */
  int64_t since_us;   /* its ingress receive time (deferred age) */
} wrk_mark;

typedef struct wrk_plan {
  wrk_mark *v;
  size_t n, cap;
  bool oom; /* a mark could not be kept: store nothing */
} wrk_plan;

/* One record that reached a final state with its outputs acknowledged. */
void wrk_plan_final(wrk_plan *p, const wrk_pos *pos);
/* One record left in Kafka (deferred, failed, abandoned). */
void wrk_plan_unfinished(wrk_plan *p, const wrk_pos *pos, int tenant,
                         int64_t since_us);
/* The offset to store for a mark: past every final record and never past
 * an unfinished one; -1 when nothing may be stored. */
int64_t wrk_plan_store_offset(const wrk_mark *m);
/* Forgets the partitions of parts (NULL: all), e.g. revoked ones: their
 * next owner reads them again. */
void wrk_plan_drop(wrk_plan *p, const rd_kafka_topic_partition_list_t *parts);
void wrk_plan_free(wrk_plan *p);

#endif

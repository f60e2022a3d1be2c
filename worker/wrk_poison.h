/* wrk_poison: records left behind by a failure, counted by position; after
 * worker.poison_attempts failed attempts the record goes to the DLQ
 * (reason poison) on its next read, so its partition moves on. */
#ifndef WRK_POISON_H
#define WRK_POISON_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "wrk_event.h"

typedef struct wrk_poison_rec {
  wrk_pos pos;
  int n;           /* failed attempts */
  char error[160]; /* the last one's error */
  bool dlq_failed; /* its DLQ copy was refused: write a stub */
} wrk_poison_rec;

typedef struct wrk_poison {
  wrk_poison_rec *v;
  size_t n, cap;
} wrk_poison;

/* Counts one failed attempt of the record at pos. */
void wrk_poison_note(wrk_poison *p, const wrk_pos *pos, const char *error,
                     bool dlq_failed);
/* The record's entry, or NULL when it never failed. */
const wrk_poison_rec *wrk_poison_find(const wrk_poison *p, const wrk_pos *pos);
/* true when the record had its attempts: e gets a DLQ outcome. */
bool wrk_poison_check(const wrk_poison *p, int poison_after, wrk_event *e);
void wrk_poison_clear(wrk_poison *p, const wrk_pos *pos);
/* Forgets the records of parts (NULL: all), e.g. revoked partitions. */
void wrk_poison_forget(wrk_poison *p,
                       const rd_kafka_topic_partition_list_t *parts);
void wrk_poison_free(wrk_poison *p);

#endif

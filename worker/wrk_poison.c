/* wrk_poison: failed-attempt counts of records, by position. */
#include "wrk_poison.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_array.h"
static bool same_record(const wrk_pos *a, const wrk_pos *b) {
  return a->offset == b->offset && wrk_pos_same_partition(a, b);
}

const wrk_poison_rec *wrk_poison_find(const wrk_poison *p, const wrk_pos *pos) {
  for (size_t i = 0; i < p->n; i++)
    if (same_record(&p->v[i].pos, pos))
      return &p->v[i];
  return NULL;
}

void wrk_poison_note(wrk_poison *p, const wrk_pos *pos, const char *error,
                     bool dlq_failed) {
  wrk_poison_rec *r = (wrk_poison_rec *)wrk_poison_find(p, pos);
  if (!r) {
    if (!LS_ARRAY_GROW(p->v, p->cap, p->n + 1))
      return; /* not counted: the record is tried once more */
    r = &p->v[p->n++];
    memset(r, 0, sizeof *r);
    r->pos = *pos;
  }
  r->n++;
  r->dlq_failed |= dlq_failed;
  snprintf(r->error, sizeof r->error, "%s", error && *error ? error : "failed");
}

bool wrk_poison_check(const wrk_poison *p, int poison_after, wrk_event *e) {
  const wrk_poison_rec *r = e->has_pos ? wrk_poison_find(p, &e->pos) : NULL;
  if (!r || r->n < poison_after)
    return false;
  char msg[300];
  snprintf(msg, sizeof msg, "gave up after %d failed attempts: %s", r->n,
           r->error);
  wrk_event_fail(e, WRK_DLQ_POISON, 0, "POISON", msg);
  e->attempts = r->n;
  /* Its DLQ copy failed already (one more read after poisoning): write
   * the stub, which always fits. */
  e->dlq_stub = r->dlq_failed;
  return true;
}

void wrk_poison_clear(wrk_poison *p, const wrk_pos *pos) {
  for (size_t i = 0; i < p->n; i++)
    if (same_record(&p->v[i].pos, pos)) {
      p->v[i] = p->v[--p->n];
      return;
    }
}

void wrk_poison_forget(wrk_poison *p,
                       const rd_kafka_topic_partition_list_t *parts) {
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++)
    if (!wrk_pos_in(&p->v[i].pos, parts))
      p->v[k++] = p->v[i];
  p->n = k;
}

void wrk_poison_free(wrk_poison *p) {
  free(p->v);
  memset(p, 0, sizeof *p);
}

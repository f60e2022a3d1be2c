/* wrk_plan: per-partition store decisions of one flush. */
#include "wrk_plan.h"

#include <stdlib.h>
#include <string.h>

#include "ls_array.h"
static wrk_mark *mark_of(wrk_plan *p, const wrk_pos *pos) {
  for (size_t i = 0; i < p->n; i++)
    if (wrk_pos_same_partition(&p->v[i].pos, pos))
      return &p->v[i];
  if (!LS_ARRAY_GROW(p->v, p->cap, p->n + 1)) {
    p->oom = true;
    return NULL;
  }
  wrk_mark *m = &p->v[p->n++];
  memset(m, 0, sizeof *m);
  m->pos = *pos;
  m->store = -1;
  m->unfinished = -1;
  m->tenant = -1;
  return m;
}

void wrk_plan_final(wrk_plan *p, const wrk_pos *pos) {
  wrk_mark *m = mark_of(p, pos);
  if (m && pos->offset + 1 > m->store)
    m->store = pos->offset + 1;
}

void wrk_plan_unfinished(wrk_plan *p, const wrk_pos *pos, int tenant,
                         int64_t since_us) {
  wrk_mark *m = mark_of(p, pos);
  if (!m || (m->unfinished >= 0 && m->unfinished <= pos->offset))
    return;
  m->unfinished = pos->offset;
  m->tenant = tenant;
  m->since_us = since_us;
}

int64_t wrk_plan_store_offset(const wrk_mark *m) {
  if (m->store < 0)
    return -1;
  /* Everything below the lowest unfinished record of the flush is final
   * (or was stored before): storing it never skips an unfinished one. */
  if (m->unfinished >= 0 && m->unfinished < m->store)
    return m->unfinished > 0 ? m->unfinished : -1;
  return m->store;
}

void wrk_plan_drop(wrk_plan *p, const rd_kafka_topic_partition_list_t *parts) {
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++)
    if (!wrk_pos_in(&p->v[i].pos, parts))
      p->v[k++] = p->v[i];
  p->n = k;
}

void wrk_plan_free(wrk_plan *p) {
  free(p->v);
  memset(p, 0, sizeof *p);
}

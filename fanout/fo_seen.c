/* fo_seen: a FIFO-bounded set of event ids (ring of slots, chained hash). */
#include "fo_seen.h"

#include <stdlib.h>
#include <string.h>

#define ID_MAX 48

typedef struct {
  char id[ID_MAX];
  long next; /* next slot in the bucket chain, -1 at the end */
  bool used;
} slot;

struct fo_seen {
  slot *slots;
  long *buckets;
  size_t cap, nb, head;
};

static size_t bucket_of(const fo_seen *s, const char *id) {
  unsigned long h = 5381;
  for (; *id; id++)
    h = h * 33 + (unsigned char)*id;
  return h % s->nb;
}

fo_seen *fo_seen_new(size_t capacity) {
  fo_seen *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->cap = capacity ? capacity : 1;
  s->nb = s->cap * 2;
  s->slots = calloc(s->cap, sizeof *s->slots);
  s->buckets = malloc(s->nb * sizeof *s->buckets);
  if (!s->slots || !s->buckets) {
    fo_seen_free(s);
    return NULL;
  }
  for (size_t i = 0; i < s->nb; i++)
    s->buckets[i] = -1;
  return s;
}

void fo_seen_free(fo_seen *s) {
  if (!s)
    return;
  free(s->slots);
  free(s->buckets);
  free(s);
}

static void unlink_slot(fo_seen *s, long k) {
  for (long *p = &s->buckets[bucket_of(s, s->slots[k].id)]; *p >= 0;
       p = &s->slots[*p].next)
    if (*p == k) {
      *p = s->slots[k].next;
      return;
    }
}

bool fo_seen_has(const fo_seen *s, const char *id) {
  if (!s || strlen(id) >= ID_MAX)
    return false;
  for (long k = s->buckets[bucket_of(s, id)]; k >= 0; k = s->slots[k].next)
    if (!strcmp(s->slots[k].id, id))
      return true;
  return false;
}

bool fo_seen_add(fo_seen *s, const char *id) {
  if (!s || strlen(id) >= ID_MAX || fo_seen_has(s, id))
    return false;
  size_t b = bucket_of(s, id);
  long k = (long)s->head;
  s->head = (s->head + 1) % s->cap;
  if (s->slots[k].used)
    unlink_slot(s, k);
  memcpy(s->slots[k].id, id, strlen(id) + 1);
  s->slots[k].used = true;
  s->slots[k].next = s->buckets[b];
  s->buckets[b] = k;
  return true;
}

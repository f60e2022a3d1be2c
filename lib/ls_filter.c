/* ls_filter: per-lead category state and held records for one partition. */
#include "ls_filter.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ls_event.h"

typedef struct lead {
  struct lead *next;
  char *key;
  ls_cat_state state;
  int64_t state_offset;
  ls_held_item *items;
  size_t n, cap;
} lead;

struct ls_filter {
  lead **buckets;
  size_t nbuckets;
  size_t nleads;
  size_t nheld;
  ls_payload_free_fn free_payload;
};

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

ls_filter *ls_filter_new(ls_payload_free_fn free_payload) {
  ls_filter *f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  f->nbuckets = 1024;
  f->buckets = calloc(f->nbuckets, sizeof *f->buckets);
  if (!f->buckets) {
    free(f);
    return NULL;
  }
  f->free_payload = free_payload;
  return f;
}

void ls_filter_item_free(ls_filter *f, ls_held_item *it) {
  free(it->event_id);
  if (it->payload && f->free_payload)
    f->free_payload(it->payload);
  it->event_id = NULL;
  it->payload = NULL;
}

static void lead_free(ls_filter *f, lead *l) {
  for (size_t i = 0; i < l->n; i++)
    ls_filter_item_free(f, &l->items[i]);
  free(l->items);
  free(l->key);
  free(l);
}

void ls_filter_free(ls_filter *f) {
  if (!f)
    return;
  for (size_t b = 0; b < f->nbuckets; b++) {
    lead *l = f->buckets[b];
    while (l) {
      lead *n = l->next;
      lead_free(f, l);
      l = n;
    }
  }
  free(f->buckets);
  free(f);
}

static void rehash(ls_filter *f) {
  size_t nb = f->nbuckets * 2;
  lead **nbk = calloc(nb, sizeof *nbk);
  if (!nbk)
    return; /* keep the old table: slower, still correct */
  for (size_t b = 0; b < f->nbuckets; b++) {
    lead *l = f->buckets[b];
    while (l) {
      lead *n = l->next;
      size_t i = fnv1a(l->key) & (nb - 1);
      l->next = nbk[i];
      nbk[i] = l;
      l = n;
    }
  }
  free(f->buckets);
  f->buckets = nbk;
  f->nbuckets = nb;
}

static lead *find(const ls_filter *f, const char *key) {
  for (lead *l = f->buckets[fnv1a(key) & (f->nbuckets - 1)]; l; l = l->next)
    if (!strcmp(l->key, key))
      return l;
  return NULL;
}

static lead *get(ls_filter *f, const char *key) {
  lead *l = find(f, key);
  if (l)
    return l;
  if (f->nleads >= f->nbuckets)
    rehash(f);
  l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->key = strdup(key);
  if (!l->key) {
    free(l);
    return NULL;
  }
  l->state_offset = -1;
  size_t i = fnv1a(key) & (f->nbuckets - 1);
  l->next = f->buckets[i];
  f->buckets[i] = l;
  f->nleads++;
  return l;
}

ls_cat_state ls_filter_state(const ls_filter *f, const char *lead_key,
                             int64_t *set_at) {
  const lead *l = find(f, lead_key);
  if (set_at)
    *set_at = l ? l->state_offset : -1;
  return l ? l->state : LS_CAT_UNKNOWN;
}

void ls_filter_set_state(ls_filter *f, const char *lead_key, ls_cat_state st,
                         int64_t offset) {
  lead *l = get(f, lead_key);
  if (!l || offset < l->state_offset)
    return;
  l->state = st;
  l->state_offset = offset;
}

bool ls_filter_hold(ls_filter *f, const char *lead_key, const char *event_id,
                    int64_t event_time_us, int64_t held_us, int64_t offset,
                    void *payload) {
  lead *l = get(f, lead_key);
  if (!l)
    goto refuse;
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->items[i].event_id, event_id))
      goto refuse;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4;
    ls_held_item *p = realloc(l->items, cap * sizeof *p);
    if (!p)
      goto refuse;
    l->items = p;
    l->cap = cap;
  }
  ls_held_item *it = &l->items[l->n];
  it->event_id = strdup(event_id);
  if (!it->event_id)
    goto refuse;
  it->event_time_us = event_time_us;
  it->held_us = held_us;
  it->offset = offset;
  it->payload = payload;
  l->n++;
  f->nheld++;
  return true;
refuse:
  if (payload && f->free_payload)
    f->free_payload(payload);
  return false;
}

static int by_time(const void *a, const void *b) {
  const ls_held_item *x = a, *y = b;
  if (x->event_time_us != y->event_time_us)
    return x->event_time_us < y->event_time_us ? -1 : 1;
  if (x->offset != y->offset)
    return x->offset < y->offset ? -1 : 1;
  return 0;
}

size_t ls_filter_take(ls_filter *f, const char *lead_key, ls_held_item **out) {
  lead *l = find(f, lead_key);
  *out = NULL;
  if (!l || !l->n)
    return 0;
  qsort(l->items, l->n, sizeof *l->items, by_time);
  size_t n = l->n;
  *out = l->items;
  f->nheld -= n;
  l->items = NULL;
  l->n = l->cap = 0;
  return n;
}

bool ls_filter_forget(ls_filter *f, const char *lead_key,
                      const char *event_id) {
  lead *l = find(f, lead_key);
  if (!l)
    return false;
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(l->items[i].event_id, event_id)) {
      ls_filter_item_free(f, &l->items[i]);
      l->items[i] = l->items[--l->n];
      f->nheld--;
      return true;
    }
  return false;
}

size_t ls_filter_take_expired(ls_filter *f, int64_t cutoff_us,
                              ls_held_item **out, char ***keys) {
  size_t n = 0, cap = 0;
  *out = NULL;
  *keys = NULL;
  for (size_t b = 0; b < f->nbuckets; b++)
    for (lead *l = f->buckets[b]; l; l = l->next)
      for (size_t i = 0; i < l->n;) {
        if (l->items[i].held_us >= cutoff_us) {
          i++;
          continue;
        }
        if (n == cap) {
          size_t nc = cap ? cap * 2 : 16;
          ls_held_item *po = realloc(*out, nc * sizeof *po);
          if (!po)
            return n;
          *out = po;
          char **pk = realloc(*keys, nc * sizeof *pk);
          if (!pk)
            return n;
          *keys = pk;
          cap = nc;
        }
        (*keys)[n] = strdup(l->key);
        (*out)[n++] = l->items[i];
        l->items[i] = l->items[--l->n];
        f->nheld--;
      }
  return n;
}

void ls_filter_foreach_held(const ls_filter *f,
                            void (*fn)(const char *lead_key,
                                       const ls_held_item *it, void *ud),
                            void *ud) {
  for (size_t b = 0; b < f->nbuckets; b++)
    for (const lead *l = f->buckets[b]; l; l = l->next)
      for (size_t i = 0; i < l->n; i++)
        fn(l->key, &l->items[i], ud);
}

size_t ls_filter_leads(const ls_filter *f) { return f->nleads; }
size_t ls_filter_held(const ls_filter *f) { return f->nheld; }

void ls_event_category(const json_t *root, char *id, size_t idlen, char *name,
                       size_t namelen) {
  const json_t *lc = json_object_get(root, "lead_category");
  const json_t *vid = json_object_get(lc, "new_id");
  const json_t *vname = json_object_get(lc, "new_name");
  if (!vid || json_is_null(vid))
    vid = json_object_get(root, "lead_category_id");
  if (!json_is_string(vname))
    vname = json_object_get(root, "category");
  if (json_is_object(vname)) /* lead_data.category shape */
    vname = json_object_get(vname, "name");
  ls_json_id(vid, id, idlen);
  if (json_is_string(vname) && json_string_length(vname) < namelen)
    memcpy(name, json_string_value(vname), json_string_length(vname) + 1);
  else
    name[0] = '\0';
}

bool ls_tenant_allows(const ls_tenant *t, const char *id, const char *name) {
  if (!t->has_filter)
    return true;
  for (size_t i = 0; i < t->n_categories; i++) {
    const char *c = t->categories[i];
    if (id && id[0] && !strcmp(c, id))
      return true;
    if (name && name[0] && !strcasecmp(c, name))
      return true;
  }
  return false;
}

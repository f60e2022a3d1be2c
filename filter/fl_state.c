/* fl_state: per-lead category and held offsets of one partition, in two
 * flat tables: an open-addressing table of leads (32 bytes a slot) and a
 * pool of held records (24 bytes each) chained per lead. */
#include "fl_state.h"

#include <stdlib.h>
#include <string.h>

#include "ls_array.h"
#include "ls_hash.h"

typedef struct {
  fl_lead id;
  int64_t cat_offset; /* held offset of the deciding record, -1: none */
  uint32_t head;      /* first held record: pool index + 1, 0: none */
  uint16_t tenant;
  uint8_t cat;
  uint8_t used;
} slot;

typedef struct {
  int64_t offset;
  uint64_t evid;
  uint32_t held_s;
  uint32_t next; /* pool index + 1 of the lead's next record, 0: last */
} pooled;

_Static_assert(sizeof(slot) == 32, "a lead slot stays 32 bytes");
_Static_assert(sizeof(pooled) == 24, "a held record stays 24 bytes");

struct fl_state {
  slot *slots;
  size_t cap; /* power of two */
  size_t nleads;
  pooled *pool;
  uint32_t pool_cap, pool_hw; /* allocated, ever used */
  uint32_t free_head;         /* free list through next, index + 1 */
  size_t nheld;
};

static uint64_t hex64(const char *h) {
  uint64_t v = 0;
  for (int i = 0; i < 16; i++) {
    char c = h[i];
    v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

fl_lead fl_lead_of(const char *lead_key) {
  char hex[65];
  ls_sha256_hex(lead_key, strlen(lead_key), hex);
  return (fl_lead){hex64(hex), hex64(hex + 16)};
}

uint64_t fl_evid_of(const char *event_id) {
  size_t n = strlen(event_id);
  bool hex = n == 32;
  for (size_t i = 0; hex && i < n; i++)
    hex = (event_id[i] >= '0' && event_id[i] <= '9') ||
          (event_id[i] >= 'a' && event_id[i] <= 'f');
  if (hex)
    return hex64(event_id);
  uint64_t h = 1469598103934665603ull; /* FNV-1a: ids that are not ours */
  for (; *event_id; event_id++) {
    h ^= (unsigned char)*event_id;
    h *= 1099511628211ull;
  }
  return h;
}

fl_state *fl_state_new(void) {
  fl_state *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->cap = 64;
  s->slots = calloc(s->cap, sizeof *s->slots);
  if (!s->slots) {
    free(s);
    return NULL;
  }
  return s;
}

void fl_state_free(fl_state *s) {
  if (!s)
    return;
  free(s->slots);
  free(s->pool);
  free(s);
}

static bool same(fl_lead a, fl_lead b) {
  return a.hi == b.hi && a.lo == b.lo;
}

static slot *find(const fl_state *s, fl_lead id) {
  size_t mask = s->cap - 1;
  for (size_t i = id.lo & mask;; i = (i + 1) & mask) {
    slot *sl = &s->slots[i];
    if (!sl->used)
      return NULL;
    if (same(sl->id, id))
      return sl;
  }
}

static bool grow(fl_state *s) {
  size_t ncap = s->cap * 2;
  slot *n = calloc(ncap, sizeof *n);
  if (!n)
    return false;
  for (size_t i = 0; i < s->cap; i++) {
    if (!s->slots[i].used)
      continue;
    size_t j = s->slots[i].id.lo & (ncap - 1);
    while (n[j].used)
      j = (j + 1) & (ncap - 1);
    n[j] = s->slots[i];
  }
  free(s->slots);
  s->slots = n;
  s->cap = ncap;
  return true;
}

static slot *get(fl_state *s, fl_lead id, uint16_t tenant) {
  slot *sl = find(s, id);
  if (sl) {
    if (sl->tenant == FL_TENANT_NONE)
      sl->tenant = tenant;
    return sl;
  }
  /* Up to 80 % full: linear probing stays a few slots per look-up, and a
   * table of 32-byte slots costs at most 80 bytes per lead after growing. */
  if ((s->nleads + 1) * 5 > s->cap * 4 && !grow(s))
    return NULL;
  size_t mask = s->cap - 1;
  size_t i = id.lo & mask;
  while (s->slots[i].used)
    i = (i + 1) & mask;
  sl = &s->slots[i];
  sl->id = id;
  sl->cat_offset = -1;
  sl->head = 0;
  sl->tenant = tenant;
  sl->cat = FL_CAT_UNKNOWN;
  sl->used = 1;
  s->nleads++;
  return sl;
}

fl_cat fl_state_cat(const fl_state *s, fl_lead lead, int64_t *set_at) {
  const slot *sl = find(s, lead);
  if (set_at)
    *set_at = sl ? sl->cat_offset : -1;
  return sl ? (fl_cat)sl->cat : FL_CAT_UNKNOWN;
}

bool fl_state_set_cat(fl_state *s, fl_lead lead, uint16_t tenant, fl_cat c,
                      int64_t offset) {
  slot *sl = get(s, lead, tenant);
  if (!sl)
    return false;
  if (offset >= sl->cat_offset) {
    sl->cat = (uint8_t)c;
    sl->cat_offset = offset;
  }
  return true;
}

static uint32_t pool_alloc(fl_state *s) {
  if (s->free_head) {
    uint32_t i = s->free_head;
    s->free_head = s->pool[i - 1].next;
    return i;
  }
  if (s->pool_hw == s->pool_cap) {
    /* By half again: less slack than doubling at millions of records. */
    uint32_t ncap = s->pool_cap ? s->pool_cap + s->pool_cap / 2 : 64;
    if (ncap <= s->pool_cap)
      return 0; /* 4 billion held records in one partition */
    pooled *p = realloc(s->pool, (size_t)ncap * sizeof *p);
    if (!p)
      return 0;
    s->pool = p;
    s->pool_cap = ncap;
  }
  return ++s->pool_hw;
}

static void pool_release(fl_state *s, uint32_t i) {
  s->pool[i - 1].next = s->free_head;
  s->free_head = i;
}

fl_hold_result fl_state_hold(fl_state *s, fl_lead lead, uint16_t tenant,
                             uint64_t evid, int64_t offset, int64_t held_us) {
  slot *sl = get(s, lead, tenant);
  if (!sl)
    return FL_NOMEM;
  uint32_t last = 0; /* the lead's last record: the new one goes after */
  for (uint32_t i = sl->head; i; i = s->pool[i - 1].next) {
    if (s->pool[i - 1].evid == evid)
      return FL_DUPLICATE;
    last = i;
  }
  uint32_t i = pool_alloc(s);
  if (!i)
    return FL_NOMEM;
  pooled *it = &s->pool[i - 1];
  it->offset = offset;
  it->evid = evid;
  it->held_s = held_us > 0 ? (uint32_t)(held_us / 1000000) : 0;
  it->next = 0;
  if (last)
    s->pool[last - 1].next = i;
  else
    sl->head = i;
  s->nheld++;
  return FL_HELD;
}

static fl_item item_of(const pooled *p) {
  return (fl_item){p->offset, p->evid, (int64_t)p->held_s * 1000000};
}

static int by_offset(const void *a, const void *b) {
  const fl_item *x = a, *y = b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

bool fl_state_take(fl_state *s, fl_lead lead, fl_item **out, size_t *n) {
  slot *sl = find(s, lead);
  *out = NULL;
  *n = 0;
  if (!sl || !sl->head)
    return true;
  size_t k = 0;
  for (uint32_t i = sl->head; i; i = s->pool[i - 1].next)
    k++;
  fl_item *v = malloc(k * sizeof *v);
  if (!v)
    return false;
  k = 0;
  for (uint32_t i = sl->head; i;) {
    uint32_t next = s->pool[i - 1].next;
    v[k++] = item_of(&s->pool[i - 1]);
    pool_release(s, i);
    i = next;
  }
  sl->head = 0;
  s->nheld -= k;
  qsort(v, k, sizeof *v, by_offset);
  *out = v;
  *n = k;
  return true;
}

bool fl_state_forget(fl_state *s, fl_lead lead, uint64_t evid) {
  slot *sl = find(s, lead);
  if (!sl)
    return false;
  for (uint32_t *link = &sl->head; *link; link = &s->pool[*link - 1].next) {
    uint32_t i = *link;
    if (s->pool[i - 1].evid == evid) {
      *link = s->pool[i - 1].next;
      pool_release(s, i);
      s->nheld--;
      return true;
    }
  }
  return false;
}

size_t fl_state_take_expired(fl_state *s, int64_t cutoff_us, fl_item **out) {
  size_t n = 0, cap = 0;
  *out = NULL;
  for (size_t k = 0; k < s->cap; k++) {
    slot *sl = &s->slots[k];
    if (!sl->used)
      continue;
    for (uint32_t *link = &sl->head; *link;) {
      uint32_t i = *link;
      pooled *p = &s->pool[i - 1];
      if ((int64_t)p->held_s * 1000000 >= cutoff_us) {
        link = &p->next;
        continue;
      }
      if (!LS_ARRAY_GROW(*out, cap, n + 1))
        goto out; /* the rest expires on the next round */
      (*out)[n++] = item_of(p);
      *link = p->next;
      pool_release(s, i);
      s->nheld--;
    }
  }
out:
  if (n)
    qsort(*out, n, sizeof **out, by_offset);
  return n;
}

void fl_state_foreach_held(const fl_state *s,
                           void (*fn)(uint16_t tenant, const fl_item *it,
                                      void *ud),
                           void *ud) {
  for (size_t k = 0; k < s->cap; k++) {
    const slot *sl = &s->slots[k];
    if (!sl->used)
      continue;
    for (uint32_t i = sl->head; i; i = s->pool[i - 1].next) {
      fl_item it = item_of(&s->pool[i - 1]);
      fn(sl->tenant, &it, ud);
    }
  }
}

void fl_state_foreach_lead(const fl_state *s,
                           void (*fn)(fl_lead lead, uint16_t tenant, fl_cat c,
                                      int64_t set_at, void *ud),
                           void *ud) {
  for (size_t k = 0; k < s->cap; k++)
    if (s->slots[k].used)
      fn(s->slots[k].id, s->slots[k].tenant, (fl_cat)s->slots[k].cat,
         s->slots[k].cat_offset, ud);
}

size_t fl_state_leads(const fl_state *s) {
  return s->nleads;
}
size_t fl_state_held(const fl_state *s) {
  return s->nheld;
}

size_t fl_state_bytes(const fl_state *s) {
  return sizeof *s + s->cap * sizeof(slot) +
         (size_t)s->pool_cap * sizeof(pooled);
}

size_t fl_state_entries(const fl_state *s) {
  size_t n = 0;
  for (size_t k = 0; k < s->cap; k++)
    n += s->slots[k].used &&
         (s->slots[k].cat != FL_CAT_UNKNOWN || s->slots[k].head);
  return n + s->nheld;
}

/* -- snapshots ------------------------------------------------------- */

#define LEAD_BYTES 29 /* hi, lo, category offset, tenant, category, n */
#define ITEM_BYTES 20 /* offset, event id hash, held second */

static uint8_t *put(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++)
    *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

size_t fl_state_encode(const fl_state *s, fl_cursor *c, uint8_t *buf,
                       size_t cap) {
  if (cap < FL_CHUNK_MIN)
    return 0;
  uint8_t *p = buf, *end = buf + cap;
  memcpy(p, "LSF1", 4);
  p += 4;
  for (; c->slot < s->cap; c->slot++, c->item = 0) {
    const slot *sl = &s->slots[c->slot];
    if (!sl->used || (sl->cat == FL_CAT_UNKNOWN && !sl->head))
      continue;
    if (end - p < LEAD_BYTES + ITEM_BYTES)
      break; /* the next chunk */
    uint32_t i = c->item ? c->item : sl->head;
    p = put(p, sl->id.hi, 8);
    p = put(p, sl->id.lo, 8);
    p = put(p, (uint64_t)sl->cat_offset, 8);
    p = put(p, sl->tenant, 2);
    p = put(p, sl->cat, 1);
    uint8_t *np = p;
    p += 2;
    unsigned n = 0;
    for (; i && end - p >= ITEM_BYTES && n < 0xffff;
         i = s->pool[i - 1].next, n++) {
      const pooled *it = &s->pool[i - 1];
      p = put(p, (uint64_t)it->offset, 8);
      p = put(p, it->evid, 8);
      p = put(p, it->held_s, 4);
    }
    put(np, n, 2);
    if (i) {
      c->item = i; /* the rest of this lead goes into the next chunk */
      return (size_t)(p - buf);
    }
  }
  return p - buf > 4 ? (size_t)(p - buf) : 0;
}

bool fl_state_decode(fl_state *s, const uint8_t *buf, size_t len,
                     const uint16_t *tmap, size_t ntmap) {
  if (len < 4 || memcmp(buf, "LSF1", 4))
    return false;
  const uint8_t *p = buf + 4, *end = buf + len;
  while (p < end) {
    if (end - p < LEAD_BYTES)
      return false;
    fl_lead id = {get_le(p, 8), get_le(p + 8, 8)};
    int64_t cat_off = (int64_t)get_le(p + 16, 8);
    uint16_t t = (uint16_t)get_le(p + 24, 2);
    uint8_t cat = p[26];
    size_t n = (size_t)get_le(p + 27, 2);
    p += LEAD_BYTES;
    if (cat > FL_CAT_DENIED || (size_t)(end - p) < n * ITEM_BYTES)
      return false;
    slot *sl = get(s, id, t < ntmap ? tmap[t] : FL_TENANT_NONE);
    if (!sl)
      return false;
    if (cat != FL_CAT_UNKNOWN && cat_off >= sl->cat_offset) {
      sl->cat = cat;
      sl->cat_offset = cat_off;
    }
    uint32_t last = 0;
    for (uint32_t i = sl->head; i; i = s->pool[i - 1].next)
      last = i;
    for (size_t k = 0; k < n; k++, p += ITEM_BYTES) {
      uint32_t i = pool_alloc(s);
      if (!i)
        return false;
      /* sl stays valid: pool_alloc touches only the pool. */
      pooled *it = &s->pool[i - 1];
      it->offset = (int64_t)get_le(p, 8);
      it->evid = get_le(p + 8, 8);
      it->held_s = (uint32_t)get_le(p + 16, 4);
      it->next = 0;
      if (last)
        s->pool[last - 1].next = i;
      else
        sl->head = i;
      last = i;
      s->nheld++;
    }
  }
  return true;
}

size_t fl_state_encoded_bytes(const fl_state *s) {
  return s->nleads * LEAD_BYTES + s->nheld * ITEM_BYTES;
}

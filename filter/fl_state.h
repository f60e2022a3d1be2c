/* fl_state: the category filter's state of one partition, small enough to
 * keep for millions of held leads (pure, no Kafka; docs/filter.md
 * "State").
 *
 * Per lead: a 128-bit hash of its key, its category decision and the
 * leadsync.held offset of the record that made it, the tenant (an index
 * into the config), and its held records as offsets into leadsync.held,
 * each with a 64-bit hash of its event id (duplicates, done markers) and
 * the second it was held (expiry). The records themselves stay in Kafka:
 * the filter reads them back when it releases or expires them. */
#ifndef FL_STATE_H
#define FL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  FL_CAT_UNKNOWN = 0, /* no category seen yet */
  FL_CAT_ALLOWED,
  FL_CAT_DENIED,
} fl_cat;

/* A lead: the first 128 bits of SHA-256 over its key (like event ids, a
 * collision is as unlikely as two events sharing an id). */
typedef struct {
  uint64_t hi, lo;
} fl_lead;

#define FL_TENANT_NONE 0xffffu

/* One held record. */
typedef struct {
  int64_t offset;  /* in leadsync.held (this partition) */
  uint64_t evid;   /* hash of its event id */
  int64_t held_us; /* when it was held: the expiry clock (1 s resolution) */
} fl_item;

typedef enum { FL_HELD, FL_DUPLICATE, FL_NOMEM } fl_hold_result;

typedef struct fl_state fl_state;

fl_lead fl_lead_of(const char *lead_key);
uint64_t fl_evid_of(const char *event_id);

fl_state *fl_state_new(void);
void fl_state_free(fl_state *s);

/* The lead's category and the held offset that set it (-1 when unknown). */
fl_cat fl_state_cat(const fl_state *s, fl_lead lead, int64_t *set_at);
/* Records a category decision made by the record at held offset `offset`.
 * Decisions older than the one recorded (smaller offset) are ignored, so a
 * lead_state snapshot followed by a replay of older records cannot
 * regress. false when out of memory. */
bool fl_state_set_cat(fl_state *s, fl_lead lead, uint16_t tenant, fl_cat c,
                      int64_t offset);
/* Keeps a record until its lead is released; an event id already held for
 * this lead is not added twice (FL_DUPLICATE). */
fl_hold_result fl_state_hold(fl_state *s, fl_lead lead, uint16_t tenant,
                             uint64_t evid, int64_t offset, int64_t held_us);
/* Hands over every held record of the lead in offset order: *out (NULL
 * when none; else malloc'd, the caller frees it) and *n. false when out
 * of memory: then the records stay held. */
bool fl_state_take(fl_state *s, fl_lead lead, fl_item **out, size_t *n);
/* Drops one held record (a "done" marker seen during replay). */
bool fl_state_forget(fl_state *s, fl_lead lead, uint64_t evid);
/* Hands over every record held since before cutoff_us in offset order
 * (*out malloc'd; the caller frees it). Out of memory: fewer (the rest
 * stays held until the next call). */
size_t fl_state_take_expired(fl_state *s, int64_t cutoff_us, fl_item **out);

/* Calls fn for every held record (read-only; metrics). */
void fl_state_foreach_held(const fl_state *s,
                           void (*fn)(uint16_t tenant, const fl_item *it,
                                      void *ud),
                           void *ud);
/* Calls fn for every lead with its category (restore: seeding from the
 * lead_state snapshot). */
void fl_state_foreach_lead(const fl_state *s,
                           void (*fn)(fl_lead lead, uint16_t tenant, fl_cat c,
                                      int64_t set_at, void *ud),
                           void *ud);
size_t fl_state_leads(const fl_state *s);
size_t fl_state_held(const fl_state *s);
/* Bytes the state holds on the heap (tables at their capacity). */
size_t fl_state_bytes(const fl_state *s);
/* Entries a snapshot of the state writes: leads with a category or a
 * held record, plus held records (the checkpoint's size). */
size_t fl_state_entries(const fl_state *s);
/* At most the bytes a snapshot of the state writes (constant time). */
size_t fl_state_encoded_bytes(const fl_state *s);

/* Snapshots (docs/filter.md "Checkpoints"): the state as a sequence of
 * binary chunks. A chunk is "LSF1" then lead entries, little-endian:
 * lead hi u64, lo u64, category offset i64, tenant u16, category u8,
 * n u16, then n held records (offset i64, event id hash u64, held second
 * u32). A lead with many held records may span chunks (one entry per
 * chunk); leads with no category and nothing held are not written. */
typedef struct {
  size_t slot;   /* next slot to write */
  uint32_t item; /* pool index + 1 of the slot's next record, 0: start */
} fl_cursor;
#define FL_CHUNK_MIN 128 /* the least room a chunk needs */
/* Writes the next chunk into buf (cap >= FL_CHUNK_MIN): bytes written, 0
 * when the whole state is written. *c starts zeroed. The state must not
 * change between calls. */
size_t fl_state_encode(const fl_state *s, fl_cursor *c, uint8_t *buf,
                       size_t cap);
/* Adds a chunk's leads and held records to s; a snapshot tenant t becomes
 * tmap[t] (FL_TENANT_NONE when t >= ntmap). false when the chunk is
 * malformed or memory ran out (s then holds part of it). */
bool fl_state_decode(fl_state *s, const uint8_t *buf, size_t len,
                     const uint16_t *tmap, size_t ntmap);

#endif

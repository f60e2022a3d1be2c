/* ls_filter: hold-and-release state of one partition (pure, no Kafka). */
#ifndef LS_FILTER_H
#define LS_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_config.h"

typedef enum {
  LS_CAT_UNKNOWN = 0, /* no category seen yet */
  LS_CAT_ALLOWED,
  LS_CAT_DENIED,
} ls_cat_state;

typedef struct {
  char *event_id;
  int64_t event_time_us; /* ordering key; 0 sorts first */
  int64_t held_us;       /* when it was held: the expiry clock */
  int64_t offset;        /* leadsync.held offset; ties and replay order */
  void *payload;         /* owned by the caller's free function */
} ls_held_item;

typedef struct ls_filter ls_filter;
typedef void (*ls_payload_free_fn)(void *payload);

ls_filter *ls_filter_new(ls_payload_free_fn free_payload);
void ls_filter_free(ls_filter *f);

/* The lead's current category state and the held offset that set it
 * (-1 when unknown). */
ls_cat_state ls_filter_state(const ls_filter *f, const char *lead_key,
                             int64_t *set_at);
/* Records a category decision made by the record at held offset `offset`.
 * Decisions older than the one recorded (smaller offset) are ignored, so a
 * lead_state snapshot followed by a replay of older records cannot regress. */
void ls_filter_set_state(ls_filter *f, const char *lead_key, ls_cat_state st,
                         int64_t offset);
/* Keeps a record until its lead is released (takes ownership of payload;
 * an event id already held for this lead is not added twice: false). */
bool ls_filter_hold(ls_filter *f, const char *lead_key, const char *event_id,
                    int64_t event_time_us, int64_t held_us, int64_t offset,
                    void *payload);
/* Hands over every held record of the lead, sorted by event time then
 * offset; the caller frees each item with ls_filter_item_free. */
size_t ls_filter_take(ls_filter *f, const char *lead_key, ls_held_item **out);
/* Drops one held record (a "done" marker seen during replay). */
bool ls_filter_forget(ls_filter *f, const char *lead_key,
                      const char *event_id);
/* Hands over every held record held since before cutoff_us,
 * with its lead key in (*keys)[i] (caller frees both arrays' contents). */
size_t ls_filter_take_expired(ls_filter *f, int64_t cutoff_us,
                              ls_held_item **out, char ***keys);
void ls_filter_item_free(ls_filter *f, ls_held_item *it);

/* Calls fn for every held record (read-only; metrics). */
void ls_filter_foreach_held(const ls_filter *f,
                            void (*fn)(const char *lead_key,
                                       const ls_held_item *it, void *ud),
                            void *ud);
size_t ls_filter_leads(const ls_filter *f);
size_t ls_filter_held(const ls_filter *f);

/* The category a LEAD_CATEGORY_UPDATED payload moves the lead into:
 * lead_category.new_id/new_name, else lead_category_id/category. */
void ls_event_category(const json_t *root, char *id, size_t idlen, char *name,
                       size_t namelen);
/* Whether a tenant's filter lets a category in (names case-insensitively,
 * ids exactly). A tenant without a filter allows everything. */
bool ls_tenant_allows(const ls_tenant *t, const char *id, const char *name);

#endif

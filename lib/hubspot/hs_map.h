/* hs_map: what each Smartlead event writes to HubSpot (docs/mapping.md):
 * contact properties, an engagement (email, note, task) or nothing, and
 * the catalogue of custom properties `hubspot setup` creates. */
#ifndef HS_MAP_H
#define HS_MAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_err.h"
#include "ls_event.h"

#define HS_GROUP_NAME "smartlead"
#define HS_GROUP_LABEL "Smartlead"
#define HS_EVENT_ID_PROP "leadsync_event_id"
#define HS_FIRST_TOUCH_PROP "smartlead_first_touch_campaign"

typedef enum {
  HS_ENG_NONE,
  HS_ENG_EMAIL,
  HS_ENG_NOTE,
  HS_ENG_TASK
} hs_eng_kind;
#define HS_ENG__COUNT 4

/* "emails", "notes", "tasks" (NULL for none). */
const char *hs_eng_object(hs_eng_kind k);
/* HUBSPOT_DEFINED association type to a contact: 198, 202, 204. */
int hs_eng_assoc_type(hs_eng_kind k);

typedef struct {
  bool opens_as_notes;
  bool clicks_as_notes;
  /* Untracked replies: extra junk-sender address substrings (a JSON
   * array of strings, the tenant's sync.junk_senders; may be NULL) on top
   * of the defaults (hs_text.h). */
  const json_t *junk_senders;
  bool keep_junk; /* sync.keep_junk_senders: sync junk senders anyway */
} hs_map_opts;

typedef struct {
  char email[LS_EMAIL_MAX + 1]; /* "" when the event has no lead */
  json_t *contact;      /* name -> string; NULL when no contact is touched */
  json_t *first_touch;  /* props set only on a new contact (the first-touch
                           campaign and the names); may be NULL */
  json_t *names;        /* firstname/lastname: written only when the
                           contact is new or its name is empty; may be NULL */
  json_t *truncated;    /* names of properties cut to fit; may be NULL */
  json_t *dropped;      /* set by the worker: [{property, code, message}]
                           HubSpot rejected and that were left out */
  const char *filtered; /* non-NULL: write nothing; the sync_log reason */
  hs_eng_kind eng;
  json_t *eng_props; /* includes hs_timestamp and leadsync_event_id */
  int64_t time_us;   /* the event time used for merging */
  /* hs_mapped_pack: contact, first_touch, names and eng_props as one
   * compact JSON text, those trees NULL until hs_mapped_unpack. */
  char *packed;
} hs_mapped;

/* Maps one event. time_us is the event time (the caller falls back to the
 * ingress receive time when the payload has none). LS_ERR_INVALID with
 * errstr when the payload cannot be mapped. */
ls_err hs_map_event(const json_t *root, const ls_event *ev, int64_t time_us,
                    const hs_map_opts *o, hs_mapped *out, char *errstr,
                    size_t errlen);
void hs_mapped_clear(hs_mapped *m);
/* Packs the trees into m->packed (a waiting event's mapping in about a
 * fifth of the memory); unpacking gives trees that write the same bytes.
 * LS_ERR_NOMEM (trees kept as they are) when it cannot. */
ls_err hs_mapped_pack(hs_mapped *m);
/* The trees back from m->packed (nothing to do when not packed);
 * LS_ERR_NOMEM (still packed) when it cannot. */
ls_err hs_mapped_unpack(hs_mapped *m);

/* Merges src (written at t_us) into dst: per property, the newest event
 * time wins; times holds name -> integer microseconds for dst. */
void hs_props_merge(json_t *dst, json_t *times, const json_t *src,
                    int64_t t_us);

/* The custom properties leadsync writes (setup creates them). */
typedef struct {
  const char *object; /* "contacts", "emails", "notes", "tasks" */
  const char *name;
  const char *label;
  const char *type;       /* string, number, datetime, bool */
  const char *field_type; /* text, textarea, number, date, booleancheckbox */
  const char *description;
} hs_prop_def;

const hs_prop_def *hs_map_properties(size_t *n);

#endif

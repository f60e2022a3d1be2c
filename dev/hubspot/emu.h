/* emu.h: shared types of hubspot-emulator, a local stand-in for the subset
 * of the HubSpot CRM API that leadsync uses (docs/hubspot-emulator.md). */
#ifndef EMU_H
#define EMU_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_MAX_BODY (4u * 1024u * 1024u) /* larger request bodies -> 413 */
#define EMU_BATCH_MAX 100                 /* object batch input limit */
#define EMU_PROP_VALUE_MAX 65536          /* characters per property value */
#define EMU_SEARCH_PER_SEC 5              /* search: requests/s per account */
#define EMU_WINDOW_MS 10000               /* the rolling burst window */
#define EMU_DEFAULT_TOKEN "pat-na1-dev-token"
#define EMU_DEFAULT_PORTAL 1000001
#define EMU_DEFAULT_SEARCH_LAG_MS 1000

/* Object types the emulator stores. The order is the order of the
 * emu_otype_names table in emu_store.c. */
enum emu_otype { EMU_CONTACTS, EMU_EMAILS, EMU_NOTES, EMU_TASKS, EMU_NTYPES };

/* Error kinds: one row per error body the emulator can send. The single
 * place that turns a kind into a status and a body is emu_fail(). */
#define EMU_ERR_MAP(X)                                                         \
  X(BAD_JSON, 400, "VALIDATION_ERROR")                                         \
  X(VALIDATION, 400, "VALIDATION_ERROR")                                       \
  X(AUTH, 401, "INVALID_AUTHENTICATION")                                       \
  X(SCOPES, 403, "MISSING_SCOPES")                                             \
  X(NOT_FOUND, 404, "OBJECT_NOT_FOUND")                                        \
  X(NO_ROUTE, 404, "OBJECT_NOT_FOUND")                                         \
  X(METHOD, 405, "VALIDATION_ERROR")                                           \
  X(CONFLICT, 409, "CONFLICT")                                                 \
  X(EXISTS, 409, "OBJECT_ALREADY_EXISTS")                                      \
  X(TOO_LARGE, 413, "VALIDATION_ERROR")                                        \
  X(LOCKED, 423, "LOCKED")                                                     \
  X(INTERNAL, 500, "INTERNAL_ERROR")

enum emu_err {
#define X(name, status, category) EMU_E_##name,
  EMU_ERR_MAP(X)
#undef X
      EMU_E_COUNT
};

/* A rolling window: timestamps (monotonic ms) of the requests it admitted,
 * kept in a ring no larger than the limit. */
struct emu_window {
  int64_t *ts;
  size_t cap, head, n;
  int64_t span_ms;
};

struct emu_faults {
  int latency_ms, jitter_ms;
  double error_rate;
  int error_statuses[8];
  size_t n_error_statuses;
  long force_429;           /* next N requests get TEN_SECONDLY_ROLLING */
  double drop_rate;         /* close the connection before processing */
  double drop_after_rate;   /* process, then close without an answer */
  double lock_423_rate;     /* writes answered 423 */
  bool html_5xx;            /* 502/504 come with an HTML body, like an edge */
  long upsert_conflict;     /* next N upserts that would create a contact get
                               409: a concurrent writer created it first */
  char refuse_props[4][64]; /* property creates refused with a 400 (a
                               portal at its custom-property limit) */
};

struct emu_obj {
  uint64_t id;
  json_t *props;      /* name -> string, current values */
  json_t *idx_props;  /* what search sees; NULL until first indexed */
  int64_t idx_due_ms; /* monotonic time the pending write becomes visible */
  int64_t created_ms, updated_ms; /* wall clock */
};

struct emu_table {
  struct emu_obj **v; /* pointers stay valid while the table grows */
  size_t n, cap;
  json_t *by_id;    /* "123" -> index into v */
  json_t *by_email; /* contacts: lowercased email -> index into v */
};

struct emu_assoc {
  enum emu_otype from_type, to_type;
  uint64_t from_id, to_id;
  int type_id;
};

/* A HubSpot account: its records, properties and daily budget. */
struct emu_portal {
  uint64_t portal_id;
  char tier[16];
  long daily_limit, daily_used;
  int64_t day;           /* portal-local day number daily_used belongs to */
  char time_zone[64];    /* account-info timeZone (default "UTC") */
  int64_t utc_offset_ms; /* its offset now; the daily budget resets at
                            midnight there */
  bool validate_phone;   /* a portal validation rule on phone numbers */
  json_t *secondary;     /* lower-cased secondary email -> contact id */
  struct emu_window search;
  struct emu_table tables[EMU_NTYPES];
  json_t *props[EMU_NTYPES];  /* name -> property definition */
  json_t *groups[EMU_NTYPES]; /* name -> group */
  struct emu_assoc *assocs;
  size_t n_assocs, cap_assocs;
  uint64_t next_id;
  struct emu_faults faults;
  uint64_t requests_total, rate_limited_429, into_exhausted;
};

/* A token (a private app): the burst window is per app, the daily budget
 * is shared by every app of the portal. */
struct emu_app {
  char *token;
  struct emu_portal *portal;
  json_t *scopes; /* array of granted scopes; NULL = all */
  bool oauth;
  bool revoked;
  long per_10s;
  struct emu_window win;
};

struct emu {
  pthread_mutex_t mu; /* guards everything below */
  struct emu_portal **portals;
  size_t n_portals;
  struct emu_app **apps;
  size_t n_apps;
  int search_lag_ms;
  bool retry_after;
  int base_latency_ms;
  bool quiet;
  bool upsert_no_echo;  /* upsert results carry no properties */
  bool shuffle_results; /* batch results in random order */
  uint64_t requests_total, rate_limited_429, into_exhausted;
  uint64_t dropped, faults_injected;
  json_t *by_route; /* "METHOD /route" -> {"status": n} */
};

/* One request as a handler sees it, and the answer it builds. */
struct emu_call {
  struct emu *emu;
  struct emu_portal *p;
  struct emu_app *app;
  const char *method, *path;
  void *conn; /* struct MHD_Connection *, for query arguments */
  const char *body;
  size_t body_len;
  json_t *in;          /* parsed body, owned */
  const char *seg[10]; /* path segments */
  size_t nseg;
  enum emu_otype otype; /* object type named in the path */
  int status;
  json_t *out;   /* response body, owned; NULL = empty */
  char *out_raw; /* or a raw body (HTML fault pages), owned */
  char corr[40];
  bool rl_headers; /* add the X-HubSpot-RateLimit-* headers */
  long hdr_daily_rem, hdr_win_rem, hdr_sec_rem, hdr_max;
  bool hdr_oauth;
  long hdr_daily;
  int retry_after_s; /* > 0: add Retry-After */
  bool auth_failure; /* add x-hubspot-auth-failure */
};

/* emu_util.c */
int64_t emu_mono_ms(void);
int64_t emu_wall_ms(void);
void emu_iso8601(int64_t wall_ms, char out[32]);
void emu_uuid(char out[40]);
double emu_rand01(void);
char *emu_strdup(const char *s);
char *emu_lower(const char *s);
bool emu_streq_ci(const char *a, const char *b);
bool emu_parse_long(const char *s, long *out);
json_t *emu_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void emu_logf(const struct emu *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* emu_store.c */
extern const char *const emu_otype_names[EMU_NTYPES];
extern const char *const emu_otype_ids[EMU_NTYPES];
extern const char *const emu_otype_upper[EMU_NTYPES];
bool emu_otype_parse(const char *s, enum emu_otype *out);
void emu_init(struct emu *e);
void emu_free(struct emu *e);
bool emu_tier_limits(const char *tier, long *per_10s, long *daily);
struct emu_portal *emu_portal_find(struct emu *e, uint64_t portal_id);
struct emu_portal *emu_portal_add(struct emu *e, uint64_t portal_id,
                                  const char *tier, char *errstr, size_t n);
struct emu_app *emu_app_find(struct emu *e, const char *token);
struct emu_app *emu_app_add(struct emu *e, const char *token,
                            struct emu_portal *p, long per_10s);
void emu_portal_reset(struct emu_portal *p);
void emu_reset(struct emu *e);
struct emu_obj *emu_obj_get(struct emu_portal *p, enum emu_otype t,
                            const char *id);
struct emu_obj *emu_contact_by_email(struct emu_portal *p, const char *email);
struct emu_obj *emu_obj_new(struct emu_portal *p, enum emu_otype t,
                            int64_t lag_ms);
void emu_obj_touch(struct emu_portal *p, enum emu_otype t, struct emu_obj *o,
                   int64_t lag_ms);
void emu_email_index(struct emu_portal *p, struct emu_obj *o,
                     const char *old_email);
void emu_obj_reindex_due(struct emu_obj *o);
json_t *emu_state(struct emu *e, uint64_t only_portal);

/* emu_limits.c */
int emu_window_init(struct emu_window *w, size_t cap, int64_t span_ms);
void emu_window_free(struct emu_window *w);
size_t emu_window_count(struct emu_window *w, int64_t now, int64_t span);
void emu_window_push(struct emu_window *w, int64_t now);
void emu_window_clear(struct emu_window *w);
bool emu_limit_check(struct emu_call *c, bool is_search);
void emu_daily_roll(struct emu_portal *p);

/* emu_props.c */
void emu_props_defaults(struct emu_portal *p);
bool emu_is_email(const char *s);
bool emu_props_validate(struct emu_call *c, enum emu_otype t, json_t *props,
                        json_t *clean_out, json_t **errors_out,
                        char **message_out);
void emu_fail_props(struct emu_call *c, json_t *errors, char *message);
json_t *emu_obj_json(struct emu_call *c, enum emu_otype t,
                     const struct emu_obj *o, json_t *want, bool indexed);
json_t *emu_want_from_query(struct emu_call *c);
json_t *emu_want_from_array(json_t *arr);
void emu_want_add_csv(json_t *arr, const char *csv);
void emu_h_props_list(struct emu_call *c);
void emu_h_props_create(struct emu_call *c);
void emu_h_props_get(struct emu_call *c);
void emu_h_groups_list(struct emu_call *c);
void emu_h_groups_create(struct emu_call *c);

/* emu_objects.c */
void emu_h_list(struct emu_call *c);
void emu_h_create(struct emu_call *c);
void emu_h_get(struct emu_call *c);
void emu_h_patch(struct emu_call *c);
void emu_h_batch_create(struct emu_call *c);
void emu_h_batch_read(struct emu_call *c);
void emu_h_batch_update(struct emu_call *c);
void emu_h_batch_upsert(struct emu_call *c);
void emu_h_assoc_read(struct emu_call *c);

/* emu_variation.c: behaviours of the real API that leadsync must survive
 * (docs/hubspot-emulator.md "Real-world variation"). */
int64_t emu_portal_day(const struct emu_portal *p, int64_t wall_ms);
int emu_seconds_to_local_midnight(const struct emu_portal *p);
bool emu_tz_offset(const char *tz, int64_t *offset_ms);
struct emu_obj *emu_contact_by_any_email(struct emu_portal *p,
                                         const char *email);
void emu_shuffle(json_t *arr);
void emu_h_delete(struct emu_call *c);
void emu_h_account_info(struct emu_call *c);
void emu_h_admin_secondary(struct emu_call *c);

/* emu_search.c */
void emu_h_search(struct emu_call *c);

/* emu_admin.c */
void emu_h_admin_state(struct emu_call *c);
void emu_h_admin_reset(struct emu_call *c);
void emu_h_admin_faults(struct emu_call *c);
void emu_h_admin_faults_get(struct emu_call *c);
void emu_h_admin_portals(struct emu_call *c);
void emu_h_admin_config(struct emu_call *c);
bool emu_faults_parse(json_t *in, struct emu_faults *f, json_t **revoke,
                      char *errstr, size_t n);
json_t *emu_faults_json(const struct emu_faults *f);
bool emu_portal_apply(struct emu *e, json_t *in, char *errstr, size_t n);

/* emu_http.c */
void emu_fail(struct emu_call *c, enum emu_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void emu_fail_json(struct emu_call *c, enum emu_err kind, json_t *body);
json_t *emu_err_body(struct emu_call *c, const char *category,
                     const char *message, json_t *extra);
const char *emu_query(struct emu_call *c, const char *key);
bool emu_parse_body(struct emu_call *c);
void emu_reply(struct emu_call *c, int status, json_t *body);
struct emu_response {
  int status;
  char *body; /* malloc'd */
  size_t len;
  bool drop;
  bool html;
  size_t nh;
  struct {
    const char *name;
    char value[64];
  } h[16];
};
void emu_dispatch(struct emu *e, const char *method, const char *path,
                  void *conn, const char *body, size_t len, bool too_large,
                  struct emu_response *r);
int emu_http_start(struct emu *e, const char *host, int port, int *bound_port,
                   void **daemon_out, char *errstr, size_t n);

#endif

/* ls_config_rules: the config's typed ingress, worker and fanout sections and
 * its semantic rules; the loader (ls_config) is their one caller. */
#ifndef LS_CONFIG_RULES_H
#define LS_CONFIG_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_diag.h"

/* The producer's message.max.bytes unless kafka.properties sets it (kq.h's
 * default), and the room the ingress keeps in a message for key and
 * headers: a webhook body is at most the difference. */
#define LS_MESSAGE_MAX_BYTES 3145728
#define LS_KAFKA_ROOM (1L << 20)

/* The "ingress" section, typed, defaults applied (docs/configuration.md).
 * Ranges are the schema's: a value outside them never loads. */
typedef struct {
  const char *listen;            /* "0.0.0.0:8080"; --listen wins */
  long max_body_bytes;           /* -1: message.max.bytes minus 1 MiB */
  long kafka_timeout_ms;         /* 10000 */
  long max_connections;          /* 4096 */
  long connection_timeout_s;     /* 10 */
  long max_json_depth;           /* 64 */
  long drain_timeout_s;          /* 20 */
  long threads;                  /* 2 */
  long retry_after_s;            /* 5 */
  long header_timeout_ms;        /* 10000 */
  long request_timeout_ms;       /* 30000 */
  long max_connections_per_ip;   /* 256; 0 = unlimited */
  long max_body_bytes_in_flight; /* 64 MiB */
} ls_ingress_conf;

/* worker.groups: a consumer group and the event types it syncs. */
typedef struct {
  const char *name;
  char *events; /* "A,B" (owned): the group's --events when not given */
} ls_worker_group;

/* worker.portal_share as an object: one group's share. */
typedef struct {
  const char *group;
  double share;
} ls_group_share;

/* The "worker" section, typed, defaults applied (docs/configuration.md). */
typedef struct {
  long batch_max;          /* 100: inputs per HubSpot batch call */
  long flush_max;          /* 10 x batch_max */
  long batch_linger_ms;    /* 200 */
  long priority_linger_ms; /* 100: groups of priority types only */
  long max_in_flight;      /* 8 */
  double portal_share;     /* a number for every group; -1: not set */
  ls_group_share *shares;  /* by group name, when an object */
  size_t n_shares;
  ls_worker_group *groups; /* declared groups, in config order */
  size_t n_groups;
  long ratelimit_reserve;       /* 0: the limiter's default */
  bool setup_on_start;          /* true */
  bool ratelimit_borrow;        /* true */
  long max_retries;             /* 8 */
  long backoff_base_ms;         /* 200 */
  long backoff_max_ms;          /* 30000 */
  long http_timeout_ms;         /* 30000 */
  long max_response_bytes;      /* 8 MiB: HubSpot answer body ceiling */
  long search_settle_ms;        /* 1500 */
  long ratelimit_guard_ms;      /* 500 */
  long flush_timeout_ms;        /* 30000 */
  long poison_attempts;         /* 5 */
  const char *listen;           /* "127.0.0.1:9102"; --listen wins */
  double held_max_age_days;     /* 30 */
  long held_max_age_s;          /* held_max_age_days in seconds unless set */
  long held_expiry_interval_ms; /* 60000 */
  long dlq_watch_interval_ms;   /* 60000 */
  long dedup_window_s; /* "dedup_window": 8 days (docs/worker.md State) */
} ls_worker_conf;

/* The "fanout" section, typed, defaults applied (docs/fanout.md). */
typedef struct {
  const char *listen;   /* "127.0.0.1:9104"; --listen wins */
  long max_pending;     /* 20000: records per endpoint before pausing */
  long drain_ms;        /* 10000: SIGTERM grace for requests in flight */
  long order_window_ms; /* 250: wait for a lead's earlier events */
  long catchup_ms;      /* 5000: longest wait for the backlog */
  long seen_max;        /* 100000: event ids remembered per endpoint */
} ls_fanout_conf;

/* The keys the loader knows in a section ("ingress", "worker", "fanout"),
 * NULL-ended:
 * the schema lists the same ones (a unit test holds them together). */
const char *const *ls_config_section_keys(const char *section);

/* Reads the "ingress" and "worker" sections into typed structs with their
 * defaults. Values of the wrong type (the schema reports them) read as the
 * default. */
void ls_config_parse_sections(const json_t *root, ls_ingress_conf *in,
                              ls_worker_conf *w);
/* The same for the "fanout" section. */
void ls_config_parse_fanout(const json_t *root, ls_fanout_conf *fo);
void ls_config_free_sections(ls_worker_conf *w);

/* The rules the schema cannot say (duplicates across the file, event type
 * names, shares that cannot add up, names to resolve in this environment),
 * every problem into d. Robust to a root the schema refused. */
void ls_config_rules(const json_t *root, const ls_ingress_conf *in,
                     const ls_worker_conf *w, ls_diags *d);

#endif

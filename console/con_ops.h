/* con_ops: the console's state changes, all through Kafka: replaying DLQ
 * and quarantine records to their original topics, adding, rotating and
 * revoking sources on leadsync.sources, and an audit record on
 * leadsync.audit for each. One operation at a time per process. */
#ifndef CON_OPS_H
#define CON_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"
#include "ls_err.h"

typedef struct con_ops con_ops;

ls_err con_ops_new(const ls_config *cfg, con_ops **out, char *errstr,
                   size_t len);
void con_ops_free(con_ops *o);

/* kind "dlq" or "quarantine"; ids "partition:offset" of records on
 * leadsync.dlq / <prefix>quarantine. dry_run reports what would be sent.
 * Returns the result object, or NULL with errstr and *status (an HTTP
 * status: 400 for a bad id, 502 when Kafka failed). */
json_t *con_ops_replay(con_ops *o, const char *kind, const json_t *ids,
                       bool dry_run, const char *reason, const char *user,
                       int *status, char *errstr, size_t len);

/* Sources: the effective list (config merged with the topic), and the
 * three changes. add and rotate return {"source":..,"token":..}; the token
 * is in that answer only. */
json_t *con_ops_sources(con_ops *o, char *errstr, size_t len);
json_t *con_ops_source_add(con_ops *o, const json_t *req, const char *user,
                           int *status, char *errstr, size_t len);
json_t *con_ops_source_rotate(con_ops *o, const char *id, long grace_s,
                              const char *user, int *status, char *errstr,
                              size_t len);
json_t *con_ops_source_revoke(con_ops *o, const char *id, const char *user,
                              int *status, char *errstr, size_t len);
/* Writes every config source the topic does not hold yet (origin
 * "config"), so the topic lists them all. */
ls_err con_ops_seed_sources(con_ops *o, char *errstr, size_t len);

#endif

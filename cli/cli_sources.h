/* cli_sources: the records of the compacted leadsync.sources topic (one per
 * source id, the newest wins) and the audit records of leadsync.audit, for
 * `leadsync sources` and the console. The ingress applies the same records
 * (ingress/ing_sources.c). docs/console.md has the record format. */
#ifndef CLI_SOURCES_H
#define CLI_SOURCES_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "cli_kafka.h"
#include "ls_config.h"
#include "ls_err.h"

/* Default time the old token keeps working after a rotation. */
#define CLI_SOURCES_GRACE_S (7 * 24 * 3600)

/* Reads leadsync.sources to its end: {source id: record}. */
ls_err cli_sources_read(const ls_config *cfg, json_t **out, char *errstr,
                        size_t len);
/* The config's sources as records (origin "config"). */
json_t *cli_sources_from_config(const ls_config *cfg);
/* What is in force: the topic's record for an id, else the config's. */
json_t *cli_sources_effective(const ls_config *cfg, const json_t *topic_map);

/* A new source of an existing tenant; token receives the URL token (shown
 * once, never stored). NULL with errstr when the request is invalid. */
json_t *cli_sources_new(const ls_config *cfg, const json_t *effective,
                        const char *tenant, const char *id, const char *level,
                        const char *scope_id, const char *by, char token[65],
                        char *errstr, size_t len);
/* The record after a rotation: a new token, and every older token valid
 * until now + grace_s (or its own earlier not_after). */
json_t *cli_sources_rotated(const json_t *rec, int64_t grace_s, const char *by,
                            char token[65]);
/* The record after a revocation: no token is accepted any more. */
json_t *cli_sources_revoked(const json_t *rec, const char *by);
/* A copy without secrets (token hashes shortened, secret hash dropped). */
json_t *cli_sources_public(const json_t *rec);

/* Produces rec (key: its id) to leadsync.sources and the audit record to
 * leadsync.audit, and waits for both acknowledgements. audit is stolen. */
ls_err cli_sources_publish(rd_kafka_t *producer, const cli_delivery *dr,
                           const json_t *rec, json_t *audit, char *errstr,
                           size_t len);
/* An audit record: {"at","user","via","action",...extra}; extra is
 * merged in and stolen. */
json_t *cli_audit_record(const char *user, const char *via, const char *action,
                         json_t *extra);
ls_err cli_audit_publish(rd_kafka_t *producer, const cli_delivery *dr,
                         json_t *audit, char *errstr, size_t len);

#endif

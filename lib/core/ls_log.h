/* ls_log: one JSON object per line on stderr; never pass a secret to it.
 * Every line starts with ts, level, component, msg, in that order; an extra
 * field with one of those names is written as x_<name> instead, so no
 * caller can hide or fake them. */
#ifndef LS_LOG_H
#define LS_LOG_H

#include <jansson.h>

typedef enum {
  LS_LOG_DEBUG,
  LS_LOG_INFO,
  LS_LOG_WARN,
  LS_LOG_ERROR
} ls_log_level;

/* Sets the "component" field and the minimum level (LEADSYNC_LOG_LEVEL env
 * may lower or raise it: debug|info|warn|error). */
void ls_log_init(const char *component);
void ls_log_set_level(ls_log_level lvl);

/* fields_fmt is a jansson json_pack format describing an object with the
 * extra fields, e.g. ls_log(LS_LOG_WARN, "rejected", "{s:s,s:i}",
 * "reason", "bad_json", "status", 400). NULL for no extra fields. */
void ls_log(ls_log_level lvl, const char *msg, const char *fields_fmt, ...);

/* Same, with the extra fields as a JSON object (taken over, may be NULL):
 * for callers that add fields conditionally. */
void ls_log_json(ls_log_level lvl, const char *msg, json_t *fields);

#define ls_info(msg, ...) ls_log(LS_LOG_INFO, msg, __VA_ARGS__)
#define ls_warn(msg, ...) ls_log(LS_LOG_WARN, msg, __VA_ARGS__)
#define ls_error(msg, ...) ls_log(LS_LOG_ERROR, msg, __VA_ARGS__)

#endif

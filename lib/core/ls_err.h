/* ls_err: the one error enum of leadsync, with names and messages. */
#ifndef LS_ERR_H
#define LS_ERR_H

/* X(code, name, message). The ingress maps these to HTTP statuses in one
 * function (ingress/ing_http.c); everything else only passes them up. */
#define LS_ERR_MAP(X)                                                          \
  X(LS_OK, "ok", "ok")                                                         \
  X(LS_ERR_NOMEM, "nomem", "out of memory")                                    \
  X(LS_ERR_TOO_LARGE, "too_large", "input exceeds the size limit")             \
  X(LS_ERR_BAD_JSON, "bad_json", "body is not valid JSON")                     \
  X(LS_ERR_BAD_UTF8, "bad_utf8", "body is not valid UTF-8")                    \
  X(LS_ERR_TOO_DEEP, "too_deep", "JSON nesting is too deep")                   \
  X(LS_ERR_NOT_OBJECT, "not_object", "body is not a JSON object")              \
  X(LS_ERR_NO_EVENT_TYPE, "no_event_type",                                     \
    "event_type is missing or not a string")                                   \
  X(LS_ERR_SCHEMA, "schema", "payload does not match the event schema")        \
  X(LS_ERR_UNAUTHORIZED, "unauthorized", "unauthorized")                       \
  X(LS_ERR_NOT_FOUND, "not_found", "not found")                                \
  X(LS_ERR_METHOD, "method_not_allowed", "method not allowed")                 \
  X(LS_ERR_MEDIA_TYPE, "unsupported_media_type",                               \
    "content type must be application/json")                                   \
  X(LS_ERR_RATE_LIMITED, "rate_limited", "too many requests for this source")  \
  X(LS_ERR_KAFKA, "kafka", "event could not be stored, retry later")           \
  X(LS_ERR_TIMEOUT, "timeout", "timed out")                                    \
  X(LS_ERR_DRAINING, "draining", "shutting down, retry later")                 \
  X(LS_ERR_CONFIG, "config", "invalid configuration")                          \
  X(LS_ERR_IO, "io", "I/O error")                                              \
  X(LS_ERR_INVALID, "invalid", "invalid argument")                             \
  X(LS_ERR_INTERNAL, "internal", "internal error")

typedef enum {
#define LS_ERR_ENUM(code, name, msg) code,
  LS_ERR_MAP(LS_ERR_ENUM)
#undef LS_ERR_ENUM
      LS_ERR__COUNT
} ls_err;

const char *ls_err_name(ls_err e);
const char *ls_err_msg(ls_err e);

/* errstr idiom: boundaries fill a caller-owned buffer with context. */
#define LS_ERRSTR_SIZE 512

#endif

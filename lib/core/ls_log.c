/* ls_log: JSON log lines (ts, level, component, msg, extra fields). */
#include "ls_log.h"
#include "ls_time.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char component[32] = "leadsync";
static ls_log_level min_level = LS_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *level_name(ls_log_level l) {
  switch (l) {
  case LS_LOG_DEBUG:
    return "debug";
  case LS_LOG_INFO:
    return "info";
  case LS_LOG_WARN:
    return "warn";
  default:
    return "error";
  }
}

void ls_log_init(const char *comp) {
  snprintf(component, sizeof component, "%s", comp);
  const char *env = getenv("LEADSYNC_LOG_LEVEL");
  if (!env)
    return;
  if (!strcmp(env, "debug"))
    min_level = LS_LOG_DEBUG;
  else if (!strcmp(env, "info"))
    min_level = LS_LOG_INFO;
  else if (!strcmp(env, "warn"))
    min_level = LS_LOG_WARN;
  else if (!strcmp(env, "error"))
    min_level = LS_LOG_ERROR;
}

void ls_log_set_level(ls_log_level lvl) {
  min_level = lvl;
}

static bool reserved(const char *key) {
  return !strcmp(key, "ts") || !strcmp(key, "level") ||
         !strcmp(key, "component") || !strcmp(key, "msg");
}

void ls_log_json(ls_log_level lvl, const char *msg, json_t *fields) {
  if (lvl < min_level) {
    json_decref(fields);
    return;
  }
  json_t *o = json_object();
  if (!o) {
    json_decref(fields);
    return;
  }
  char tbuf[40];
  ls_time_format_ms(ls_now_us(), tbuf, sizeof tbuf);
  /* The four fixed fields first: objects keep insertion order. */
  json_object_set_new(o, "ts", json_string(tbuf));
  json_object_set_new(o, "level", json_string(level_name(lvl)));
  json_object_set_new(o, "component", json_string(component));
  json_object_set_new(o, "msg", json_string(msg ? msg : ""));
  if (json_is_object(fields)) {
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v) {
      if (reserved(key)) {
        char k[64];
        snprintf(k, sizeof k, "x_%s", key);
        json_object_set(o, k, v);
      } else {
        json_object_set(o, key, v);
      }
    }
  }
  json_decref(fields);
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (!line)
    return;
  pthread_mutex_lock(&log_lock);
  fputs(line, stderr);
  fputc('\n', stderr);
  fflush(stderr);
  pthread_mutex_unlock(&log_lock);
  free(line);
}

void ls_log(ls_log_level lvl, const char *msg, const char *fields_fmt, ...) {
  if (lvl < min_level)
    return;
  json_t *o = NULL;
  if (fields_fmt) {
    va_list ap;
    va_start(ap, fields_fmt);
    o = json_vpack_ex(NULL, 0, fields_fmt, ap);
    va_end(ap);
  }
  ls_log_json(lvl, msg, o);
}

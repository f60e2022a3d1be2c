/* bench-kafka-produce: produces Smartlead payloads to Kafka exactly as the
 * ingress records them (same config, producer settings, topic, key and
 * CloudEvents headers, computed by lib/model/ls_event.c), either as fast as
 * librdkafka goes (the Kafka ceiling of make bench) or at a steady rate
 * (the worker benchmark's load). Prints one JSON line with the figures.
 * Benchmarks only: it skips the ingress's validation on purpose. */
#include <dirent.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "ls_array.h"
#include "kq.h"
#include "kq_client.h"
#include "ls_buf.h"
#include "ls_config.h"
#include "ls_event.h"
#include "ls_time.h"
#include "ls_version.h"

#define KP_MAX_BODY (2u * 1024u * 1024u)
#define KP_MAX_TOPICS 32
#define KP_FLUSH_MS 60000
/* How early a paced record may go (seconds). */
#define KP_PACE_S 0.005

typedef struct {
  char *body;
  size_t len;
  ls_event ev;
  rd_kafka_topic_t *rkt;    /* borrowed from kp_state.topics */
  rd_kafka_headers_t *hdrs; /* template, copied per message */
  int64_t ts_ms;            /* CreateTime of its latest message */
} kp_rec;

typedef struct {
  const char *config_path, *tenant_id, *source_id;
  const char *fixtures_dir, *jsonl_path, *ids_out;
  long count;      /* messages to produce; 0 = one per input (or --seconds) */
  double seconds;  /* stop producing after this long; 0 = no limit */
  double rate;     /* messages per second; 0 = as fast as possible */
  double start_at; /* wall-clock seconds (Unix) to start at; 0 = at once */
} kp_opts;

typedef struct {
  kp_rec *recs;
  size_t n, cap;
  rd_kafka_topic_t *topics[KP_MAX_TOPICS];
  size_t n_topics;
  long produced, delivered, failed;
  unsigned long long bytes;
  char first_error[256];
  FILE *ids;
} kp_state;

static void usage(FILE *f) {
  fprintf(f, "usage: bench-kafka-produce --config FILE (--fixtures DIR | "
             "--jsonl FILE)\n"
             "         [--tenant ID] [--source ID] [--count N] [--seconds S]\n"
             "         [--rate MSGS_PER_S] [--ids-out FILE]\n"
             "         [--start-at UNIX_SECONDS]\n"
             "Produces the payloads (cycling through them) with the ingress's\n"
             "producer settings, keys and headers; prints a JSON summary.\n"
             "--ids-out writes one line per delivered record:\n"
             "event_id TAB topic TAB partition TAB offset TAB timestamp_ms.\n"
             "--start-at waits, ready, until that wall-clock time, so several\n"
             "producers start together.\n");
}

/* -- inputs ------------------------------------------------------------ */

static bool read_file(const char *path, ls_buf *b, char *errstr,
                      size_t errlen) {
  char chunk[65536];
  size_t n;
  bool ok = false;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(errstr, errlen, "cannot open %s", path);
    return false;
  }
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (ls_buf_append(b, chunk, n) != LS_OK) {
      snprintf(errstr, errlen, "%s: larger than %u bytes", path, KP_MAX_BODY);
      goto out;
    }
  }
  ok = !ferror(f);
  if (!ok)
    snprintf(errstr, errlen, "cannot read %s", path);
out:
  fclose(f);
  return ok;
}

static rd_kafka_topic_t *topic_handle(kp_state *st, rd_kafka_t *rk,
                                      const char *name) {
  for (size_t i = 0; i < st->n_topics; i++)
    if (!strcmp(rd_kafka_topic_name(st->topics[i]), name))
      return st->topics[i];
  if (st->n_topics == KP_MAX_TOPICS)
    return NULL;
  rd_kafka_topic_t *t = rd_kafka_topic_new(rk, name, NULL);
  if (t)
    st->topics[st->n_topics++] = t;
  return t;
}

static void hdr(rd_kafka_headers_t *h, const char *name, const char *value) {
  rd_kafka_header_add(h, name, -1, value, -1);
}

/* Identifies one payload the way the ingress does and keeps it (takes
 * ownership of body). */
static bool add_rec(kp_state *st, rd_kafka_t *rk, const ls_config *cfg,
                    const ls_source *src, char *body, size_t len,
                    const char *what, char *errstr, size_t errlen) {
  json_error_t jerr;
  json_t *root = NULL;
  kp_rec *r = NULL;
  bool ok = false;
  char buf[LS_TENANT_MAX + 160];
  if (!LS_ARRAY_GROW(st->recs, st->cap, st->n + 1)) {
    snprintf(errstr, errlen, "out of memory");
    goto out;
  }
  r = &st->recs[st->n];
  memset(r, 0, sizeof *r);
  root = json_loadb(body, len, 0, &jerr);
  if (!json_is_object(root) ||
      !json_is_string(json_object_get(root, "event_type"))) {
    snprintf(errstr, errlen, "%s: not a Smartlead event (%s)", what,
             root ? "no event_type" : jerr.text);
    goto out;
  }
  ls_err e = ls_event_identify(root, body, len, src->tenant->id,
                               cfg->topic_prefix, &r->ev);
  if (e != LS_OK) {
    snprintf(errstr, errlen, "%s: %s", what, ls_err_msg(e));
    goto out;
  }
  r->rkt = topic_handle(st, rk, r->ev.topic);
  if (!r->rkt) {
    snprintf(errstr, errlen, "%s: too many topics", what);
    goto out;
  }
  /* The headers of docs/kafka-contract.md, as ingress/ing_http.c
   * writes them; ls_received_at is added per message. */
  r->hdrs = rd_kafka_headers_new(10);
  hdr(r->hdrs, "ce_specversion", "1.0");
  hdr(r->hdrs, "ce_id", r->ev.event_id);
  hdr(r->hdrs, "ce_type", r->ev.ce_type);
  if (r->ev.event_time[0])
    hdr(r->hdrs, "ce_time", r->ev.event_time);
  snprintf(buf, sizeof buf, "/smartlead/%s/%s", src->tenant->id, src->id);
  hdr(r->hdrs, "ce_source", buf);
  hdr(r->hdrs, "content-type", "application/json");
  hdr(r->hdrs, "ce_tenant", src->tenant->id);
  hdr(r->hdrs, "ce_sourcelevel", ls_level_name(src->level));
  r->body = body;
  r->len = len;
  body = NULL;
  st->n++;
  ok = true;
out:
  json_decref(root);
  free(body);
  return ok;
}

static int json_file_filter(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

static bool load_fixtures(kp_state *st, rd_kafka_t *rk, const ls_config *cfg,
                          const ls_source *src, const char *dir, char *errstr,
                          size_t errlen) {
  struct dirent **names = NULL;
  bool ok = false;
  int n = scandir(dir, &names, json_file_filter, alphasort);
  if (n <= 0) {
    snprintf(errstr, errlen, "no *.json payloads in %s", dir);
    goto out;
  }
  ok = true;
  for (int i = 0; i < n && ok; i++) {
    char path[4096];
    ls_buf b;
    ls_buf_init(&b, KP_MAX_BODY);
    snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
    size_t len = 0;
    ok = read_file(path, &b, errstr, errlen);
    char *body = ls_buf_steal(&b, &len);
    ls_buf_free(&b);
    if (ok)
      ok = add_rec(st, rk, cfg, src, body, len, path, errstr, errlen);
    else
      free(body);
  }
out:
  for (int i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return ok;
}

static bool load_jsonl(kp_state *st, rd_kafka_t *rk, const ls_config *cfg,
                       const ls_source *src, const char *path, char *errstr,
                       size_t errlen) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  long lineno = 0;
  bool ok = true;
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(errstr, errlen, "cannot open %s", path);
    return false;
  }
  while (ok && (got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
      line[--got] = '\0';
    if (got == 0)
      continue;
    if ((size_t)got > KP_MAX_BODY) {
      snprintf(errstr, errlen, "%s:%ld: payload too large", path, lineno);
      ok = false;
      break;
    }
    char *body = malloc((size_t)got + 1);
    char what[64];
    if (!body) {
      snprintf(errstr, errlen, "out of memory");
      ok = false;
      break;
    }
    memcpy(body, line, (size_t)got + 1);
    snprintf(what, sizeof what, "line %ld", lineno);
    ok = add_rec(st, rk, cfg, src, body, (size_t)got, what, errstr, errlen);
  }
  if (ok && st->n == 0) {
    snprintf(errstr, errlen, "%s: no payloads", path);
    ok = false;
  }
  free(line);
  fclose(f);
  return ok;
}

/* -- producing --------------------------------------------------------- */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  kp_state *st = opaque;
  if (m->err) {
    st->failed++;
    if (!st->first_error[0])
      snprintf(st->first_error, sizeof st->first_error, "%s",
               rd_kafka_err2str(m->err));
    return;
  }
  st->delivered++;
  if (st->ids) {
    /* The CreateTime we set: the mock broker reports a fixed
     * LogAppendTime in produce responses, so the report's own timestamp
     * is useless here. */
    const kp_rec *r = &st->recs[(uintptr_t)m->_private];
    fprintf(st->ids, "%s\t%s\t%d\t%lld\t%lld\n", r->ev.event_id, r->ev.topic,
            (int)m->partition, (long long)m->offset, (long long)r->ts_ms);
  }
}

static rd_kafka_t *make_producer(const ls_config *cfg, kp_state *st,
                                 char *errstr, size_t errlen) {
  char v[32];
  snprintf(v, sizeof v, "%ld", cfg->ingress.kafka_timeout_ms);
  const char *props[] = {"message.timeout.ms", v, NULL};
  kq_producer_opts o = {.props = props, .on_delivery = on_dr, .opaque = st};
  return kq_producer_new(cfg, &o, errstr, errlen);
}

/* Fetches every topic's metadata before the clock starts: the producer
 * does it lazily otherwise and the first records stall. */
static bool warm_up(rd_kafka_t *rk, kp_state *st, char *errstr, size_t errlen) {
  for (size_t i = 0; i < st->n_topics; i++) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err =
        rd_kafka_metadata(rk, 0, st->topics[i], &md, 10000);
    if (err) {
      snprintf(errstr, errlen, "metadata for %s: %s",
               rd_kafka_topic_name(st->topics[i]), rd_kafka_err2str(err));
      return false;
    }
    rd_kafka_metadata_destroy(md);
  }
  return true;
}

static bool produce_one(rd_kafka_t *rk, kp_state *st, size_t idx) {
  kp_rec *r = &st->recs[idx];
  char now[40];
  for (;;) {
    rd_kafka_headers_t *h = rd_kafka_headers_copy(r->hdrs);
    int64_t now_us = ls_now_us();
    ls_time_format_us(now_us, now, sizeof now);
    hdr(h, "ls_received_at", now);
    r->ts_ms = now_us / 1000;
    /* No copy of the value: the inputs outlive every delivery report. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_RKT(r->rkt),
        RD_KAFKA_V_KEY(r->ev.key, strlen(r->ev.key)),
        RD_KAFKA_V_VALUE(r->body, r->len), RD_KAFKA_V_MSGFLAGS(0),
        RD_KAFKA_V_TIMESTAMP(r->ts_ms), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)idx), RD_KAFKA_V_END);
    if (!err) {
      st->produced++;
      st->bytes += r->len;
      return true;
    }
    rd_kafka_headers_destroy(h);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || bench_stop) {
      if (!st->first_error[0])
        snprintf(st->first_error, sizeof st->first_error, "produce: %s",
                 rd_kafka_err2str(err));
      st->failed++;
      return err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? false : true;
    }
    rd_kafka_poll(rk, 5);
  }
}

static int cmp_id(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static long distinct_ids(const kp_state *st) {
  long k = 0;
  const char **ids = malloc(st->n * sizeof *ids);
  if (!ids)
    return -1;
  for (size_t i = 0; i < st->n; i++)
    ids[i] = st->recs[i].ev.event_id;
  qsort(ids, st->n, sizeof *ids, cmp_id);
  for (size_t i = 0; i < st->n; i++)
    if (i == 0 || strcmp(ids[i], ids[i - 1]))
      k++;
  free(ids);
  return k;
}

static bool parse_args(int argc, char **argv, kp_opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool ok = v != NULL;
    if (!strcmp(a, "--config") && v)
      o->config_path = v;
    else if (!strcmp(a, "--tenant") && v)
      o->tenant_id = v;
    else if (!strcmp(a, "--source") && v)
      o->source_id = v;
    else if (!strcmp(a, "--fixtures") && v)
      o->fixtures_dir = v;
    else if (!strcmp(a, "--jsonl") && v)
      o->jsonl_path = v;
    else if (!strcmp(a, "--ids-out") && v)
      o->ids_out = v;
    else if (!strcmp(a, "--count") && v)
      ok = bench_parse_long(v, 0, 1000000000L, &o->count);
    else if (!strcmp(a, "--seconds") && v)
      ok = bench_parse_double(v, 0, 86400, &o->seconds);
    else if (!strcmp(a, "--rate") && v)
      ok = bench_parse_double(v, 0, 1e9, &o->rate);
    else if (!strcmp(a, "--start-at") && v)
      ok = bench_parse_double(v, 0, 1e11, &o->start_at);
    else
      ok = false;
    if (!ok) {
      fprintf(stderr, "bench-kafka-produce: bad argument %s\n", a);
      return false;
    }
    i++;
  }
  if (!o->config_path || !o->fixtures_dir == !o->jsonl_path) {
    fprintf(stderr, "bench-kafka-produce: --config and one of --fixtures "
                    "or --jsonl are required\n");
    return false;
  }
  return true;
}

static const ls_source *find_source(const ls_config *cfg, const kp_opts *o,
                                    char *errstr, size_t errlen) {
  const ls_tenant *t = ls_config_tenant(cfg, o->tenant_id);
  if (!t || t->n_sources == 0) {
    snprintf(errstr, errlen, "tenant %s has no sources", o->tenant_id);
    return NULL;
  }
  if (!o->source_id)
    return &t->sources[0];
  for (size_t i = 0; i < t->n_sources; i++)
    if (!strcmp(t->sources[i].id, o->source_id))
      return &t->sources[i];
  snprintf(errstr, errlen, "tenant %s has no source %s", o->tenant_id,
           o->source_id);
  return NULL;
}

static void print_summary(const kp_state *st, double secs) {
  json_t *j = json_pack(
      "{s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I, s:s?}", "produced",
      (json_int_t)st->produced, "delivered", (json_int_t)st->delivered,
      "failed", (json_int_t)st->failed, "seconds", secs, "msgs_per_s",
      secs > 0 ? (double)st->delivered / secs : 0.0, "bytes",
      (json_int_t)st->bytes, "inputs", (json_int_t)st->n, "distinct_ids",
      (json_int_t)distinct_ids(st), "first_error",
      st->first_error[0] ? st->first_error : NULL);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  if (s)
    printf("%s\n", s);
  fflush(stdout);
  free(s);
  json_decref(j);
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "bench-kafka-produce"))
    return 0;
  kp_opts o = {.tenant_id = "demo"};
  kp_state st;
  char errstr[LS_ERRSTR_SIZE];
  ls_config *cfg = NULL;
  rd_kafka_t *rk = NULL;
  int rc = 1;
  memset(&st, 0, sizeof st);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
  if (!parse_args(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  bench_install_signals();
  if (ls_config_load(o.config_path, &cfg, errstr, sizeof errstr) != LS_OK)
    goto fail;
  const ls_source *src = find_source(cfg, &o, errstr, sizeof errstr);
  if (!src || !(rk = make_producer(cfg, &st, errstr, sizeof errstr)))
    goto fail;
  bool loaded =
      o.fixtures_dir
          ? load_fixtures(&st, rk, cfg, src, o.fixtures_dir, errstr,
                          sizeof errstr)
          : load_jsonl(&st, rk, cfg, src, o.jsonl_path, errstr, sizeof errstr);
  if (!loaded || !warm_up(rk, &st, errstr, sizeof errstr))
    goto fail;
  if (o.ids_out && !(st.ids = fopen(o.ids_out, "w"))) {
    snprintf(errstr, sizeof errstr, "cannot write %s", o.ids_out);
    goto fail;
  }
  long count = o.count ? o.count : (o.seconds > 0 ? 0 : (long)st.n);
  for (double now;
       !bench_stop && (now = (double)ls_now_us() / 1e6) < o.start_at;) {
    int ms = (int)((o.start_at - now) * 1000.0);
    rd_kafka_poll(rk, ms > 5 ? 5 : ms);
  }
  double t0 = bench_now_s();
  for (long i = 0; !bench_stop && (count == 0 || i < count); i++) {
    double now = bench_now_s();
    if (o.seconds > 0 && now - t0 >= o.seconds)
      break;
    if (o.rate > 0) {
      /* Sleeps (serving delivery reports) until the record is due within
       * KP_PACE_S, then sends it: the records due in the same few
       * milliseconds go together. Waiting to the exact microsecond spun
       * the CPU for the last millisecond of every gap (a poll of 0 ms):
       * the portals part's 20 paced producers took 0.67 of the 2 cores,
       * more than the workers they fed. */
      double due = t0 + (double)i / o.rate;
      while (!bench_stop && (now = bench_now_s()) < due - KP_PACE_S) {
        int ms = (int)((due - now) * 1000.0);
        rd_kafka_poll(rk, ms > 5 ? 5 : (ms < 1 ? 1 : ms));
      }
    }
    if (!produce_one(rk, &st, (size_t)i % st.n))
      break;
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, KP_FLUSH_MS);
  double secs = bench_now_s() - t0;
  if (ferr && !st.first_error[0])
    snprintf(st.first_error, sizeof st.first_error, "flush: %s",
             rd_kafka_err2str(ferr));
  print_summary(&st, secs);
  rc = st.failed || ferr ? 1 : 0;
  goto out;
fail:
  fprintf(stderr, "bench-kafka-produce: %s\n", errstr);
out:
  if (st.ids)
    fclose(st.ids);
  for (size_t i = 0; i < st.n; i++) {
    free(st.recs[i].body);
    rd_kafka_headers_destroy(st.recs[i].hdrs);
  }
  free(st.recs);
  for (size_t i = 0; i < st.n_topics; i++)
    rd_kafka_topic_destroy(st.topics[i]);
  if (rk)
    rd_kafka_destroy(rk);
  ls_config_free(cfg);
  return rc;
}

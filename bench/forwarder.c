/* bench-forwarder: the least a webhook-to-Kafka service can do per request,
 * the baseline the ingress's CPU per request is measured against (make
 * bench, docs/bench.md). libmicrohttpd with the ingress's daemon setup reads
 * a POST body into a bounded buffer, produces it untouched with the
 * ingress's producer (same config file, kq_producer_defaults: idempotent,
 * acks=all, the same compression and linger, message.timeout.ms from
 * ingress.kafka_timeout_ms), suspends the connection and answers 200 only
 * from the delivery report (503 when Kafka refused it). No auth, no JSON,
 * no validation, no headers; the key is a hash of the body so records
 * spread over partitions as the ingress's do. --topic-per-type writes the
 * ingress's topic layout (one topic per event type, the type found by one
 * substring search, no parse) instead of one topic. Benchmarks only. */
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "bench_common.h"
#include "bench_mhd.h"
#include "kq.h"
#include "ls_buf.h"
#include "ls_config.h"
#include "ls_file.h"
#include "ls_ops.h"
#include "ls_version.h"

/* One request. The connection holds it until MHD completes the request; a
 * record in flight holds it until its delivery report. The last one frees
 * it (under fw_mu). */
typedef struct fw_req {
  struct MHD_Connection *conn; /* NULL once MHD completed the request */
  ls_buf body;
  bool too_large, produced, done, ok, in_flight;
} fw_req;

static pthread_mutex_t fw_mu = PTHREAD_MUTEX_INITIALIZER;
static rd_kafka_t *fw_rk;
static rd_kafka_topic_t *fw_rkt;
static const char *fw_prefix; /* set: a topic per event type */
static atomic_bool fw_stop_poller;

static const char k_accepted[] = "{\"status\":\"accepted\"}";
static const char k_unavailable[] = "{\"status\":\"unavailable\"}";
static const char k_too_large[] = "{\"error\":\"too_large\"}";

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench-forwarder --config FILE [--topic NAME | "
          "--topic-per-type]\n"
          "         [--listen HOST:PORT] [--ready-file PATH] [--threads N]\n"
          "Produces every POST body to Kafka with the ingress's producer and\n"
          "answers 200 after its delivery report: the minimal forwarder the\n"
          "ingress is measured against (make bench).\n");
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               const char *body) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!resp)
    return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          "application/json");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  enum MHD_Result ret = MHD_queue_response(c, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static void req_free(fw_req *r) {
  ls_buf_free(&r->body);
  free(r);
}

/* A hash of the body as 16 hex digits, eight bytes a step: a key that
 * costs next to nothing (FNV-1a a byte at a time was 1.5 us of a 1.6 KiB
 * body, a tenth of the forwarder's HTTP threads' CPU per request). */
static void body_key(const char *p, size_t n, char out[17]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 32;
  }
  for (int i = 15; i >= 0; i--, h >>= 4)
    out[i] = hex[h & 15];
  out[16] = '\0';
}

/* PREFIX + the lower-cased value of the body's first "event_type" member,
 * found by a substring search; PREFIX + "unknown" when there is none. */
static void type_topic(const char *p, size_t n, char *out, size_t cap) {
  static const char k[] = "\"event_type\"";
  const char *at = memmem(p, n, k, sizeof k - 1), *end = p + n;
  size_t w = (size_t)snprintf(out, cap, "%s", fw_prefix);
  if (at) {
    at += sizeof k - 1;
    while (at < end && (*at == ' ' || *at == ':'))
      at++;
    if (at < end && *at == '"') {
      size_t start = w;
      for (at++; at < end && *at != '"' && w + 1 < cap; at++)
        out[w++] = (char)(*at >= 'A' && *at <= 'Z' ? *at + 32 : *at);
      if (at < end && *at == '"' && w > start) {
        out[w] = '\0';
        return;
      }
      w = start;
    }
  }
  snprintf(out + w, cap - w, "unknown");
}

static enum MHD_Result produce(struct MHD_Connection *c, fw_req *r) {
  char key[17], topic[128];
  const char *body = r->body.data ? r->body.data : "";
  body_key(body, r->body.len, key);
  if (fw_prefix)
    type_topic(body, r->body.len, topic, sizeof topic);
  pthread_mutex_lock(&fw_mu);
  r->produced = true;
  r->in_flight = true;
  pthread_mutex_unlock(&fw_mu);
  /* Suspended before the produce: the report may come at once. */
  MHD_suspend_connection(c);
  int err = fw_prefix
                ? (int)rd_kafka_producev(
                      fw_rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, 16),
                      RD_KAFKA_V_VALUE((void *)body, r->body.len),
                      RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END)
                : rd_kafka_produce(fw_rkt, RD_KAFKA_PARTITION_UA, 0,
                                   (void *)body, r->body.len, key, 16, r);
  if (err != 0) {
    pthread_mutex_lock(&fw_mu);
    r->in_flight = false;
    r->done = true;
    r->ok = false;
    pthread_mutex_unlock(&fw_mu);
    MHD_resume_connection(c);
  }
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)cls;
  (void)url;
  (void)version;
  fw_req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    r->conn = c;
    ls_buf_init(&r->body, BENCH_MAX_BODY);
    *con_cls = r;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
      return respond(c, MHD_HTTP_OK, k_accepted);
    return MHD_YES;
  }
  if (*upload_size > 0) {
    if (!r->too_large && ls_buf_append(&r->body, upload, *upload_size) != LS_OK)
      r->too_large = true;
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->too_large)
    return respond(c, MHD_HTTP_CONTENT_TOO_LARGE, k_too_large);
  if (!r->produced)
    return produce(c, r);
  pthread_mutex_lock(&fw_mu);
  bool done = r->done, ok = r->ok;
  pthread_mutex_unlock(&fw_mu);
  if (!done)
    return MHD_YES;
  return respond(c, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                 ok ? k_accepted : k_unavailable);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  fw_req *r = *con_cls;
  if (!r)
    return;
  *con_cls = NULL;
  pthread_mutex_lock(&fw_mu);
  r->conn = NULL;
  bool keep = r->in_flight; /* the report frees it */
  pthread_mutex_unlock(&fw_mu);
  if (!keep)
    req_free(r);
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  fw_req *r = m->_private;
  if (!r)
    return;
  pthread_mutex_lock(&fw_mu);
  r->in_flight = false;
  r->done = true;
  r->ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  struct MHD_Connection *c = r->conn;
  pthread_mutex_unlock(&fw_mu);
  if (c)
    MHD_resume_connection(c); /* suspended: c cannot go away before this */
  else
    req_free(r);
}

static void *poller_main(void *arg) {
  (void)arg;
  while (!atomic_load(&fw_stop_poller))
    rd_kafka_poll(fw_rk, 50);
  return NULL;
}

/* The ingress's producer: same config file, same defaults. */
static rd_kafka_t *fw_producer(const ls_config *cfg, char *errstr,
                               size_t errlen) {
  char rkerr[256], v[32];
  rd_kafka_t *rk = NULL;
  rd_kafka_conf_t *conf = kq_conf_new_producer(cfg, errstr, errlen);
  if (!conf || !kq_producer_defaults(conf, cfg, errstr, errlen))
    goto fail;
  snprintf(v, sizeof v, "%ld", cfg->ingress.kafka_timeout_ms);
  if (!kq_set(conf, "message.timeout.ms", v, errstr, errlen))
    goto fail;
  rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
  rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof rkerr);
  if (!rk) {
    snprintf(errstr, errlen, "producer: %s", rkerr);
    goto fail;
  }
  return rk;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  return NULL;
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "bench-forwarder"))
    return 0;
  const char *listen = "127.0.0.1:0", *ready_file = NULL, *config = NULL;
  const char *topic = NULL;
  bool per_type = false;
  long threads = 2;
  char url[320], errstr[LS_ERRSTR_SIZE], tname[LS_ERRSTR_SIZE];
  int rc = 1;
  ls_config *cfg = NULL;
  struct MHD_Daemon *d = NULL;
  pthread_t poller;
  bool poller_started = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--listen") && v) {
      listen = v;
      i++;
    } else if (!strcmp(a, "--ready-file") && v) {
      ready_file = v;
      i++;
    } else if (!strcmp(a, "--config") && v) {
      config = v;
      i++;
    } else if (!strcmp(a, "--topic") && v) {
      topic = v;
      i++;
    } else if (!strcmp(a, "--topic-per-type")) {
      per_type = true;
    } else if (!strcmp(a, "--threads") && v &&
               bench_parse_long(v, 1, 64, &threads)) {
      i++;
    } else {
      fprintf(stderr, "bench-forwarder: bad argument %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (!config) {
    usage(stderr);
    return 2;
  }
  bench_install_signals();
  if (ls_config_load(config, &cfg, errstr, sizeof errstr) != LS_OK) {
    fprintf(stderr, "bench-forwarder: %s\n", errstr);
    goto out;
  }
  if (per_type)
    fw_prefix = cfg->topic_prefix;
  if (!topic) {
    snprintf(tname, sizeof tname, "%semail_sent", cfg->topic_prefix);
    topic = tname;
  }
  if (!(fw_rk = fw_producer(cfg, errstr, sizeof errstr))) {
    fprintf(stderr, "bench-forwarder: %s\n", errstr);
    goto out;
  }
  fw_rkt = rd_kafka_topic_new(fw_rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  if (!fw_rkt || rd_kafka_metadata(fw_rk, fw_prefix != NULL, fw_rkt, &md,
                                   10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fprintf(stderr, "bench-forwarder: no metadata for %s\n", topic);
    goto out;
  }
  rd_kafka_metadata_destroy(md);
  if (pthread_create(&poller, NULL, poller_main, NULL) != 0)
    goto out;
  poller_started = true;
  d = bench_mhd_start("bench-forwarder", listen, (unsigned)threads, on_request,
                      on_completed, url, sizeof url);
  if (!d)
    goto out;
  printf("url=%s\n", url);
  fflush(stdout);
  if (ready_file && ls_write_file_atomic(ready_file, url) != 0) {
    fprintf(stderr, "bench-forwarder: cannot write %s\n", ready_file);
    goto out;
  }
  while (!bench_stop) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  rc = 0;
out:
  /* Kafka first: every waiting request is answered before MHD stops. */
  if (fw_rk)
    rd_kafka_flush(fw_rk, 5000);
  if (poller_started) {
    atomic_store(&fw_stop_poller, true);
    pthread_join(poller, NULL);
  }
  if (d)
    MHD_stop_daemon(d);
  if (fw_rkt)
    rd_kafka_topic_destroy(fw_rkt);
  if (fw_rk)
    rd_kafka_destroy(fw_rk);
  ls_config_free(cfg);
  return rc;
}

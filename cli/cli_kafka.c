/* cli_kafka: bounded reads of topic ranges (assign, not subscribe: the CLI
 * must not join the workers' groups), producing with delivery accounting,
 * and the header rewrite every replay shares. */
#include "cli_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kq.h"
#include "ls_array.h"
#include "ls_time.h"

/* librdkafka's own connection chatter would drown the CLI's output; the
 * CLI reports what failed itself. LEADSYNC_LOG_LEVEL=debug restores it. */
static const char *log_level(void) {
  const char *lvl = getenv("LEADSYNC_LOG_LEVEL");
  return lvl && !strcmp(lvl, "debug") ? "6" : "2";
}

rd_kafka_t *cli_kafka_consumer(const ls_config *cfg, const char *group_id,
                               char *errstr, size_t len) {
  char group[128];
  if (!group_id) {
    snprintf(group, sizeof group, "leadsync-cli-%ld-%lld", (long)getpid(),
             (long long)ls_now_us());
    group_id = group;
  }
  /* test-sync follows new records: do not let the broker sit on a fetch
   * for the default 500 ms. */
  const char *props[] = {"log_level", log_level(),         "auto.offset.reset",
                         "earliest",  "fetch.wait.max.ms", "50",
                         NULL};
  kq_consumer_opts o = {
      .kind = KQ_READER, .group_id = group_id, .props = props};
  return kq_consumer_new(cfg, &o, errstr, len);
}

rd_kafka_t *cli_kafka_producer(const ls_config *cfg, cli_delivery *dr,
                               char *errstr, size_t len) {
  const char *props[] = {"log_level", log_level(), "message.timeout.ms",
                         "30000", NULL};
  kq_producer_opts o = {.props = props, .delivery = dr};
  return kq_producer_new(cfg, &o, errstr, len);
}

ls_err cli_kafka_produce(rd_kafka_t *producer, const char *topic,
                         const void *key, size_t key_len, const void *value,
                         size_t value_len, rd_kafka_headers_t *hdrs,
                         char *errstr, size_t len) {
  rd_kafka_resp_err_t err = kq_produce(producer, topic, key, key_len, value,
                                       value_len, hdrs, NULL, 30000, NULL);
  if (!err)
    return LS_OK; /* the headers belong to the message now */
  if (hdrs)
    rd_kafka_headers_destroy(hdrs);
  snprintf(errstr, len, "Kafka: produce to %s: %s", topic,
           rd_kafka_err2str(err));
  return LS_ERR_KAFKA;
}

bool cli_kafka_flush(rd_kafka_t *producer, const cli_delivery *dr,
                     int timeout_ms, char *errstr, size_t len) {
  return kq_flush(producer, dr, timeout_ms, errstr, len);
}

static ls_err add_topic_ranges(rd_kafka_t *rk, const char *topic,
                               int timeout_ms, cli_ranges *out, char *errstr,
                               size_t len) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (!rkt) {
    snprintf(errstr, len, "cannot use topic %s", topic);
    return LS_ERR_KAFKA;
  }
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
  rd_kafka_topic_destroy(rkt);
  if (err) {
    snprintf(errstr, len, "Kafka unreachable (metadata for %s: %s)", topic,
             rd_kafka_err2str(err));
    return LS_ERR_KAFKA;
  }
  ls_err e = LS_OK;
  if (md->topic_cnt < 1 || md->topics[0].err ||
      md->topics[0].partition_cnt < 1) {
    snprintf(errstr, len, "topic %s: %s", topic,
             md->topic_cnt < 1   ? "no metadata"
             : md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                 : "no partitions");
    e = LS_ERR_KAFKA;
    goto out;
  }
  int np = md->topics[0].partition_cnt;
  if (!LS_ARRAY_GROW(out->v, out->cap, out->n + (size_t)np)) {
    e = LS_ERR_NOMEM;
    goto out;
  }
  for (int i = 0; i < np; i++) {
    cli_range *r = &out->v[out->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->topic, sizeof r->topic, "%s", topic);
    r->partition = md->topics[0].partitions[i].id;
    r->committed = -1;
    err = rd_kafka_query_watermark_offsets(rk, topic, r->partition, &r->low,
                                           &r->high, timeout_ms);
    if (err) {
      snprintf(errstr, len, "Kafka: watermarks of %s [%d]: %s", topic,
               (int)r->partition, rd_kafka_err2str(err));
      e = LS_ERR_KAFKA;
      goto out;
    }
    r->start = r->low;
    r->end = r->high;
  }
out:
  rd_kafka_metadata_destroy(md);
  return e;
}

/* offsets_for_times over every range, with ts (ms) for each; results in
 * offs (-1: no record at or after ts, or no answer). */
static ls_err lookup_times(rd_kafka_t *rk, const cli_ranges *r, int64_t ts,
                           int64_t *offs, int timeout_ms, char *errstr,
                           size_t len) {
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)r->n);
  for (size_t i = 0; i < r->n; i++)
    rd_kafka_topic_partition_list_add(l, r->v[i].topic, r->v[i].partition)
        ->offset = ts;
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, l, timeout_ms);
  if (err) {
    snprintf(errstr, len, "Kafka: offsets_for_times: %s",
             rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    return LS_ERR_KAFKA;
  }
  for (size_t i = 0; i < r->n; i++) {
    const rd_kafka_topic_partition_t *p = &l->elems[i];
    offs[i] = p->err ? -1 : p->offset;
  }
  rd_kafka_topic_partition_list_destroy(l);
  return LS_OK;
}

ls_err cli_kafka_plan(rd_kafka_t *rk, const char *const *topics,
                      size_t n_topics, int64_t since_ms, int64_t until_ms,
                      bool from_committed, int timeout_ms, cli_ranges *out,
                      char *errstr, size_t len) {
  ls_err e = LS_OK;
  int64_t *offs = NULL;
  memset(out, 0, sizeof *out);
  out->since_ms = since_ms;
  out->until_ms = until_ms;
  out->times_supported = true;
  for (size_t i = 0; i < n_topics && e == LS_OK; i++)
    e = add_topic_ranges(rk, topics[i], timeout_ms, out, errstr, len);
  if (e != LS_OK || !out->n)
    goto out;
  offs = calloc(out->n, sizeof *offs);
  if (!offs) {
    e = LS_ERR_NOMEM;
    goto out;
  }
  if (since_ms != CLI_NO_TIME || until_ms != CLI_NO_TIME) {
    /* Probe: a cluster that knows timestamps finds the first record of a
     * non-empty partition for ts=0; the mock cluster answers -1. */
    if ((e = lookup_times(rk, out, 0, offs, timeout_ms, errstr, len)) != LS_OK)
      goto out;
    for (size_t i = 0; i < out->n; i++)
      if (out->v[i].low < out->v[i].high && offs[i] < 0)
        out->times_supported = false;
  }
  if (out->times_supported && since_ms != CLI_NO_TIME) {
    if ((e = lookup_times(rk, out, since_ms, offs, timeout_ms, errstr, len)) !=
        LS_OK)
      goto out;
    for (size_t i = 0; i < out->n; i++)
      out->v[i].start = offs[i] >= 0 ? offs[i] : out->v[i].high;
  }
  if (out->times_supported && until_ms != CLI_NO_TIME) {
    if ((e = lookup_times(rk, out, until_ms + 1, offs, timeout_ms, errstr,
                          len)) != LS_OK)
      goto out;
    for (size_t i = 0; i < out->n; i++)
      if (offs[i] >= 0 && offs[i] < out->v[i].end)
        out->v[i].end = offs[i];
  }
  if (from_committed) {
    if ((e = cli_kafka_committed(rk, out, timeout_ms, errstr, len)) != LS_OK)
      goto out;
    for (size_t i = 0; i < out->n; i++) {
      int64_t c = out->v[i].committed;
      if (c >= 0 && c > out->v[i].start)
        out->v[i].start = c < out->v[i].end ? c : out->v[i].end;
    }
  }
out:
  free(offs);
  return e;
}

ls_err cli_kafka_committed(rd_kafka_t *rk, cli_ranges *r, int timeout_ms,
                           char *errstr, size_t len) {
  if (!r->n)
    return LS_OK;
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)r->n);
  for (size_t i = 0; i < r->n; i++)
    rd_kafka_topic_partition_list_add(l, r->v[i].topic, r->v[i].partition);
  rd_kafka_resp_err_t err = rd_kafka_committed(rk, l, timeout_ms);
  if (err) {
    snprintf(errstr, len, "Kafka: committed offsets: %s",
             rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    return LS_ERR_KAFKA;
  }
  for (size_t i = 0; i < r->n; i++)
    r->v[i].committed = l->elems[i].err ? -1 : l->elems[i].offset;
  rd_kafka_topic_partition_list_destroy(l);
  return LS_OK;
}

void cli_ranges_free(cli_ranges *r) {
  free(r->v);
  memset(r, 0, sizeof *r);
}

ls_err cli_kafka_commit(rd_kafka_t *rk,
                        const rd_kafka_topic_partition_list_t *offsets,
                        char *errstr, size_t len) {
  if (!offsets->cnt)
    return LS_OK;
  rd_kafka_resp_err_t err = rd_kafka_commit(rk, offsets, 0);
  if (!err)
    for (int i = 0; i < offsets->cnt && !err; i++)
      err = offsets->elems[i].err;
  if (err) {
    snprintf(errstr, len, "Kafka: commit: %s", rd_kafka_err2str(err));
    return LS_ERR_KAFKA;
  }
  return LS_OK;
}

static cli_range *find_range(cli_ranges *r, const char *topic, int32_t p) {
  for (size_t i = 0; i < r->n; i++)
    if (r->v[i].partition == p && !strcmp(r->v[i].topic, topic))
      return &r->v[i];
  return NULL;
}

static bool all_done(const cli_ranges *r) {
  for (size_t i = 0; i < r->n; i++)
    if (!r->v[i].done)
      return false;
  return true;
}

ls_err cli_kafka_read(rd_kafka_t *rk, cli_ranges *r, cli_record_fn fn,
                      void *opaque, int idle_ms, int64_t deadline_us,
                      char *errstr, size_t len) {
  ls_err e = LS_OK;
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)r->n ? (int)r->n : 1);
  for (size_t i = 0; i < r->n; i++) {
    cli_range *rg = &r->v[i];
    rg->done = rg->start >= rg->end;
    if (!rg->done)
      rd_kafka_topic_partition_list_add(l, rg->topic, rg->partition)->offset =
          rg->start;
  }
  if (!l->cnt)
    goto out;
  rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
  if (err) {
    snprintf(errstr, len, "Kafka: assign: %s", rd_kafka_err2str(err));
    e = LS_ERR_KAFKA;
    goto out;
  }
  int64_t last = ls_mono_us();
  while (!all_done(r)) {
    int64_t now = ls_mono_us();
    if (deadline_us && now >= deadline_us) {
      snprintf(errstr, len, "deadline reached");
      e = LS_ERR_TIMEOUT;
      break;
    }
    if (now - last > (int64_t)idle_ms * 1000) {
      for (size_t i = 0; i < r->n; i++)
        if (!r->v[i].done) {
          snprintf(errstr, len,
                   "Kafka: no record from %s [%d] for %d ms (reading up to "
                   "offset %lld)",
                   r->v[i].topic, (int)r->v[i].partition, idle_ms,
                   (long long)r->v[i].end);
          break;
        }
      e = LS_ERR_TIMEOUT;
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
    if (!m)
      continue;
    if (m->err) {
      /* Transient consumer errors (broker down) are retried by librdkafka;
       * the idle timeout bounds the wait. */
      rd_kafka_message_destroy(m);
      continue;
    }
    last = ls_mono_us();
    cli_range *rg = find_range(r, rd_kafka_topic_name(m->rkt), m->partition);
    int stop = 0;
    if (rg && !rg->done && m->offset < rg->end) {
      rd_kafka_timestamp_type_t tt;
      int64_t ts = rd_kafka_message_timestamp(m, &tt);
      bool in_window =
          (r->since_ms == CLI_NO_TIME || ts < 0 || ts >= r->since_ms) &&
          (r->until_ms == CLI_NO_TIME || ts < 0 || ts <= r->until_ms);
      if (in_window)
        stop = fn(m, rg, opaque);
      if (m->offset + 1 >= rg->end)
        rg->done = true;
    }
    rd_kafka_message_destroy(m);
    if (stop)
      break;
  }
  rd_kafka_assign(rk, NULL);
out:
  rd_kafka_topic_partition_list_destroy(l);
  return e;
}

rd_kafka_headers_t *cli_replay_headers(const rd_kafka_message_t *m,
                                       const char *kind, bool bump_attempt) {
  rd_kafka_headers_t *src = NULL, *out = rd_kafka_headers_new(16);
  long attempt = 1;
  bool had_attempt = false;
  if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; !rd_kafka_header_get_all(src, i, &name, &val, &size);
         i++) {
      if (!strcmp(name, "ls_attempt")) {
        char buf[24];
        size_t n = size < sizeof buf - 1 ? size : sizeof buf - 1;
        memcpy(buf, val ? val : "", n);
        buf[n] = '\0';
        char *end;
        long a = strtol(buf, &end, 10);
        if (end != buf && a >= 1) {
          attempt = a;
          had_attempt = true;
        }
        continue;
      }
      if (!strncmp(name, "ls_dlq_", 7) || !strcmp(name, "ls_replay"))
        continue;
      rd_kafka_header_add(out, name, -1, val, val ? (ssize_t)size : 0);
    }
  }
  if (bump_attempt || had_attempt) {
    char buf[24];
    snprintf(buf, sizeof buf, "%ld", bump_attempt ? attempt + 1 : attempt);
    rd_kafka_header_add(out, "ls_attempt", -1, buf, -1);
  }
  rd_kafka_header_add(out, "ls_replay", -1, kind, -1);
  return out;
}

const char *cli_header(const rd_kafka_message_t *m, const char *name, char *buf,
                       size_t len) {
  return kq_header(m, name, buf, len);
}

static void part(const char *s, size_t n, char *out, size_t len) {
  if (n == 1 && s[0] == '-')
    n = 0;
  if (n >= len)
    n = len - 1;
  memcpy(out, s, n);
  out[n] = '\0';
}

void cli_key_parts(const rd_kafka_message_t *m, char *tenant, size_t tl,
                   char *campaign, size_t cl, char *email, size_t el) {
  char key[LS_KEY_MAX];
  size_t n = m->key_len < sizeof key - 1 ? m->key_len : sizeof key - 1;
  memcpy(key, m->key ? m->key : "", n);
  key[n] = '\0';
  tenant[0] = campaign[0] = email[0] = '\0';
  char *c1 = strchr(key, ':');
  if (!c1) {
    part(key, strlen(key), tenant, tl);
    return;
  }
  part(key, (size_t)(c1 - key), tenant, tl);
  char *c2 = strchr(c1 + 1, ':');
  if (!c2) {
    part(c1 + 1, strlen(c1 + 1), campaign, cl);
    return;
  }
  part(c1 + 1, (size_t)(c2 - c1 - 1), campaign, cl);
  part(c2 + 1, strlen(c2 + 1), email, el);
}

void cli_kafka_done(rd_kafka_t *rk, cli_ranges *r) {
  if (r)
    cli_ranges_free(r);
  if (rk) {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
}

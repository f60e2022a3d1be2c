/* fl_readback: leadsync.held records read back by offset. */
#include "fl_readback.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq_client.h"
#include "ls_time.h"

/* Records between two wanted offsets below which reading on beats a seek
 * (a seek is a new fetch from the broker, tens of milliseconds on the dev
 * broker; reading a small record takes about a microsecond). */
#define SEEK_GAP 20000
#define READ_TIMEOUT_US (120 * 1000000LL)

struct fl_reader {
  rd_kafka_t *c;
  volatile sig_atomic_t *stop;
};

fl_reader *fl_reader_new(const ls_config *cfg, long max_msg_bytes,
                         volatile sig_atomic_t *stop, char *errstr,
                         size_t errlen) {
  char fetch_max[32];
  /* fetch.max.bytes may not be below message.max.bytes (librdkafka). */
  snprintf(fetch_max, sizeof fetch_max, "%ld",
           (max_msg_bytes > 1000000 ? max_msg_bytes : 1000000) + 65536);
  /* Never commits or stores (KQ_READER); small fetches and queue. */
  const char *const props[] = {"enable.partition.eof",
                               "true",
                               "fetch.wait.max.ms",
                               "10",
                               "queued.max.messages.kbytes",
                               "1024",
                               "max.partition.fetch.bytes",
                               "262144",
                               "fetch.max.bytes",
                               fetch_max,
                               "log_level",
                               "3",
                               NULL};
  kq_consumer_opts o = {
      .kind = KQ_READER, .group_id = "leadsync-filter-reader", .props = props};
  fl_reader *rd = calloc(1, sizeof *rd);
  if (!rd) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  rd->stop = stop;
  rd->c = kq_consumer_new(cfg, &o, errstr, errlen);
  if (!rd->c) {
    free(rd);
    return NULL;
  }
  return rd;
}

void fl_reader_free(fl_reader *rd) {
  if (!rd)
    return;
  rd_kafka_assign(rd->c, NULL);
  rd_kafka_consumer_close(rd->c);
  rd_kafka_destroy(rd->c);
  free(rd);
}

bool fl_reader_watermarks(fl_reader *rd, const char *topic, int32_t p,
                          int64_t *lo, int64_t *hi, char *errstr,
                          size_t errlen) {
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(rd->c, topic, p, lo, hi, 10000);
  if (err)
    snprintf(errstr, errlen, "watermarks of %s [%d]: %s", topic, (int)p,
             rd_kafka_err2str(err));
  return !err;
}

/* (Re)assigns the reader to topic/p at offset: also how it seeks. */
static bool assign_at(fl_reader *rd, const char *topic, int32_t p,
                      int64_t offset, char *errstr, size_t errlen) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, p)->offset = offset;
  rd_kafka_resp_err_t err = rd_kafka_assign(rd->c, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (err)
    snprintf(errstr, errlen, "assign %s [%d] at %lld: %s", topic, (int)p,
             (long long)offset, rd_kafka_err2str(err));
  return !err;
}

/* The next record, or NULL (nothing yet, or a transient error). *eof
 * when the partition's end was reached; false when reading must stop. */
static bool next(fl_reader *rd, int64_t deadline, rd_kafka_message_t **out,
                 bool *eof, char *errstr, size_t errlen) {
  *out = NULL;
  *eof = false;
  if (*rd->stop) {
    snprintf(errstr, errlen, "stopping");
    return false;
  }
  if (ls_mono_us() > deadline) {
    snprintf(errstr, errlen, "timed out");
    return false;
  }
  rd_kafka_message_t *m = rd_kafka_consumer_poll(rd->c, 200);
  if (!m)
    return true;
  if (!m->err) {
    *out = m;
    return true;
  }
  bool ok = true;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
    *eof = true;
  } else if (m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
             m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET) {
    snprintf(errstr, errlen, "%s", rd_kafka_message_errstr(m));
    ok = false;
  }
  rd_kafka_message_destroy(m);
  return ok;
}

bool fl_reader_get(fl_reader *rd, const char *topic, int32_t p,
                   const int64_t *offs, size_t n, rd_kafka_message_t **out,
                   char *errstr, size_t errlen) {
  for (size_t i = 0; i < n; i++)
    out[i] = NULL;
  if (!n)
    return true;
  int64_t lo, hi;
  if (!fl_reader_watermarks(rd, topic, p, &lo, &hi, errstr, errlen))
    return false;
  size_t j = 0;
  while (j < n && offs[j] < lo)
    j++; /* gone: retention removed it */
  if (j == n)
    return true;
  if (!assign_at(rd, topic, p, offs[j], errstr, errlen))
    return false;
  bool ok = true;
  int64_t deadline = ls_mono_us() + READ_TIMEOUT_US;
  while (j < n) {
    rd_kafka_message_t *m;
    bool eof;
    if (!(ok = next(rd, deadline, &m, &eof, errstr, errlen)))
      break;
    if (eof)
      break; /* what is left is past the end: not there */
    if (!m)
      continue;
    if (m->offset < offs[j]) {
      if (offs[j] - m->offset > SEEK_GAP &&
          !(ok = assign_at(rd, topic, p, offs[j], errstr, errlen))) {
        rd_kafka_message_destroy(m);
        break;
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    while (j < n && offs[j] < m->offset)
      j++; /* no record at that offset (a gap): not there */
    if (j < n && offs[j] == m->offset)
      out[j++] = m;
    else
      rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(rd->c, NULL);
  if (!ok)
    for (size_t i = 0; i < n; i++) {
      if (out[i])
        rd_kafka_message_destroy(out[i]);
      out[i] = NULL;
    }
  return ok;
}

bool fl_reader_range(fl_reader *rd, const char *topic, int32_t p, int64_t from,
                     int64_t to,
                     void (*fn)(const rd_kafka_message_t *m, void *arg),
                     void *arg, char *errstr, size_t errlen) {
  if (from >= 0 && from >= to)
    return true;
  if (!assign_at(rd, topic, p, from >= 0 ? from : RD_KAFKA_OFFSET_BEGINNING,
                 errstr, errlen))
    return false;
  bool ok = true;
  int64_t deadline = ls_mono_us() + READ_TIMEOUT_US;
  for (;;) {
    rd_kafka_message_t *m;
    bool eof;
    if (!(ok = next(rd, deadline, &m, &eof, errstr, errlen)) || eof)
      break;
    if (!m)
      continue;
    int64_t off = m->offset;
    if (off < to)
      fn(m, arg);
    rd_kafka_message_destroy(m);
    if (off + 1 >= to)
      break;
  }
  rd_kafka_assign(rd->c, NULL);
  if (!ok)
    snprintf(errstr + strlen(errstr), errlen - strlen(errstr),
             " (reading %s [%d] up to %lld)", topic, (int)p, (long long)to);
  return ok;
}

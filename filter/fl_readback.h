/* fl_readback: reads records of leadsync.held back by offset, for the
 * filter's releases and expiries (the state keeps offsets, not records),
 * and whole ranges for its restore. One group-less consumer, assigned to
 * one partition at a time; sorted offsets are read in one forward pass
 * (a seek costs tens of milliseconds, a record in a fetch microseconds),
 * seeking only over long gaps. */
#ifndef FL_READBACK_H
#define FL_READBACK_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_config.h"

typedef struct fl_reader fl_reader;

/* A consumer with small fetch buffers (queued.max.messages.kbytes), so a
 * read never holds more than about a megabyte beyond what it returns. */
fl_reader *fl_reader_new(const ls_config *cfg, long max_msg_bytes,
                         volatile sig_atomic_t *stop, char *errstr,
                         size_t errlen);
void fl_reader_free(fl_reader *rd);

/* Reads the records at offs[0..n) (ascending, no repeats) of topic/p:
 * out[i] gets the record at offs[i] (the caller destroys it), or NULL when
 * Kafka no longer has it (before the partition's first offset: retention).
 * false, with errstr, when the read could not finish (stop, timeout,
 * error); then every out[i] is NULL. */
bool fl_reader_get(fl_reader *rd, const char *topic, int32_t p,
                   const int64_t *offs, size_t n, rd_kafka_message_t **out,
                   char *errstr, size_t errlen);

/* Calls fn on every record of topic/p in [from, to) (from < 0: the
 * partition's first offset), in order. false, with errstr, when the read
 * could not finish. */
bool fl_reader_range(fl_reader *rd, const char *topic, int32_t p, int64_t from,
                     int64_t to,
                     void (*fn)(const rd_kafka_message_t *m, void *arg),
                     void *arg, char *errstr, size_t errlen);

/* The partition's low and high watermarks (asks the broker). */
bool fl_reader_watermarks(fl_reader *rd, const char *topic, int32_t p,
                          int64_t *lo, int64_t *hi, char *errstr,
                          size_t errlen);

#endif

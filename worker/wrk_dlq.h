/* wrk_dlq: the DLQ record of one original record (full copy or stub),
 * shared by the sync worker (wrk_dlq_emit) and the filter role. */
#ifndef WRK_DLQ_H
#define WRK_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *topic; /* where the original was read */
  int32_t partition;
  int64_t offset;
  const void *key;
  size_t klen;
  const void *value;
  size_t len;
  const rd_kafka_headers_t *hdrs; /* the original's headers, or NULL */
  const char *event_id;
  const char *reason; /* ls_dlq_reason */
  long http_status;   /* 0: none */
  const char *hs_category;
  const char *hs_message;
  int attempts;
  int64_t first_failure_us; /* 0: now */
  const char *group;
  bool force_stub;    /* its full copy was refused before */
  long max_msg_bytes; /* the producer's message.max.bytes */
} wrk_dlq_src;

/* Builds the DLQ record of s: *h gets its headers (the caller owns them);
 * *stub a malloc'd stub value when the original cannot be copied whole
 * (else NULL: the value is s->value); *klen the key length to produce.
 * false when out of memory (nothing to free then). */
bool wrk_dlq_build(const wrk_dlq_src *s, rd_kafka_headers_t **h, char **stub,
                   size_t *klen);

#endif

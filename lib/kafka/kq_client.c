/* kq_client: producer and consumer construction, the produce call that
 * waits out a full queue, and delivery counting. */
#include "kq_client.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kq.h"
#include "ls_time.h"

static bool set_all(rd_kafka_conf_t *conf, const char *const *props,
                    char *errstr, size_t errlen) {
  for (; props && props[0]; props += 2) {
    if (!props[1]) {
      snprintf(errstr, errlen, "kafka property %s: no value", props[0]);
      return false;
    }
    if (!kq_set(conf, props[0], props[1], errstr, errlen))
      return false;
  }
  return true;
}

static void count_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                           void *opaque) {
  (void)rk;
  kq_delivery *d = opaque;
  if (!m->err) {
    d->acked++;
    return;
  }
  if (!d->failed)
    snprintf(d->first_error, sizeof d->first_error, "%s: %s",
             rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
  d->failed++;
}

rd_kafka_t *kq_producer_new(const ls_config *cfg, const kq_producer_opts *o,
                            char *errstr, size_t errlen) {
  static const kq_producer_opts none;
  if (!o)
    o = &none;
  rd_kafka_conf_t *conf = kq_conf_new_producer(cfg, errstr, errlen);
  if (!conf)
    return NULL;
  if (!kq_producer_defaults(conf, cfg, errstr, errlen) ||
      !set_all(conf, o->props, errstr, errlen))
    goto fail;
  if (o->on_delivery) {
    rd_kafka_conf_set_dr_msg_cb(conf, o->on_delivery);
    rd_kafka_conf_set_opaque(conf, o->opaque);
  } else if (o->delivery) {
    memset(o->delivery, 0, sizeof *o->delivery);
    rd_kafka_conf_set_dr_msg_cb(conf, count_delivery);
    rd_kafka_conf_set_opaque(conf, o->delivery);
  }
  char rkerr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof rkerr);
  if (!rk) {
    snprintf(errstr, errlen, "cannot create a Kafka producer: %s", rkerr);
    goto fail;
  }
  return rk; /* the handle owns conf now */
fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

rd_kafka_resp_err_t kq_produce(rd_kafka_t *rk, const char *topic,
                               const void *key, size_t klen, const void *val,
                               size_t vlen, rd_kafka_headers_t *hdrs,
                               void *msg_opaque, int wait_ms,
                               const volatile sig_atomic_t *stop) {
  return kq_produce_to(rk, topic, RD_KAFKA_PARTITION_UA, key, klen, val, vlen,
                       hdrs, msg_opaque, wait_ms, stop);
}

rd_kafka_resp_err_t kq_produce_to(rd_kafka_t *rk, const char *topic,
                                  int32_t partition, const void *key,
                                  size_t klen, const void *val, size_t vlen,
                                  rd_kafka_headers_t *hdrs, void *msg_opaque,
                                  int wait_ms,
                                  const volatile sig_atomic_t *stop) {
  long long deadline = wait_ms >= 0 ? ls_mono_us() + wait_ms * 1000LL : 0;
  for (;;) {
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return err;
    /* The queue drains as the broker acknowledges: serve the delivery
     * reports that free it, then try again. */
    if ((stop && *stop) || (wait_ms >= 0 && ls_mono_us() >= deadline))
      return err;
    rd_kafka_poll(rk, 50);
  }
}

bool kq_flush(rd_kafka_t *rk, const kq_delivery *d, int timeout_ms,
              char *errstr, size_t errlen) {
  rd_kafka_resp_err_t err = rd_kafka_flush(rk, timeout_ms);
  if (d && d->failed) {
    snprintf(errstr, errlen, "%ld record(s) not delivered (first: %s)",
             d->failed, d->first_error);
    return false;
  }
  if (err || rd_kafka_outq_len(rk) > 0) {
    snprintf(errstr, errlen, "%d record(s) still unacknowledged after %d ms",
             rd_kafka_outq_len(rk), timeout_ms);
    return false;
  }
  return true;
}

rd_kafka_t *kq_consumer_new(const ls_config *cfg, const kq_consumer_opts *o,
                            char *errstr, size_t errlen) {
  rd_kafka_conf_t *conf = kq_conf_new_consumer(cfg, errstr, errlen);
  if (!conf)
    return NULL;
  bool ok;
  if (o->kind == KQ_GROUP_MEMBER)
    ok = kq_consumer_defaults(conf, o->group_id, errstr, errlen);
  else
    ok = kq_set(conf, "group.id", o->group_id, errstr, errlen) &&
         kq_set(conf, "enable.auto.commit", "false", errstr, errlen) &&
         kq_set(conf, "enable.auto.offset.store", "false", errstr, errlen) &&
         kq_set(conf, "enable.partition.eof", "false", errstr, errlen);
  if (!ok || !set_all(conf, o->props, errstr, errlen))
    goto fail;
  if (o->on_rebalance)
    rd_kafka_conf_set_rebalance_cb(conf, o->on_rebalance);
  if (o->opaque)
    rd_kafka_conf_set_opaque(conf, o->opaque);
  char rkerr[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof rkerr);
  if (!rk) {
    snprintf(errstr, errlen, "cannot create a Kafka consumer (%s): %s",
             o->group_id, rkerr);
    goto fail;
  }
  if (o->poll_set_consumer)
    rd_kafka_poll_set_consumer(rk);
  return rk;
fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

rd_kafka_t *kq_tailer_new(const ls_config *cfg, const char *name, char *errstr,
                          size_t errlen) {
  char group[128];
  snprintf(group, sizeof group, "%s-%ld", name, (long)getpid());
  static const char *const props[] = {"fetch.wait.max.ms", "100", NULL};
  kq_consumer_opts o = {.kind = KQ_READER, .group_id = group, .props = props};
  return kq_consumer_new(cfg, &o, errstr, errlen);
}

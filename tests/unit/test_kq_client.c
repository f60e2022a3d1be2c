/* test_kq_client: the Kafka helpers without a broker (lib/kafka/kq_client):
 * a full local queue is waited out for the time given, then reported; a
 * stop flag ends the wait; kq_flush names what is still queued; a rejected
 * property is named in errstr. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kq_client.h"
#include "ls_time.h"

/* Nothing listens on port 1: records stay in the local queue. */
static ls_config offline_cfg(void) {
  ls_config c;
  memset(&c, 0, sizeof c);
  c.bootstrap = "127.0.0.1:1";
  c.topic_prefix = "smartlead.";
  return c;
}

static rd_kafka_t *tiny_queue_producer(const ls_config *cfg, kq_delivery *d) {
  static const char *const props[] = {"queue.buffering.max.messages", "2",
                                      "log_level", "0", NULL};
  kq_producer_opts o = {.props = props, .delivery = d};
  char err[512];
  rd_kafka_t *rk = kq_producer_new(cfg, &o, err, sizeof err);
  if (!rk)
    fail_msg("producer: %s", err);
  return rk;
}

static void full_queue_is_waited_out_then_reported(void **state) {
  (void)state;
  ls_config cfg = offline_cfg();
  kq_delivery d;
  rd_kafka_t *rk = tiny_queue_producer(&cfg, &d);
  assert_int_equal(kq_produce(rk, "t", "k", 1, "v", 1, NULL, NULL, 0, NULL),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  assert_int_equal(kq_produce(rk, "t", "k", 1, "v", 1, NULL, NULL, 0, NULL),
                   RD_KAFKA_RESP_ERR_NO_ERROR);
  int64_t t0 = ls_mono_us();
  assert_int_equal(kq_produce(rk, "t", "k", 1, "v", 1, NULL, NULL, 300, NULL),
                   RD_KAFKA_RESP_ERR__QUEUE_FULL);
  /* It waited (at least most of the 300 ms) before giving up. */
  assert_true(ls_mono_us() - t0 >= 250 * 1000);

  volatile sig_atomic_t stop = 1;
  assert_int_equal(kq_produce(rk, "t", "k", 1, "v", 1, NULL, NULL, -1, &stop),
                   RD_KAFKA_RESP_ERR__QUEUE_FULL);

  char err[256];
  assert_false(kq_flush(rk, &d, 10, err, sizeof err));
  assert_non_null(strstr(err, "2 record(s) still unacknowledged"));
  assert_int_equal(d.acked, 0);
  rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE);
  rd_kafka_poll(rk, 0); /* the purged records' reports */
  assert_int_equal(d.failed, 2);
  assert_false(kq_flush(rk, &d, 10, err, sizeof err));
  assert_non_null(strstr(err, "2 record(s) not delivered"));
  rd_kafka_destroy(rk);
}

static void rejected_property_is_named(void **state) {
  (void)state;
  ls_config cfg = offline_cfg();
  static const char *const bad[] = {"no.such.property", "1", NULL};
  kq_consumer_opts o = {.kind = KQ_READER, .group_id = "g", .props = bad};
  char err[512] = "";
  assert_null(kq_consumer_new(&cfg, &o, err, sizeof err));
  assert_non_null(strstr(err, "no.such.property"));
  kq_producer_opts po = {.props = bad};
  err[0] = '\0';
  assert_null(kq_producer_new(&cfg, &po, err, sizeof err));
  assert_non_null(strstr(err, "no.such.property"));
  /* A group member gets the manual-store defaults. */
  kq_consumer_opts g = {.kind = KQ_GROUP_MEMBER, .group_id = "g"};
  rd_kafka_t *rk = kq_consumer_new(&cfg, &g, err, sizeof err);
  assert_non_null(rk);
  rd_kafka_destroy(rk);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(full_queue_is_waited_out_then_reported),
      cmocka_unit_test(rejected_property_is_named),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

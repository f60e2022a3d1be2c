/* Unit tests of the worker's output producer (wrk_out) against librdkafka's
 * in-process mock cluster: a wait that gives up while records are still in
 * flight (acknowledgements delayed past its deadline) fails their owners,
 * keeps the records until their late delivery reports come, and those
 * reports touch neither the failed owners nor the records of later waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ls_config.h"
#include "ls_time.h"
#include "wrk_out.h"

#define TOPIC "leadsync.ledger"

typedef struct {
  rd_kafka_t *rk; /* the mock cluster's handle */
  rd_kafka_mock_cluster_t *mc;
  ls_config cfg;
  json_t *props;
} fixture;

static int setup(void **state) {
  static fixture x;
  memset(&x, 0, sizeof x);
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  x.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(x.rk);
  x.mc = rd_kafka_mock_cluster_new(x.rk, 1);
  assert_non_null(x.mc);
  assert_int_equal(rd_kafka_mock_topic_create(x.mc, TOPIC, 1, 1), 0);
  x.cfg.bootstrap = (char *)rd_kafka_mock_cluster_bootstraps(x.mc);
  x.props = json_pack("{s:s}", "log_level", "3");
  x.cfg.kafka_props = x.props;
  *state = &x;
  return 0;
}

static int teardown(void **state) {
  fixture *x = *state;
  rd_kafka_mock_cluster_destroy(x->mc);
  rd_kafka_destroy(x->rk);
  json_decref(x->props);
  return 0;
}

static void produce(wrk_out *o, wrk_out_owner *ow, int n) {
  wrk_out_owner_set(o, ow);
  for (int i = 0; i < n; i++)
    wrk_out_produce_to(o, TOPIC, 0, "k", 1, "value", 5, NULL);
  wrk_out_owner_set(o, NULL);
}

static void set_rtt(fixture *x, int ms) {
  assert_int_equal(rd_kafka_mock_broker_set_rtt(x->mc, 1, ms), 0);
}

/* Polls until every late record was reported (a condition, not a sleep). */
static size_t settle(wrk_out *o, long timeout_ms) {
  int64_t deadline = ls_mono_us() + timeout_ms * 1000;
  size_t n;
  while ((n = wrk_out_unsettled(o)) && ls_mono_us() < deadline)
    wrk_out_wait(o, 50, NULL); /* nothing queued: serves reports */
  return n;
}

static void test_late_reports_after_deadline(void **state) {
  fixture *x = *state;
  char err[512];
  wrk_out *o = wrk_out_new(&x->cfg, err, sizeof err);
  assert_non_null(o);
  /* Warm: the producer id and metadata are fetched. */
  wrk_out_owner a = {0};
  produce(o, &a, 1);
  assert_true(wrk_out_wait(o, 15000, NULL));
  assert_false(a.failed);

  /* Acknowledgements come 1.5 s late; the wait gives up after 200 ms. */
  set_rtt(x, 1500);
  wrk_out_owner b = {0};
  produce(o, &b, 3);
  assert_false(wrk_out_wait(o, 200, NULL));
  assert_true(b.failed); /* fate unknown: not final */
  assert_non_null(strstr(b.error, "not acknowledged in time"));
  assert_int_equal(wrk_out_pending(o), 0);
  assert_int_equal(wrk_out_unsettled(o), 3);
  /* The owner is freed with its event (wrk_batch): a late report must
   * not reach it. Stand-in: cleared, it must stay clear. */
  memset(&b, 0, sizeof b);

  /* The next batch, queued behind the late ones: its own records decide
   * its owner; the late reports (delivered: b's records were stored
   * after all) land on the records kept for them. */
  set_rtt(x, 0);
  wrk_out_owner c = {0};
  produce(o, &c, 2);
  assert_true(wrk_out_wait(o, 15000, NULL));
  assert_false(c.failed);
  assert_int_equal(settle(o, 15000), 0);
  assert_false(b.failed);

  /* Freed while a record is still late: no leak, no report after free. */
  set_rtt(x, 3000);
  wrk_out_owner d = {0};
  produce(o, &d, 1);
  assert_false(wrk_out_wait(o, 100, NULL));
  assert_true(d.failed);
  assert_int_equal(wrk_out_unsettled(o), 1);
  wrk_out_free(o);
}

/* A late report that fails (purged, timed out) does not produce the record
 * again nor touch a later owner. */
static void test_late_failure_not_retried(void **state) {
  fixture *x = *state;
  char err[512];
  json_t *props =
      json_pack("{s:s,s:s}", "log_level", "3", "message.timeout.ms", "1000");
  ls_config cfg = x->cfg;
  cfg.kafka_props = props;
  wrk_out *o = wrk_out_new(&cfg, err, sizeof err);
  assert_non_null(o);
  wrk_out_owner a = {0};
  produce(o, &a, 1);
  assert_true(wrk_out_wait(o, 15000, NULL));
  size_t before = wrk_out_produced(o);

  /* The broker holds the acknowledgement beyond the message timeout: the
   * record fails late (timed out), after its wait gave up. */
  set_rtt(x, 4000);
  wrk_out_owner b = {0};
  produce(o, &b, 1);
  assert_false(wrk_out_wait(o, 100, NULL));
  assert_true(b.failed);
  memset(&b, 0, sizeof b);
  assert_int_equal(settle(o, 20000), 0);
  assert_false(b.failed);
  assert_int_equal(wrk_out_produced(o), before + 1); /* not produced again */
  set_rtt(x, 0);
  wrk_out_owner c = {0};
  produce(o, &c, 1);
  assert_true(wrk_out_wait(o, 15000, NULL));
  assert_false(c.failed);
  wrk_out_free(o);
  json_decref(props);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_late_reports_after_deadline, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_late_failure_not_retried, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

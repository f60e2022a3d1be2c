/* leadsync-devbroker: librdkafka's mock cluster served on loopback TCP. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kq.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_version.h"
#include "ls_signals.h"

static volatile sig_atomic_t stop_flag = 0;
/* SIGUSR1 takes every broker down, SIGUSR2 brings them back: fault tests
 * use this to make Kafka unreachable without losing the stored records. */
static volatile sig_atomic_t want_down = 0, want_up = 0;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: leadsync-devbroker [--partitions N] [--brokers N]\n"
      "                          [--bootstrap-file PATH] [--topic-prefix P]\n"
      "                          [--topic NAME]... [--rtt-ms N] [--version]\n"
      "Hosts librdkafka's mock Kafka cluster on loopback TCP ports,\n"
      "creates leadsync's topics, prints bootstrap=<servers> and runs\n"
      "until SIGTERM/SIGINT. SIGUSR1: all brokers down; SIGUSR2: up.\n"
      "Development and tests only: records live in memory.\n");
}

static void set_all(rd_kafka_mock_cluster_t *mc, int brokers, int up) {
  for (int b = 1; b <= brokers; b++) {
    if (up)
      rd_kafka_mock_broker_set_up(mc, b);
    else
      rd_kafka_mock_broker_set_down(mc, b);
  }
  ls_info(up ? "brokers up" : "brokers down", "{s:i}", "brokers", brokers);
}

int main(int argc, char **argv) {
  int partitions = 6, brokers = 3, rtt_ms = 0, rc = 1;
  const char *bootstrap_file = NULL, *prefix = "smartlead.";
  const char *extra[64];
  int n_extra = 0;
  if (ls_version_flag(argc, argv, "leadsync-devbroker"))
    return 0;
  ls_log_init("devbroker");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--partitions") && v) {
      partitions = (int)strtol(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--brokers") && v) {
      brokers = (int)strtol(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--rtt-ms") && v) {
      rtt_ms = (int)strtol(v, NULL, 10);
      i++;
    } else if (!strcmp(a, "--bootstrap-file") && v) {
      bootstrap_file = v;
      i++;
    } else if (!strcmp(a, "--topic-prefix") && v) {
      prefix = v;
      i++;
    } else if (!strcmp(a, "--topic") && v && n_extra < 64) {
      extra[n_extra++] = v;
      i++;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (partitions < 1 || partitions > 1000 || brokers < 1 || brokers > 16) {
    fprintf(stderr,
            "leadsync-devbroker: --partitions 1..1000, --brokers 1..16\n");
    return 2;
  }

  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!kq_set(conf, "log_level", "3", errstr, sizeof errstr)) {
    ls_error("mock cluster handle", "{s:s}", "error", errstr);
    rd_kafka_conf_destroy(conf);
    return 1;
  }
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    ls_error("cannot create the handle hosting the mock cluster", "{s:s}",
             "error", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    ls_error("cannot create the mock cluster", NULL);
    rd_kafka_destroy(rk);
    return 1;
  }
  int rf = brokers < 3 ? brokers : 3;
  char **topics = kq_all_topics(prefix);
  for (char **t = topics; t && *t; t++) {
    if (rd_kafka_mock_topic_create(mc, *t, partitions, rf)) {
      ls_error("cannot create topic", "{s:s}", "topic", *t);
      goto out;
    }
  }
  for (int i = 0; i < n_extra; i++)
    rd_kafka_mock_topic_create(mc, extra[i], partitions, rf);
  if (rtt_ms > 0)
    for (int b = 1; b <= brokers; b++)
      rd_kafka_mock_broker_set_rtt(mc, b, rtt_ms);

  const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
  ls_signals_install(&stop_flag);
  ls_signal_flag(SIGUSR1, &want_down);
  ls_signal_flag(SIGUSR2, &want_up);
  if (bootstrap_file && ls_write_file_atomic(bootstrap_file, bs) != 0) {
    ls_error("cannot write the bootstrap file", "{s:s}", "path",
             bootstrap_file);
    goto out;
  }
  printf("bootstrap=%s\n", bs);
  fflush(stdout);
  ls_info("dev broker ready", "{s:s,s:i,s:i}", "bootstrap", bs, "brokers",
          brokers, "partitions", partitions);
  while (!stop_flag) {
    if (want_down) {
      want_down = 0;
      set_all(mc, brokers, 0);
    }
    if (want_up) {
      want_up = 0;
      set_all(mc, brokers, 1);
    }
    rd_kafka_poll(rk, 100);
  }
  ls_info("dev broker stopping", NULL);
  rc = 0;
out:
  kq_topics_free(topics);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return rc;
}

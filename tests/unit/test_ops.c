/* test_ops: listen addresses and the standalone /metrics /healthz /readyz
 * server (lib/ops/ls_ops), over a real socket on loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ls_metrics.h"
#include "ls_ops.h"

static void listen_addresses_resolve_or_say_why(void **state) {
  (void)state;
  ls_listen l;
  char err[256], url[128];
  assert_true(ls_listen_resolve("127.0.0.1:8080", &l, err, sizeof err));
  assert_false(l.v6);
  ls_listen_url(&l, 8080, url, sizeof url);
  assert_string_equal(url, "http://127.0.0.1:8080");
  assert_true(ls_listen_resolve("[::1]:0", &l, err, sizeof err));
  assert_true(l.v6);
  ls_listen_url(&l, 9, url, sizeof url);
  assert_string_equal(url, "http://[::1]:9");
  /* An any-address listen is reached on loopback. */
  assert_true(ls_listen_resolve("0.0.0.0:7", &l, err, sizeof err));
  ls_listen_url(&l, 7, url, sizeof url);
  assert_string_equal(url, "http://127.0.0.1:7");
  assert_false(ls_listen_resolve("no-port", &l, err, sizeof err));
  assert_non_null(strstr(err, "expected HOST:PORT"));
  assert_false(ls_listen_resolve("127.0.0.1:http", &l, err, sizeof err));
  assert_non_null(strstr(err, "listen address 127.0.0.1:http"));
}

/* GET path from url's port; the status code, or -1. */
static int get_status(const char *url, const char *path, char *body,
                      size_t blen) {
  const char *colon = strrchr(url, ':');
  int port = (int)strtol(colon + 1, NULL, 10);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  char req[256];
  int n =
      snprintf(req, sizeof req,
               "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  if (write(fd, req, (size_t)n) != n) {
    close(fd);
    return -1;
  }
  size_t got = 0;
  ssize_t r;
  while (got + 1 < blen && (r = read(fd, body + got, blen - 1 - got)) > 0)
    got += (size_t)r;
  body[got] = '\0';
  close(fd);
  int status = -1;
  if (sscanf(body, "HTTP/1.1 %d", &status) != 1)
    return -1;
  return status;
}

static void ops_server_answers_the_three_endpoints(void **state) {
  (void)state;
  ls_metrics *m = ls_metrics_new();
  assert_non_null(m);
  ls_metrics_inc(m, "test_ops_total", "A counter for the test", NULL, 3);
  volatile int ready = 0;
  char url[128], err[256], body[65536];
  ls_ops *o =
      ls_ops_start("127.0.0.1:0", m, &ready, url, sizeof url, err, sizeof err);
  assert_non_null(o);
  assert_int_equal(strncmp(url, "http://127.0.0.1:", 17), 0);
  assert_int_equal(get_status(url, "/healthz", body, sizeof body), 200);
  assert_int_equal(get_status(url, "/readyz", body, sizeof body), 503);
  ready = 1;
  assert_int_equal(get_status(url, "/readyz", body, sizeof body), 200);
  assert_int_equal(get_status(url, "/metrics", body, sizeof body), 200);
  assert_non_null(strstr(body, "test_ops_total 3"));
  assert_int_equal(get_status(url, "/nope", body, sizeof body), 404);
  ls_ops_stop(o);
  ls_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(listen_addresses_resolve_or_say_why),
      cmocka_unit_test(ops_server_answers_the_three_endpoints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

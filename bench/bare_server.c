/* bench-bare-server: the HTTP ceiling of this machine for the ingress's
 * shape of work. A libmicrohttpd server with the ingress's threading model
 * (epoll internal thread, 2-thread pool, same daemon options) that reads a
 * POST body into a bounded buffer and answers 200 with a small JSON body.
 * No JSON parsing, no Kafka: whatever the ingress costs beyond this is
 * leadsync's own overhead. Benchmarks only. */
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "bench_common.h"
#include "bench_mhd.h"
#include "ls_file.h"
#include "ls_ops.h"
#include "ls_buf.h"
#include "ls_version.h"

typedef struct {
  ls_buf body;
  bool too_large;
} bare_req;

static const char k_accepted[] = "{\"status\":\"accepted\"}";
static const char k_too_large[] = "{\"error\":\"too_large\"}";

static void usage(FILE *f) {
  fprintf(f, "usage: bench-bare-server [--listen HOST:PORT] "
             "[--ready-file PATH] [--threads N]\n"
             "Answers every request with 200 after reading its body: the "
             "HTTP ceiling\nthe ingress is measured against (make bench).\n");
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               const char *body) {
  /* A fresh copied response per request, like the ingress's send_body. */
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)cls;
  (void)url;
  (void)version;
  bare_req *r = *con_cls;
  if (!r) {
    r = calloc(1, sizeof *r);
    if (!r)
      return MHD_NO;
    ls_buf_init(&r->body, BENCH_MAX_BODY);
    *con_cls = r;
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_PUT) != 0)
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
  return respond(c, MHD_HTTP_OK, k_accepted);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  bare_req *r = *con_cls;
  if (!r)
    return;
  ls_buf_free(&r->body);
  free(r);
  *con_cls = NULL;
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "bench-bare-server"))
    return 0;
  const char *listen = "127.0.0.1:0", *ready_file = NULL;
  long threads = 2;
  char url[320];
  int rc = 1;
  struct MHD_Daemon *d = NULL;
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
    } else if (!strcmp(a, "--threads") && v &&
               bench_parse_long(v, 1, 64, &threads)) {
      i++;
    } else {
      fprintf(stderr, "bench-bare-server: bad argument %s\n", a);
      usage(stderr);
      return 2;
    }
  }
  bench_install_signals();
  d = bench_mhd_start("bench-bare-server", listen, (unsigned)threads,
                      on_request, on_completed, url, sizeof url);
  if (!d)
    goto out;
  printf("url=%s\n", url);
  fflush(stdout);
  if (ready_file && ls_write_file_atomic(ready_file, url) != 0) {
    fprintf(stderr, "bench-bare-server: cannot write %s\n", ready_file);
    goto out;
  }
  while (!bench_stop) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  rc = 0;
out:
  if (d)
    MHD_stop_daemon(d);
  return rc;
}

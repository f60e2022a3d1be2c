/* cli_http: one blocking HTTP request through libcurl, bounded response. */
#ifndef CLI_HTTP_H
#define CLI_HTTP_H

#include <stddef.h>

#include "ls_buf.h"
#include "ls_err.h"

typedef struct {
  long status;        /* 0 when no response arrived */
  ls_buf body;        /* capped at CLI_HTTP_MAX_BODY */
  long retry_after_s; /* Retry-After in seconds, -1 when absent */
  double ms;          /* wall time of the request */
  char error[256];    /* transport error (no URL in it), "" if none */
} cli_http_resp;

#define CLI_HTTP_MAX_BODY (8u * 1024 * 1024)

/* bearer may be NULL; body may be NULL. LS_OK when a response arrived
 * (any status); LS_ERR_IO/LS_ERR_TIMEOUT with resp->error otherwise.
 * The caller frees resp->body with cli_http_resp_free. */
ls_err cli_http(const char *method, const char *url, const char *bearer,
                const char *body, size_t len, long timeout_ms,
                cli_http_resp *resp);
void cli_http_resp_free(cli_http_resp *resp);

#endif

/* cli_http: blocking libcurl requests for the CLI (ingress, HubSpot reads,
 * Smartlead's API). Error texts never carry the URL: it may hold a token. */
#include "cli_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ls_time.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  ls_buf *b = ud;
  return ls_buf_append(b, p, size * n) == LS_OK ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  cli_http_resp *r = ud;
  size_t len = size * n;
  static const char name[] = "retry-after:";
  if (len > sizeof name && !strncasecmp(p, name, sizeof name - 1)) {
    char v[32];
    size_t vl = len - (sizeof name - 1);
    if (vl >= sizeof v)
      vl = sizeof v - 1;
    memcpy(v, p + sizeof name - 1, vl);
    v[vl] = '\0';
    char *end;
    long s = strtol(v, &end, 10);
    if (end != v && s >= 0)
      r->retry_after_s = s;
  }
  return len;
}

ls_err cli_http(const char *method, const char *url, const char *bearer,
                const char *body, size_t len, long timeout_ms,
                cli_http_resp *resp) {
  ls_err e = LS_ERR_IO;
  struct curl_slist *hdrs = NULL;
  char auth[4200];
  memset(resp, 0, sizeof *resp);
  ls_buf_init(&resp->body, CLI_HTTP_MAX_BODY);
  resp->retry_after_s = -1;
  CURL *c = curl_easy_init();
  if (!c) {
    snprintf(resp->error, sizeof resp->error, "cannot create a curl handle");
    return LS_ERR_NOMEM;
  }
  hdrs = curl_slist_append(hdrs, "Accept: application/json");
  if (body)
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
  if (bearer) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
    hdrs = curl_slist_append(hdrs, auth);
    /* The header copy lives in the slist; scrub ours. */
    memset(auth, 0, sizeof auth);
  }
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   timeout_ms < 5000 ? timeout_ms : 5000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
  if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  int64_t t0 = ls_mono_us();
  CURLcode rc = curl_easy_perform(c);
  resp->ms = (double)(ls_mono_us() - t0) / 1000.0;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    e = LS_OK;
  } else {
    /* curl_easy_strerror is generic and never includes the URL. */
    snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(rc));
    e = rc == CURLE_OPERATION_TIMEDOUT ? LS_ERR_TIMEOUT : LS_ERR_IO;
  }
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return e;
}

void cli_http_resp_free(cli_http_resp *resp) {
  ls_buf_free(&resp->body);
}

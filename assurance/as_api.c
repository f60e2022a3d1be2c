/* as_api: Smartlead API GETs within the tenant's request budget. */
#include "as.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_buf.h"
#include "ls_log.h"
#include "ls_time.h"

#define AS_RING 1024

struct as_api {
  const as_tenant *t;
  ls_metrics *m;
  CURL *h;
  int64_t ring[AS_RING]; /* monotonic us of recent calls */
  size_t head, len;
  int64_t pause_until_us;
  long calls, r429;
};

as_api *as_api_new(const as_tenant *t, ls_metrics *m) {
  as_api *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  a->t = t;
  a->m = m;
  a->h = curl_easy_init();
  return a;
}

void as_api_free(as_api *a) {
  if (!a)
    return;
  curl_easy_cleanup(a->h);
  free(a);
}

long as_api_calls(const as_api *a) {
  return a->calls;
}
long as_api_429s(const as_api *a) {
  return a->r429;
}

static void sleep_us(int64_t us, volatile int *stop) {
  while (us > 0 && !(stop && *stop)) {
    int64_t step = us > 100000 ? 100000 : us;
    struct timespec ts = {(time_t)(step / 1000000),
                          (long)(step % 1000000) * 1000L};
    nanosleep(&ts, NULL);
    us -= step;
  }
}

/* Waits until one more call fits the budget, then books it. */
static void take_budget(as_api *a, volatile int *stop) {
  int budget = a->t->budget > 0 ? a->t->budget : 8;
  if (budget > AS_RING)
    budget = AS_RING;
  int64_t win = (int64_t)(a->t->window_ms > 0 ? a->t->window_ms : 2000) * 1000;
  for (;;) {
    int64_t now = ls_mono_us();
    if (now < a->pause_until_us) {
      sleep_us(a->pause_until_us - now, stop);
      continue;
    }
    while (a->len && now - a->ring[a->head] >= win) {
      a->head = (a->head + 1) % AS_RING;
      a->len--;
    }
    if ((int)a->len < budget || (stop && *stop)) {
      a->ring[(a->head + a->len) % AS_RING] = now;
      if (a->len < AS_RING)
        a->len++;
      else
        a->head = (a->head + 1) % AS_RING;
      return;
    }
    sleep_us(win - (now - a->ring[a->head]) + 1000, stop);
  }
}

static size_t on_body(char *p, size_t s, size_t n, void *u) {
  ls_buf *b = u;
  if (b->len + s * n > 64u * 1024 * 1024 || ls_buf_append(b, p, s * n) != LS_OK)
    return 0; /* curl then fails the transfer with a write error */
  return s * n;
}

static size_t on_header(char *p, size_t s, size_t n, void *u) {
  long *ra = u;
  size_t len = s * n;
  if (len > 12 && !strncasecmp(p, "Retry-After:", 12))
    *ra = strtol(p + 12, NULL, 10);
  return len;
}

/* The route label for metrics: the path with ids replaced. */
static void route_of(const char *path, char *out, size_t n) {
  size_t j = 0;
  for (const char *p = path; *p && *p != '?' && j + 5 < n;) {
    if (*p >= '0' && *p <= '9' && p > path && p[-1] == '/') {
      out[j++] = '{';
      out[j++] = '}';
      while (*p >= '0' && *p <= '9')
        p++;
    } else {
      out[j++] = *p++;
    }
  }
  out[j] = '\0';
}

int as_api_get(as_api *a, const char *path, json_t **out, int max_wait_ms,
               volatile int *stop) {
  *out = NULL;
  char url[2048], route[256], lab[400];
  snprintf(url, sizeof url, "%s%s%sapi_key=%s", a->t->base_url, path,
           strchr(path, '?') ? "&" : "?", a->t->api_key);
  route_of(path, route, sizeof route);
  int64_t deadline = ls_mono_us() + (int64_t)max_wait_ms * 1000;
  int64_t backoff = 500000;
  int status = 0;
  while (!(stop && *stop)) {
    take_budget(a, stop);
    ls_buf body;
    ls_buf_init(&body, 64u * 1024 * 1024);
    long ra = -1, code = 0;
    curl_easy_reset(a->h);
    curl_easy_setopt(a->h, CURLOPT_URL, url);
    curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(a->h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(a->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(a->h, CURLOPT_HEADERDATA, &ra);
    curl_easy_setopt(a->h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(a->h, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(a->h);
    if (cc == CURLE_OK)
      curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &code);
    a->calls++;
    status = (int)code;
    snprintf(lab, sizeof lab, "tenant=\"%s\",route=\"%s\",status=\"%d\"",
             a->t->tenant->id, route, status);
    ls_metrics_inc(a->m, AS_M_API_CALLS, AS_H_API_CALLS, lab, 1);
    if (code == 200) {
      *out = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
      ls_buf_free(&body);
      if (!*out)
        status = 0; /* unparseable: treat like a transport error */
      else
        return status;
    } else {
      ls_buf_free(&body);
    }
    if (code == 429) {
      a->r429++;
      snprintf(lab, sizeof lab, "tenant=\"%s\"", a->t->tenant->id);
      ls_metrics_inc(a->m, AS_M_API_429, AS_H_API_429, lab, 1);
      /* Smartlead documents no Retry-After: wait one window when absent. */
      int64_t wait =
          ra > 0
              ? (ra > 60 ? 60 : ra) * 1000000LL
              : (int64_t)(a->t->window_ms > 0 ? a->t->window_ms : 2000) * 1000;
      a->pause_until_us = ls_mono_us() + wait;
    } else if (code == 0 || code >= 500) {
      sleep_us(backoff, stop);
      backoff = backoff * 2 > 8000000 ? 8000000 : backoff * 2;
    } else {
      ls_warn("smartlead api error", "{s:s,s:s,s:i}", "tenant",
              a->t->tenant->id, "route", route, "status", status);
      return status; /* 4xx: permanent for this call */
    }
    if (ls_mono_us() > deadline) {
      ls_warn("smartlead api gave up", "{s:s,s:s,s:i}", "tenant",
              a->t->tenant->id, "route", route, "status", status);
      return status;
    }
  }
  return status;
}

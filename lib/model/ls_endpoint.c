/* ls_endpoint: fan-out endpoint settings, signatures and the SSRF guard. */
#include "ls_endpoint.h"
#include "ls_env.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static long jint(const json_t *o, const char *k, long dflt) {
  const json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static ls_err fail(char *errstr, size_t errlen, const char *path,
                   const char *rule) {
  snprintf(errstr, errlen, "%s: %s", path, rule);
  return LS_ERR_CONFIG;
}

bool ls_whsec_decode(const char *s, unsigned char *out, size_t *outlen) {
  if (!strncmp(s, "whsec_", 6))
    s += 6;
  size_t n = strlen(s);
  if (!n || n % 4 || n / 4 * 3 > LS_EP_SECRET_MAX + 2)
    return false;
  unsigned char tmp[LS_EP_SECRET_MAX + 3];
  int len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
  if (len < 0)
    return false;
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  for (size_t i = n; i > 0 && s[i - 1] == '='; i--)
    len--;
  if (len <= 0 || (size_t)len > LS_EP_SECRET_MAX)
    return false;
  memcpy(out, tmp, (size_t)len);
  *outlen = (size_t)len;
  return true;
}

void ls_webhook_sign(const ls_endpoint *ep, const char *msg_id, long long ts,
                     const void *body, size_t len, char *out, size_t outlen) {
  char prefix[128];
  int pl = snprintf(prefix, sizeof prefix, "%s.%lld.", msg_id, ts);
  size_t used = 0;
  if (outlen)
    out[0] = '\0';
  for (int i = 0; i < ep->n_secrets; i++) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string("digest", digest, 0),
        OSSL_PARAM_construct_end()};
    EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *h = alg ? EVP_MAC_CTX_new(alg) : NULL;
    bool ok = h && EVP_MAC_init(h, ep->secrets[i], ep->secret_len[i], params) &&
              EVP_MAC_update(h, (const unsigned char *)prefix, (size_t)pl) &&
              EVP_MAC_update(h, body, len) &&
              EVP_MAC_final(h, mac, &maclen, sizeof mac);
    EVP_MAC_CTX_free(h);
    EVP_MAC_free(alg);
    if (!ok)
      return;
    unsigned char b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    EVP_EncodeBlock(b64, mac, (int)maclen);
    int w = snprintf(out + used, outlen - used, "%sv1,%s", i ? " " : "",
                     (const char *)b64);
    if (w < 0 || (size_t)w >= outlen - used)
      return;
    used += (size_t)w;
  }
}

static bool v4_private(uint32_t a) {
  uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16);
  return b0 == 0 || b0 == 10 || b0 == 127 || b0 >= 224 ||
         (b0 == 100 && (b1 & 0xc0) == 64) || (b0 == 169 && b1 == 254) ||
         (b0 == 172 && (b1 & 0xf0) == 16) || (b0 == 192 && b1 == 168) ||
         (b0 == 192 && b1 == 0 && (uint8_t)(a >> 8) == 0) ||
         (b0 == 198 && (b1 & 0xfe) == 18);
}

bool ls_addr_is_private(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return v4_private(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
  if (sa->sa_family != AF_INET6)
    return true; /* unix sockets and the like: never for an endpoint */
  const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  static const uint8_t zero[16];
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b};
  if (!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1))
    return true; /* :: and ::1 */
  if (!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12) || !memcmp(b, zero, 12))
    return v4_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                      (uint32_t)b[14] << 8 | b[15]);
  return (b[0] & 0xfe) == 0xfc ||                   /* fc00::/7 ULA */
         (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || /* fe80::/10 */
         b[0] == 0xff;                              /* multicast */
}

/* Reads an env var or a file holding one or two whsec_ secrets. */
static ls_err load_secrets(ls_endpoint *ep, const json_t *je, const char *path,
                           char *errstr, size_t errlen) {
  char p[300], text[1024] = "";
  const char *env = jstr(je, "secret_env"), *file = jstr(je, "secret_file");
  if (!env && !file)
    return LS_OK;
  if (env && file)
    return fail(errstr, errlen, path,
                "secret_env and secret_file exclude each other");
  if (env) {
    snprintf(p, sizeof p, "%s.secret_env", path);
    const char *v = ls_env(env);
    if (!v)
      return fail(errstr, errlen, p, "the environment variable is not set");
    snprintf(text, sizeof text, "%s", v);
  } else {
    snprintf(p, sizeof p, "%s.secret_file", path);
    FILE *f = fopen(file, "r");
    if (!f)
      return fail(errstr, errlen, p, "the file cannot be read");
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
  }
  char *save = NULL;
  for (char *tok = strtok_r(text, " ,\t\r\n", &save); tok;
       tok = strtok_r(NULL, " ,\t\r\n", &save)) {
    if (ep->n_secrets == LS_EP_MAX_SECRETS)
      return fail(errstr, errlen, p,
                  "at most two secrets (the current and the next)");
    if (!ls_whsec_decode(tok, ep->secrets[ep->n_secrets],
                         &ep->secret_len[ep->n_secrets]))
      return fail(errstr, errlen, p,
                  "a secret must be whsec_ followed by base64 (1-64 bytes)");
    ep->n_secrets++;
  }
  explicit_bzero(text, sizeof text);
  if (!ep->n_secrets)
    return fail(errstr, errlen, p, "no secret in it");
  return LS_OK;
}

static bool reserved_header(const char *name) {
  static const char *const r[] = {"content-type",
                                  "content-length",
                                  "host",
                                  "webhook-id",
                                  "webhook-timestamp",
                                  "webhook-signature",
                                  "transfer-encoding",
                                  "connection",
                                  "expect",
                                  NULL};
  for (int i = 0; r[i]; i++)
    if (!strcasecmp(name, r[i]))
      return true;
  return false;
}

static ls_err load_headers(ls_endpoint *ep, const json_t *h, const char *path,
                           char *errstr, size_t errlen) {
  char p[300];
  const char *k;
  const json_t *v;
  ep->headers = calloc(json_object_size(h) + 1, sizeof *ep->headers);
  if (!ep->headers)
    return LS_ERR_NOMEM;
  json_object_foreach((json_t *)h, k, v) {
    snprintf(p, sizeof p, "%s.headers.%.64s", path, k);
    bool ok = *k && json_is_string(v);
    for (const char *c = k; ok && *c; c++)
      ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_';
    for (const char *c = ok ? json_string_value(v) : ""; ok && *c; c++)
      ok = *c != '\r' && *c != '\n';
    if (!ok)
      return fail(errstr, errlen, p,
                  "a header needs a token name and a one-line string value");
    if (reserved_header(k))
      return fail(errstr, errlen, p, "this header is set by leadsync");
    size_t len = strlen(k) + strlen(json_string_value(v)) + 3;
    char *line = malloc(len);
    if (!line)
      return LS_ERR_NOMEM;
    snprintf(line, len, "%s: %s", k, json_string_value(v));
    ep->headers[ep->n_headers++] = line;
  }
  return LS_OK;
}

static ls_err load_types(ls_endpoint *ep, const json_t *je, const char *path,
                         char *errstr, size_t errlen) {
  const json_t *types = json_object_get(je, "event_types");
  char p[300];
  if (!types) {
    for (int t = 0; t < LS_EV_UNKNOWN; t++)
      ep->types[t] = ep->kind == LS_EP_WEBHOOK || t == LS_EV_EMAIL_REPLY ||
                     t == LS_EV_UNTRACKED_REPLIES ||
                     t == LS_EV_LEAD_CATEGORY_UPDATED;
    return LS_OK;
  }
  size_t i;
  const json_t *v;
  json_array_foreach(types, i, v) {
    snprintf(p, sizeof p, "%s.event_types[%zu]", path, i);
    ls_event_type t = json_is_string(v)
                          ? ls_event_type_from_name(json_string_value(v))
                          : LS_EV_UNKNOWN;
    if (t == LS_EV_UNKNOWN)
      return fail(errstr, errlen, p, "unknown event type");
    ep->types[t] = true;
  }
  return LS_OK;
}

static ls_err load_one(ls_endpoint *ep, const ls_tenant *t, const json_t *je,
                       const char *path, char *errstr, size_t errlen) {
  char p[300];
  const char *id = jstr(je, "id"), *kind = jstr(je, "kind");
  const char *fmt = jstr(je, "format"), *filt = jstr(je, "filter");
  ep->tenant = t;
  if (!id)
    return fail(errstr, errlen, path, "an endpoint needs a string \"id\"");
  ep->id = strdup(id);
  ep->kind = kind && !strcmp(kind, "slack") ? LS_EP_SLACK : LS_EP_WEBHOOK;
  ep->format = fmt && !strcmp(fmt, "cloudevents") ? LS_EP_FMT_CLOUDEVENTS
                                                  : LS_EP_FMT_RAW;
  ep->after_filter = filt && !strcmp(filt, "tenant");
  ep->internal = json_is_true(json_object_get(je, "internal"));
  const char *url = jstr(je, "url"), *url_env = jstr(je, "url_env");
  if (url_env) {
    snprintf(p, sizeof p, "%s.url_env", path);
    url = getenv(url_env);
    if (!url || !*url)
      return fail(errstr, errlen, p, "the environment variable is not set");
  }
  snprintf(p, sizeof p, "%s.url", path);
  if (!url)
    return fail(errstr, errlen, path, "an endpoint needs url or url_env");
  bool https = !strncasecmp(url, "https://", 8);
  if (!https && strncasecmp(url, "http://", 7))
    return fail(errstr, errlen, p, "must be an http(s) URL");
  if (!https && !ep->internal)
    return fail(errstr, errlen, p,
                "must be https unless the endpoint is marked internal");
  ep->url = strdup(url);
  ep->timeout_ms = jint(je, "timeout_ms", 10000);
  ep->connect_timeout_ms = ep->timeout_ms < 5000 ? ep->timeout_ms : 5000;
  ep->max_attempts = (int)jint(je, "max_attempts", 8);
  ep->backoff_base_ms = jint(je, "backoff_base_ms", 500);
  ep->backoff_max_ms = jint(je, "backoff_max_ms", 60000);
  ep->retry_after_max_ms = jint(je, "retry_after_max_ms", 300000);
  ep->max_response_bytes = (size_t)jint(je, "max_response_bytes", 65536);
  ep->max_in_flight = (int)jint(je, "max_in_flight", 16);
  if (ep->timeout_ms < 1 || ep->max_attempts < 1 || ep->backoff_base_ms < 1 ||
      ep->backoff_max_ms < ep->backoff_base_ms || ep->max_in_flight < 1 ||
      ep->retry_after_max_ms < 0 || ep->max_response_bytes < 1)
    return fail(errstr, errlen, path,
                "timeouts, attempts and limits must be positive (and "
                "backoff_max_ms at least backoff_base_ms)");
  char portal[32] = "";
  ls_json_id(json_object_get(je, "hubspot_portal_id"), portal, sizeof portal);
  ep->portal_id = portal[0] ? strdup(portal) : NULL;
  ls_err e = load_types(ep, je, path, errstr, errlen);
  if (e == LS_OK && json_object_get(je, "headers"))
    e = load_headers(ep, json_object_get(je, "headers"), path, errstr, errlen);
  if (e == LS_OK)
    e = load_secrets(ep, je, path, errstr, errlen);
  if (e == LS_OK && (!ep->id || !ep->url))
    e = LS_ERR_NOMEM;
  return e;
}

ls_err ls_endpoints_load(const ls_config *cfg, ls_endpoint **out, size_t *n,
                         char *errstr, size_t errlen) {
  size_t total = 0, k = 0;
  *out = NULL;
  *n = 0;
  for (size_t i = 0; i < cfg->n_tenants; i++)
    total +=
        json_array_size(json_object_get(cfg->tenants[i].json, "endpoints"));
  if (!total)
    return LS_OK;
  ls_endpoint *v = calloc(total, sizeof *v);
  if (!v)
    return LS_ERR_NOMEM;
  ls_err e = LS_OK;
  for (size_t i = 0; i < cfg->n_tenants && e == LS_OK; i++) {
    const json_t *arr = json_object_get(cfg->tenants[i].json, "endpoints");
    size_t j;
    const json_t *je;
    json_array_foreach(arr, j, je) {
      char path[128];
      snprintf(path, sizeof path, "$.tenants[%zu].endpoints[%zu]", i, j);
      e = load_one(&v[k++], &cfg->tenants[i], je, path, errstr, errlen);
      for (size_t d = 0; e == LS_OK && d + 1 < k; d++)
        if (!strcmp(v[d].id, v[k - 1].id))
          e = fail(errstr, errlen, path,
                   "duplicate endpoint id (ids name consumer groups and DLQ "
                   "records, so they are unique across tenants)");
      if (e != LS_OK)
        break;
    }
  }
  if (e != LS_OK) {
    if (e == LS_ERR_NOMEM)
      snprintf(errstr, errlen, "out of memory");
    ls_endpoints_free(v, k);
    return e;
  }
  *out = v;
  *n = k;
  return LS_OK;
}

void ls_endpoints_free(ls_endpoint *v, size_t n) {
  if (!v)
    return;
  for (size_t i = 0; i < n; i++) {
    free(v[i].id);
    free(v[i].url);
    free(v[i].portal_id);
    for (size_t h = 0; h < v[i].n_headers; h++)
      free(v[i].headers[h]);
    free(v[i].headers);
    explicit_bzero(v[i].secrets, sizeof v[i].secrets);
  }
  free(v);
}

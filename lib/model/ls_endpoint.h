/* ls_endpoint: fan-out endpoints of the config (tenants[].endpoints), their
 * secrets, Standard Webhooks signatures and the SSRF address guard. Pure
 * functions: the fan-out role (fanout/) and `leadsync config check` use
 * them; docs/fanout.md describes the settings. */
#ifndef LS_ENDPOINT_H
#define LS_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "ls_config.h"
#include "ls_event.h"

typedef enum { LS_EP_WEBHOOK, LS_EP_SLACK } ls_ep_kind;
typedef enum { LS_EP_FMT_RAW, LS_EP_FMT_CLOUDEVENTS } ls_ep_format;

#define LS_EP_MAX_SECRETS 2
#define LS_EP_SECRET_MAX 64 /* decoded bytes */

typedef struct {
  char *id; /* unique across the config */
  const ls_tenant *tenant;
  ls_ep_kind kind;
  ls_ep_format format;
  char *url;                /* may hold a secret (Slack): never logged */
  bool internal;            /* private/loopback addresses allowed */
  bool after_filter;        /* "filter": "tenant": the released stream */
  bool types[LS_EV__COUNT]; /* event types delivered */
  char **headers;           /* "Name: value" lines for curl */
  size_t n_headers;
  long timeout_ms;
  long connect_timeout_ms;
  int max_attempts; /* attempts before the DLQ */
  long backoff_base_ms;
  long backoff_max_ms;
  long retry_after_max_ms; /* Retry-After is clamped to this */
  size_t max_response_bytes;
  int max_in_flight; /* concurrent requests (different leads) */
  unsigned char secrets[LS_EP_MAX_SECRETS][LS_EP_SECRET_MAX];
  size_t secret_len[LS_EP_MAX_SECRETS];
  int n_secrets;   /* 0: requests are not signed */
  char *portal_id; /* Slack: HubSpot portal for contact links */
} ls_endpoint;

/* Every endpoint of every tenant, secrets resolved from secret_env /
 * secret_file and URLs from url_env when given. Semantic checks beyond the
 * schema: unique ids, https unless internal, known event types, reserved
 * headers, well-formed secrets. errstr names the JSON path, never a secret. */
ls_err ls_endpoints_load(const ls_config *cfg, ls_endpoint **out, size_t *n,
                         char *errstr, size_t errlen);
void ls_endpoints_free(ls_endpoint *v, size_t n);

/* "whsec_<base64>" (the prefix is optional) into raw key bytes. */
bool ls_whsec_decode(const char *s, unsigned char *out, size_t *outlen);

/* The webhook-signature header value: "v1,<base64 HMAC-SHA256 of
 * msg_id.timestamp.body>" for each secret, space-separated. out should
 * hold at least 128 bytes per secret. */
void ls_webhook_sign(const ls_endpoint *ep, const char *msg_id, long long ts,
                     const void *body, size_t len, char *out, size_t outlen);

/* True for addresses an endpoint that is not internal must never reach:
 * loopback, private (RFC 1918, ULA), link-local, CGNAT, unspecified,
 * multicast, reserved, and IPv4 inside mapped/NAT64 IPv6. */
bool ls_addr_is_private(const struct sockaddr *sa);

#endif

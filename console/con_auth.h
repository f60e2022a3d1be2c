/* con_auth: who is asking. Accounts with salted PBKDF2 password hashes from
 * the config (session cookie or HTTP Basic), or a trusted-proxy header set
 * by an SSO proxy; stateless signed session cookies (any replica accepts
 * them) with a CSRF token derived from the session; a login rate limit. */
#ifndef CON_AUTH_H
#define CON_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_err.h"

typedef enum { CON_ROLE_NONE, CON_ROLE_VIEWER, CON_ROLE_OPERATOR } con_role;

typedef struct con_auth con_auth;

typedef struct {
  char user[64];
  con_role role;
  bool via_session; /* a cookie session: state changes need the CSRF token */
  char csrf[65];    /* the session's CSRF token (cookie sessions only) */
} con_principal;

/* auth: the config's console.auth object (NULL: no accounts). The session
 * key comes from console.session_key_file, else a random one per process. */
ls_err con_auth_new(const json_t *console_cfg, con_auth **out, char *errstr,
                    size_t len);
void con_auth_free(con_auth *a);

const char *con_role_name(con_role r);
bool con_auth_proxy_mode(const con_auth *a);
/* The header the proxy sets (proxy mode). */
const char *con_auth_proxy_header(const con_auth *a);
/* Session lifetime in seconds. */
long con_auth_ttl(const con_auth *a);

/* Checks user and password; on success fills p. false for either unknown
 * user or wrong password (same work either way). */
bool con_auth_check_password(con_auth *a, const char *user,
                             const char *password, con_principal *p);
/* "Authorization: Basic ..." header value. */
bool con_auth_basic(con_auth *a, const char *header, con_principal *p);
/* The session cookie value for p (valid ttl_s from now). */
void con_auth_session(con_auth *a, const con_principal *p, char *out,
                      size_t len);
/* Verifies a session cookie value; fills p including its CSRF token. */
bool con_auth_cookie(con_auth *a, const char *cookie, con_principal *p);
/* Trusted-proxy mode: peer is the connection's address (text), user and
 * groups the proxy's headers. */
bool con_auth_proxy(con_auth *a, const char *peer, const char *user,
                    con_principal *p);

/* Login rate limit by client address and by account: true when another
 * attempt may be made now; retry_after_s tells when otherwise. */
bool con_auth_login_allowed(con_auth *a, const char *peer, const char *user,
                            int *retry_after_s);
void con_auth_login_failed(con_auth *a, const char *peer, const char *user);

/* "pbkdf2-sha256$ITER$SALT$HASH" for a password (new random salt). */
bool con_auth_hash_password(const char *password, int iterations, char *out,
                            size_t len);
/* Constant-time string comparison. */
bool con_auth_equal(const char *a, const char *b);

#endif

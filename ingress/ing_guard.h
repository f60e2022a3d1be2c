/* ing_guard: the ingress's defences against hostile HTTP clients that
 * libmicrohttpd does not provide itself: deadlines measured from accept, a
 * global budget of body bytes in flight, and a strict framing check. */
#ifndef ING_GUARD_H
#define ING_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ing_guard ing_guard;

/* header_us: accept (or the end of the previous request on a kept-alive
 * connection) -> request headers complete. request_us: the same start ->
 * body complete. budget: body bytes that may be held at once. */
ing_guard *ing_guard_new(long long header_us, long long request_us,
                         size_t budget);
void ing_guard_free(ing_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the guard). */
void ing_guard_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                      enum MHD_ConnectionNotificationCode code);

/* Phases of the request on c: headers complete (the request deadline
 * applies now), body complete (no deadline: Kafka's applies), response
 * finished (the next request's header deadline starts now). */
void ing_guard_headers_done(ing_guard *g, struct MHD_Connection *c);
void ing_guard_body_done(ing_guard *g, struct MHD_Connection *c);
void ing_guard_request_done(ing_guard *g, struct MHD_Connection *c);

/* Closes (shutdown) every connection past its deadline; counts them. Called
 * from the main loop. */
void ing_guard_sweep(ing_guard *g, long long now_us, size_t *headers_late,
                     size_t *body_late);
/* Connections open now. */
size_t ing_guard_open(ing_guard *g);

/* Reserves n body bytes from the budget; false (nothing reserved) when that
 * would exceed it. */
bool ing_guard_reserve(ing_guard *g, size_t n);
void ing_guard_release(ing_guard *g, size_t n);
size_t ing_guard_reserved(ing_guard *g);

/* Checks the request framing headers of c: at most one Content-Length (a
 * plain decimal), no Transfer-Encoding next to it, and Transfer-Encoding
 * only ever exactly "chunked". false with why set when the message framing
 * is ambiguous (a proxy and we could disagree on where it ends). */
bool ing_guard_framing_ok(struct MHD_Connection *c, const char **why);

#endif

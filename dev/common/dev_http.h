/* dev_http: the plumbing the HubSpot and Smartlead emulators share: a
 * libmicrohttpd daemon on an IPv4 address (a thread per connection),
 * request bodies gathered up to a ceiling, --listen parsing, the stop flag
 * their signal handlers set, and the ready file. What the emulators answer
 * stays in each emulator; this library links no leadsync code, so an
 * emulator shares no parsing with the system it stands in for. */
#ifndef DEV_HTTP_H
#define DEV_HTTP_H

#include <microhttpd.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* One request's body, gathered across libmicrohttpd's upload calls. */
typedef struct {
  char *buf; /* NUL-terminated; NULL while empty */
  size_t len, cap;
  bool too_large; /* past the ceiling: the rest is read and dropped */
} dev_body;

/* The per-request state for *con_cls; NULL when out of memory. */
dev_body *dev_body_new(void);
/* Appends an upload chunk. Past max bytes (or out of memory) the body is
 * dropped and too_large set; later chunks are ignored. */
void dev_body_add(dev_body *b, const char *data, size_t n, size_t max);
/* The body part of an access handler. The first call creates *con_cls (a
 * Content-Length past max marks it too_large at once), upload calls append
 * to it: both return true with *ret set, and the handler returns *ret. Once
 * the body is complete it returns false and *body is the request's. */
bool dev_body_collect(struct MHD_Connection *c, void **con_cls,
                      const char *upload, size_t *upload_size, size_t max,
                      dev_body **body, enum MHD_Result *ret);
/* A libmicrohttpd "request completed" callback: frees *con_cls as a
 * dev_body. */
void dev_body_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

/* Starts a daemon on host ("localhost" is 127.0.0.1) and port (0: any free
 * one) answering with handler(cls, ...) and freeing bodies with
 * dev_body_completed. 0, the bound port in *bound and the daemon in
 * *daemon; -1 with errstr filled. */
int dev_http_start(const char *host, int port,
                   MHD_AccessHandlerCallback handler, void *cls,
                   unsigned conn_limit, unsigned timeout_s, int *bound,
                   struct MHD_Daemon **daemon, char *errstr, size_t errlen);
void dev_http_stop(struct MHD_Daemon *daemon);

/* "HOST:PORT" into host and a port 0..65535; false when it is not one. */
bool dev_parse_listen(const char *listen, char *host, size_t hostlen,
                      int *port);
/* The base URL clients use: "http://HOST:PORT" + suffix, 0.0.0.0 given as
 * 127.0.0.1. */
void dev_base_url(char *out, size_t len, const char *host, int port,
                  const char *suffix);
/* Writes "url\n" to path through path.tmp and rename, so a reader never
 * sees half of it; false with errno set. */
bool dev_write_ready_file(const char *path, const char *url);

/* SIGINT and SIGTERM set dev_stop (and nothing else); SIGPIPE is ignored. */
extern volatile sig_atomic_t dev_stop;
void dev_install_signals(void);
/* Sleeps in 100 ms steps until dev_stop is set. */
void dev_wait_for_stop(void);

#endif

/* ing_guard: deadlines from accept, the body-bytes budget, strict framing.
 *
 * libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout: a client
 * that trickles one byte a second is never closed. Every connection is
 * tracked here from the moment it is accepted (MHD_OPTION_NOTIFY_CONNECTION)
 * with the start of its current phase; the main loop's sweep shuts down the
 * socket of any connection whose headers or body are late. shutdown() (not
 * close) leaves the descriptor to libmicrohttpd, which sees end-of-file and
 * closes the connection in its own thread. The descriptor cannot be reused
 * under us: the sweep runs under mu, and libmicrohttpd reports the close
 * (ing_guard_notify, under mu) before it closes the descriptor. */
#include "ing_guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "ls_time.h"

enum phase { PH_HEADERS, PH_BODY, PH_IDLE };

/* phase and start_us change on every request without a lock (the list
 * is what mu guards): start_us is stored before phase, and the sweep reads
 * phase before start_us, so it never pairs a new phase with an old start. */
typedef struct gconn {
  int fd;
  _Atomic int phase;
  _Atomic long long start_us; /* start of the current request */
  bool closing;               /* shut down by the sweep */
  struct gconn *prev, *next;
} gconn;

struct ing_guard {
  long long header_us, request_us;
  size_t budget;
  pthread_mutex_t mu;
  gconn *head; /* every open connection */
  size_t n_open;
  atomic_size_t reserved; /* body bytes reserved */
};

ing_guard *ing_guard_new(long long header_us, long long request_us,
                         size_t budget) {
  ing_guard *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  g->header_us = header_us;
  g->request_us = request_us;
  g->budget = budget;
  pthread_mutex_init(&g->mu, NULL);
  return g;
}

void ing_guard_free(ing_guard *g) {
  if (!g)
    return;
  /* libmicrohttpd reported every close before the daemon stopped; anything
   * left was never announced as closed (not expected). */
  for (gconn *k = g->head, *n; k; k = n) {
    n = k->next;
    free(k);
  }
  pthread_mutex_destroy(&g->mu);
  free(g);
}

void ing_guard_notify(void *cls, struct MHD_Connection *c, void **socket_ctx,
                      enum MHD_ConnectionNotificationCode code) {
  ing_guard *g = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    gconn *k = calloc(1, sizeof *k);
    if (!k)
      return; /* untracked: only the idle timeout applies to it */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    k->fd = ci ? ci->connect_fd : -1;
    atomic_init(&k->phase, PH_HEADERS);
    atomic_init(&k->start_us, ls_mono_us());
    pthread_mutex_lock(&g->mu);
    k->next = g->head;
    if (g->head)
      g->head->prev = k;
    g->head = k;
    g->n_open++;
    pthread_mutex_unlock(&g->mu);
    *socket_ctx = k;
    return;
  }
  gconn *k = *socket_ctx;
  if (!k)
    return;
  *socket_ctx = NULL;
  pthread_mutex_lock(&g->mu);
  if (k->prev)
    k->prev->next = k->next;
  else
    g->head = k->next;
  if (k->next)
    k->next->prev = k->prev;
  g->n_open--;
  pthread_mutex_unlock(&g->mu);
  free(k);
}

static gconn *conn_of(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

static void set_phase(ing_guard *g, struct MHD_Connection *c, enum phase p,
                      bool restart) {
  (void)g;
  gconn *k = conn_of(c);
  if (!k)
    return;
  if (restart)
    atomic_store(&k->start_us, ls_mono_us());
  atomic_store(&k->phase, (int)p);
}

void ing_guard_headers_done(ing_guard *g, struct MHD_Connection *c) {
  set_phase(g, c, PH_BODY, false);
}

void ing_guard_body_done(ing_guard *g, struct MHD_Connection *c) {
  set_phase(g, c, PH_IDLE, false);
}

void ing_guard_request_done(ing_guard *g, struct MHD_Connection *c) {
  set_phase(g, c, PH_HEADERS, true);
}

void ing_guard_sweep(ing_guard *g, long long now_us, size_t *headers_late,
                     size_t *body_late) {
  size_t nh = 0, nb = 0;
  pthread_mutex_lock(&g->mu);
  for (gconn *k = g->head; k; k = k->next) {
    int phase = atomic_load(&k->phase);
    if (k->closing || k->fd < 0 || phase == PH_IDLE)
      continue;
    long long limit = phase == PH_HEADERS ? g->header_us : g->request_us;
    if (now_us - atomic_load(&k->start_us) <= limit)
      continue;
    shutdown(k->fd, SHUT_RDWR);
    k->closing = true;
    if (phase == PH_HEADERS)
      nh++;
    else
      nb++;
  }
  pthread_mutex_unlock(&g->mu);
  if (headers_late)
    *headers_late = nh;
  if (body_late)
    *body_late = nb;
}

size_t ing_guard_open(ing_guard *g) {
  pthread_mutex_lock(&g->mu);
  size_t n = g->n_open;
  pthread_mutex_unlock(&g->mu);
  return n;
}

bool ing_guard_reserve(ing_guard *g, size_t n) {
  size_t cur = atomic_load(&g->reserved);
  do {
    if (n > g->budget || cur > g->budget - n)
      return false;
  } while (!atomic_compare_exchange_weak(&g->reserved, &cur, cur + n));
  return true;
}

void ing_guard_release(ing_guard *g, size_t n) {
  size_t cur = atomic_load(&g->reserved);
  while (
      !atomic_compare_exchange_weak(&g->reserved, &cur, n <= cur ? cur - n : 0))
    ;
}

size_t ing_guard_reserved(ing_guard *g) {
  return atomic_load(&g->reserved);
}

/* ---- framing ------------------------------------------------------------ */

typedef struct {
  int n_cl, n_te;
  bool cl_bad, te_bad;
} framing;

static bool all_digits(const char *v) {
  if (!*v)
    return false;
  for (; *v; v++)
    if (*v < '0' || *v > '9')
      return false;
  return true;
}

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
                                     const char *key, const char *value) {
  (void)kind;
  framing *f = cls;
  if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
    f->n_cl++;
    if (!value || !all_digits(value))
      f->cl_bad = true;
  } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
    f->n_te++;
    if (!value || strcasecmp(value, "chunked") != 0)
      f->te_bad = true;
  }
  return MHD_YES;
}

bool ing_guard_framing_ok(struct MHD_Connection *c, const char **why) {
  framing f = {0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
  const char *w = NULL;
  if (f.n_cl && f.n_te)
    w = "both Content-Length and Transfer-Encoding";
  else if (f.n_cl > 1)
    w = "more than one Content-Length";
  else if (f.cl_bad)
    w = "Content-Length is not a plain decimal number";
  else if (f.n_te > 1 || f.te_bad)
    w = "Transfer-Encoding other than a single chunked";
  if (why)
    *why = w;
  return w == NULL;
}

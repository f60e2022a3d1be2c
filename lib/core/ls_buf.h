/* ls_buf: a growable byte buffer with a hard ceiling (curl's dynbuf idea). */
#ifndef LS_BUF_H
#define LS_BUF_H

#include <stddef.h>
#include "ls_err.h"

typedef struct {
  char *data; /* always NUL-terminated when non-NULL */
  size_t len;
  size_t cap;
  size_t max; /* ceiling: appends that would exceed it fail */
} ls_buf;

/* A result that must be looked at: a dropped append is a silently cut
 * body, so the compiler warns when one is ignored. */
#define LS_BUF_CHECK __attribute__((warn_unused_result))

void ls_buf_init(ls_buf *b, size_t max);
/* LS_ERR_TOO_LARGE when the ceiling would be crossed (buffer unchanged). */
/* Makes room for n bytes in total (at most max) in one allocation. */
LS_BUF_CHECK ls_err ls_buf_reserve(ls_buf *b, size_t n);
LS_BUF_CHECK ls_err ls_buf_append(ls_buf *b, const void *p, size_t n);
LS_BUF_CHECK ls_err ls_buf_appendz(ls_buf *b, const char *s);
LS_BUF_CHECK ls_err ls_buf_printf(ls_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Chained appends for a text built in many steps: each one does nothing
 * once *e holds an error, else stores its result in *e; the caller checks
 * *e once at the end. A text that reaches the ceiling thus ends with what
 * fitted, never with a middle part missing. */
void ls_buf_put(ls_buf *b, ls_err *e, const void *p, size_t n);
void ls_buf_putz(ls_buf *b, ls_err *e, const char *s);
void ls_buf_putf(ls_buf *b, ls_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Chained like ls_buf_put: the first n bytes of s with &, < and > (and "
 * when quotes is set) as HTML entities - HubSpot's HTML bodies, Slack's
 * mrkdwn. A NULL s puts nothing. */
void ls_buf_put_escaped(ls_buf *b, ls_err *e, const char *s, size_t n,
                        int quotes);
void ls_buf_reset(ls_buf *b);
/* Hands the bytes to the caller (who frees them) and empties the buffer. */
char *ls_buf_steal(ls_buf *b, size_t *len);
void ls_buf_free(ls_buf *b);

#endif

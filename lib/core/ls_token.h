/* ls_token: a secret read from a file (a mounted Kubernetes Secret) that
 * may change while the process runs. Secrets are updated in place by the
 * kubelet (an atomic symlink swap), so the file is checked (stat) at every
 * use and re-read when its inode, size or modification time changed. */
#ifndef LS_TOKEN_H
#define LS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ls_token ls_token;

/* Follows path; initial is the value read at config load (may be NULL). */
ls_token *ls_token_file(const char *path, const char *initial);
void ls_token_free(ls_token *t);
/* Copies the current value (first line, trimmed) into buf; false when there
 * is none or it does not fit. Thread-safe. */
bool ls_token_get(ls_token *t, char *buf, size_t len);
/* Times the value changed since ls_token_file (tests, logs). */
long ls_token_changes(ls_token *t);

#endif

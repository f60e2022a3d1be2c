/* bench_common: small helpers shared by the bench-only programs (listen
 * address parsing, ready files, signal flag, JSON result line). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* Set by SIGINT/SIGTERM once bench_install_signals() ran. */
extern volatile sig_atomic_t bench_stop;
void bench_install_signals(void);

/* "HOST:PORT" or "[v6]:PORT" into host and port; false when malformed. */
bool bench_split_listen(const char *listen, char *host, size_t hostlen,
                        char *port, size_t portlen);

/* Writes text plus a newline to path.tmp, then renames it onto path, so a
 * reader never sees a half-written file. 0 on success, -1 with errno. */

/* Strict decimal parse of a whole string into [min, max]. */
bool bench_parse_long(const char *s, long min, long max, long *out);
bool bench_parse_double(const char *s, double min, double max, double *out);

/* Monotonic clock in seconds. */
double bench_now_s(void);

#endif

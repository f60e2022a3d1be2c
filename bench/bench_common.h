/* bench_common: small helpers shared by the bench-only programs (signal
 * flag, number parsing, clock); listen addresses and ready files come from
 * lib (ls_net.h, ls_file.h). */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* Set by SIGINT/SIGTERM once bench_install_signals() ran. */
extern volatile sig_atomic_t bench_stop;
void bench_install_signals(void);

/* Strict decimal parse of a whole string into [min, max]. */
bool bench_parse_long(const char *s, long min, long max, long *out);
bool bench_parse_double(const char *s, double min, double max, double *out);

/* Monotonic clock in seconds. */
double bench_now_s(void);

#endif

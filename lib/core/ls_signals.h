/* ls_signals: the daemons' signal set-up. A signal only raises a flag that
 * the main loop polls; nothing else runs in the handler. */
#ifndef LS_SIGNALS_H
#define LS_SIGNALS_H

#include <signal.h>

/* SIGTERM and SIGINT set *stop to 1; SIGPIPE is ignored (a peer that went
 * away is an error from write/send, not the end of the process). */
void ls_signals_install(volatile sig_atomic_t *stop);

/* sig sets *flag to 1 (no SA_RESTART: a blocking call returns EINTR so the
 * loop sees the flag). A later call for the same sig replaces the flag. */
void ls_signal_flag(int sig, volatile sig_atomic_t *flag);

#endif

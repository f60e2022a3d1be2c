/* ls_signals: one handler that raises the flag registered for its signal. */
#include "ls_signals.h"

#include <string.h>

static volatile sig_atomic_t *volatile flags[NSIG];

static void on_signal(int sig) {
  volatile sig_atomic_t *f = sig > 0 && sig < NSIG ? flags[sig] : NULL;
  if (f)
    *f = 1;
}

void ls_signal_flag(int sig, volatile sig_atomic_t *flag) {
  if (sig <= 0 || sig >= NSIG)
    return;
  flags[sig] = flag;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, NULL);
}

void ls_signals_install(volatile sig_atomic_t *stop) {
  ls_signal_flag(SIGTERM, stop);
  ls_signal_flag(SIGINT, stop);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, NULL);
}

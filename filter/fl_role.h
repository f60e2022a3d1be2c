/* fl_role: the category filter role as a process: its HTTP endpoints,
 * ready file, options from the config, and the hold/release loop
 * (fl_release). `leadsync-worker --role filter` runs it. */
#ifndef FL_ROLE_H
#define FL_ROLE_H

#include <signal.h>

#include "ls_config.h"

typedef struct {
  const ls_config *cfg;
  const char *group_id;   /* the consumer group, e.g. "leadsync-filter" */
  const char *listen;     /* HOST:PORT, NULL: worker.listen */
  const char *ready_file; /* written with the URL once started, or NULL */
  volatile sig_atomic_t *stop;
  int poison_after; /* worker.poison_attempts */
  long max_msg_bytes;
} fl_role_args;

/* Runs until *a->stop; the process exit status (0 on a clean stop). */
int fl_role_run(const fl_role_args *a);

#endif

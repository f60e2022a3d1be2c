/* ls_process: the process's own CPU, memory, fds and start time from /proc,
 * for the standard process_* metrics every daemon exports. */
#ifndef LS_PROCESS_H
#define LS_PROCESS_H

typedef struct {
  double cpu_seconds;        /* user + system */
  double resident_bytes;     /* RSS */
  double virtual_bytes;      /* VSZ */
  double open_fds;           /* entries of /proc/self/fd */
  double max_fds;            /* RLIMIT_NOFILE soft limit */
  double start_time_seconds; /* since the Unix epoch */
} ls_process_stats;

/* Fills st; returns 0, or -1 when /proc/self/stat cannot be read (then the
 * fields that could not be read are 0). */
int ls_process_read(ls_process_stats *st);

#endif

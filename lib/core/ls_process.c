/* ls_process: reads /proc/self/stat, /proc/stat and /proc/self/fd. */
#include "ls_process.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Boot time never changes while we run: read it once. */
static double boot_time(void) {
  static double btime = -1;
  if (btime >= 0)
    return btime;
  FILE *f = fopen("/proc/stat", "r");
  char line[256];
  double v = 0;
  if (f) {
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "btime ", 6)) {
        v = strtod(line + 6, NULL);
        break;
      }
    fclose(f);
  }
  btime = v;
  return v;
}

static double count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d)
    return 0;
  double n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  /* The directory stream's own descriptor was counted too. */
  return n > 0 ? n - 1 : 0;
}

int ls_process_read(ls_process_stats *st) {
  memset(st, 0, sizeof *st);
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl))
    st->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (double)rl.rlim_cur;
  st->open_fds = count_fds();

  FILE *f = fopen("/proc/self/stat", "r");
  if (!f)
    return -1;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* The command name may hold spaces and parentheses: fields start after
   * the last ')'. */
  char *p = strrchr(buf, ')');
  if (!p)
    return -1;
  p++;
  /* Field 3 (state) is the first after ')'; we want 14, 15, 22, 23, 24. */
  double field[25] = {0};
  int idx = 3;
  char *save = NULL;
  for (char *tok = strtok_r(p, " ", &save); tok && idx <= 24;
       tok = strtok_r(NULL, " ", &save), idx++)
    if (idx >= 14)
      field[idx] = strtod(tok, NULL);
  double tck = (double)sysconf(_SC_CLK_TCK);
  double page = (double)sysconf(_SC_PAGESIZE);
  if (tck <= 0)
    tck = 100;
  st->cpu_seconds = (field[14] + field[15]) / tck;
  st->start_time_seconds = boot_time() + field[22] / tck;
  st->virtual_bytes = field[23];
  st->resident_bytes = field[24] * page;
  return 0;
}

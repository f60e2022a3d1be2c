/* wrk_fault: the LEADSYNC_TEST_FAULTS hook (see wrk_fault.h). */
#include "wrk_fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_log.h"

#define MAX_SEAMS 16

static struct {
  char name[96];
  long left;
} seams[MAX_SEAMS];
static int n_seams = -1; /* -1: environment not read yet */

static void load(void) {
  n_seams = 0;
  const char *env = getenv("LEADSYNC_TEST_FAULTS");
  if (!env || !*env)
    return;
  const char *p = env;
  while (*p && n_seams < MAX_SEAMS) {
    const char *colon = strchr(p, ':');
    const char *comma = strchr(p, ',');
    if (!colon || (comma && comma < colon))
      break;
    size_t len = (size_t)(colon - p);
    if (len >= sizeof seams[0].name)
      len = sizeof seams[0].name - 1;
    memcpy(seams[n_seams].name, p, len);
    seams[n_seams].name[len] = '\0';
    seams[n_seams].left = strtol(colon + 1, NULL, 10);
    n_seams++;
    if (!comma)
      break;
    p = comma + 1;
  }
  ls_warn("TEST FAULT INJECTION ACTIVE (LEADSYNC_TEST_FAULTS)", "{s:i}",
          "seams", n_seams);
}

bool wrk_fault(const char *seam) {
  if (n_seams < 0)
    load();
  for (int i = 0; i < n_seams; i++)
    if (!strcmp(seams[i].name, seam) && seams[i].left > 0) {
      seams[i].left--;
      ls_warn("injected fault", "{s:s,s:i}", "seam", seam, "left",
              (int)seams[i].left);
      return true;
    }
  return false;
}

bool wrk_fault_for(const char *seam, const char *subject) {
  char name[96];
  if (n_seams < 0)
    load();
  if (!n_seams || !subject || !*subject)
    return false;
  int w = snprintf(name, sizeof name, "%s@%s", seam, subject);
  return w > 0 && (size_t)w < sizeof name && wrk_fault(name);
}

void wrk_fault_reset(void) {
  n_seams = -1;
}

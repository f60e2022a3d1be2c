/* ls_version: version strings filled in at configure time. */
#include "ls_version.h"

#include <string.h>

#include "ls_version_gen.h"

const char *ls_version(void) {
  return LS_GEN_VERSION;
}

const char *ls_version_commit(void) {
  return LS_GEN_COMMIT;
}

void ls_version_print(FILE *f, const char *name) {
  fprintf(f, "%s %s (commit %s)\n", name, ls_version(), ls_version_commit());
}

int ls_version_flag(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--"))
      return 0;
    if (!strcmp(argv[i], "--version")) {
      ls_version_print(stdout, name);
      fflush(stdout);
      return 1;
    }
  }
  return 0;
}

/* ls_version: the build's version and git commit, for --version and
 * leadsync_build_info. */
#ifndef LS_VERSION_H
#define LS_VERSION_H

#include <stdio.h>

/* The CMake project version, e.g. "0.1.0". */
const char *ls_version(void);
/* The git commit the build was configured from (12 hex digits, with a
 * "-dirty" suffix when the work tree had changes), or "unknown" when the
 * source is not a git checkout. */
const char *ls_version_commit(void);

/* Prints "NAME VERSION (commit COMMIT)" and a newline to f. */
void ls_version_print(FILE *f, const char *name);

/* For mains: when argv holds "--version" before any "--" or command word,
 * prints the version line to stdout and returns 1 (the caller exits 0).
 * Returns 0 otherwise. Lets every binary answer --version in one line. */
int ls_version_flag(int argc, char **argv, const char *name);

#endif

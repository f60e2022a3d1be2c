/* ls_env: getenv with empty as unset. */
#include "ls_env.h"

#include <stdlib.h>

const char *ls_env(const char *name) {
  const char *v = name ? getenv(name) : NULL;
  return v && *v ? v : NULL;
}

const char *ls_env_or(const char *v, const char *name) {
  return v ? v : ls_env(name);
}

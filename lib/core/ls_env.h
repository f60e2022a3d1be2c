/* ls_env: environment variables, where an empty value counts as unset (a
 * Kubernetes env entry or a shell export with no value). */
#ifndef LS_ENV_H
#define LS_ENV_H

/* name's value; NULL when name is NULL, unset or empty. */
const char *ls_env(const char *name);
/* v when it is not NULL (a flag wins), else ls_env(name). */
const char *ls_env_or(const char *v, const char *name);

#endif

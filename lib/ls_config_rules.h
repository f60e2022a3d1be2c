/* ls_config_rules: the config's typed sections and semantic rules; used by
 * ls_config only (the loader is their one caller). */
#ifndef LS_CONFIG_RULES_H
#define LS_CONFIG_RULES_H

#include <jansson.h>

#include "ls_config.h"
#include "ls_diag.h"

/* Reads the "ingress" and "worker" sections into typed structs with their
 * defaults. Values of the wrong type (the schema reports them) read as the
 * default. */
void ls_config_parse_sections(const json_t *root, ls_ingress_conf *in,
                              ls_worker_conf *w);
void ls_config_free_sections(ls_worker_conf *w);

/* The rules the schema cannot say (duplicates across the file, event type
 * names, shares that cannot add up, names to resolve in this environment),
 * every problem into d. Robust to a root the schema refused. */
void ls_config_rules(const json_t *root, const ls_ingress_conf *in,
                     const ls_worker_conf *w, ls_diags *d);

#endif

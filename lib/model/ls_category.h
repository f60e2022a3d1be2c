/* ls_category: a lead's Smartlead category in an event, and whether a
 * tenant's category filter lets it in (docs/filter.md). */
#ifndef LS_CATEGORY_H
#define LS_CATEGORY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"

/* The category a LEAD_CATEGORY_UPDATED payload moves the lead into:
 * lead_category.new_id/new_name, else lead_category_id/category. */
void ls_event_category(const json_t *root, char *id, size_t idlen, char *name,
                       size_t namelen);
/* Whether a tenant's filter lets a category in (names case-insensitively,
 * ids exactly). A tenant without a filter allows everything. */
bool ls_tenant_allows(const ls_tenant *t, const char *id, const char *name);

#endif

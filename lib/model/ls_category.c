/* ls_category: category of an event, a tenant's category filter. */
#include "ls_category.h"

#include <string.h>
#include <strings.h>

#include "ls_event.h"

void ls_event_category(const json_t *root, char *id, size_t idlen, char *name,
                       size_t namelen) {
  const json_t *lc = json_object_get(root, "lead_category");
  const json_t *vid = json_object_get(lc, "new_id");
  const json_t *vname = json_object_get(lc, "new_name");
  if (!vid || json_is_null(vid))
    vid = json_object_get(root, "lead_category_id");
  if (!json_is_string(vname))
    vname = json_object_get(root, "category");
  if (json_is_object(vname)) /* lead_data.category shape */
    vname = json_object_get(vname, "name");
  ls_json_id(vid, id, idlen);
  if (json_is_string(vname) && json_string_length(vname) < namelen)
    memcpy(name, json_string_value(vname), json_string_length(vname) + 1);
  else
    name[0] = '\0';
}

bool ls_tenant_allows(const ls_tenant *t, const char *id, const char *name) {
  if (!t->has_filter)
    return true;
  for (size_t i = 0; i < t->n_categories; i++) {
    const char *c = t->categories[i];
    if (id && id[0] && !strcmp(c, id))
      return true;
    if (name && name[0] && !strcasecmp(c, name))
      return true;
  }
  return false;
}

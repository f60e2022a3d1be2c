/* route_ref: the DOM-based route kept as the reference for tests. */
#ifndef ROUTE_REF_H
#define ROUTE_REF_H

#include "ing_route.h"

/* ing_route with jansson building the whole body, as before the
 * single-pass scanner. */
void ing_route_ref(const ing_schemas *schemas, const ls_source *src,
                   const char *topic_prefix, int max_depth, const char *body,
                   size_t len, ing_verdict *out);

#endif

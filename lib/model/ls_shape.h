/* ls_shape: Smartlead's second webhook payload shape, as its current API
 * guide documents it ("event"/"event_type": "EMAIL_REPLIED", "timestamp",
 * the lead under "lead", "reply.body", "link.url"), normalised to the
 * classic shape every other part of leadsync reads (docs/ingress.md,
 * docs/mapping.md "Second payload shape"). */
#ifndef LS_SHAPE_H
#define LS_SHAPE_H

#include <jansson.h>
#include <stdbool.h>

/* The classic event type of a second-shape name (EMAIL_REPLIED ->
 * EMAIL_REPLY, EMAIL_OPENED -> EMAIL_OPEN, EMAIL_CLICKED ->
 * EMAIL_LINK_CLICK, EMAIL_BOUNCED -> EMAIL_BOUNCE, EMAIL_UNSUBSCRIBED ->
 * LEAD_UNSUBSCRIBED); NULL for any other name. */
const char *ls_shape_classic_type(const char *name);

/* True when root is a second-shape payload: no classic event_type but an
 * "event", or a second-shape type name, or a "lead" object with an email
 * and none of the classic lead fields. */
bool ls_shape_is_second(const json_t *root);

/* A new classic-shape copy of a second-shape payload (classic fields
 * filled only where absent; the original fields stay), or NULL when root
 * is not one. The caller decrefs. */
json_t *ls_shape_normalized(const json_t *root);

#endif

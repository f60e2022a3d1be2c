/* fo_format: the request body an endpoint receives for one event: the
 * Smartlead body unchanged, a CloudEvents JSON envelope, or a Slack
 * message. Pure: no Kafka, no HTTP. */
#ifndef FO_FORMAT_H
#define FO_FORMAT_H

#include <jansson.h>
#include <stddef.h>

#include "ls_endpoint.h"
#include "ls_event.h"

/* What the record's CloudEvents headers said (empty strings when absent). */
typedef struct {
  const char *id, *source, *type, *time, *tenant;
} fo_meta;

/* The body to POST, malloc'd, and its content type; NULL when the
 * endpoint sends nothing for this event (a Slack endpoint and a type it
 * has no message for) or out of memory. root is the parsed body. */
char *fo_format_body(const ls_endpoint *ep, const fo_meta *meta,
                     const char *body, size_t body_len, const json_t *root,
                     const ls_event *ev, size_t *out_len, const char **ctype);

#endif

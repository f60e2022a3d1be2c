/* ls_evid: the occurrence rule for event ids (docs/assurance.md "Event ids").
 * A webhook and the Smartlead API entry for the same occurrence must give the
 * same id, so for the types the API can report the id hashes only fields both
 * sides carry, normalised (times to whole UTC seconds). */
#ifndef LS_EVID_H
#define LS_EVID_H

#include <jansson.h>
#include <stdbool.h>

#include "ls_event.h"

/* Writes ev->event_id by the occurrence rule and returns true when the
 * payload's type has one and carries its fields; false leaves the id to the
 * generic rule in ls_event_identify. ev's type, lead, campaign and time must
 * already be set. */
bool ls_evid_occurrence(const json_t *root, const char *tenant, ls_event *ev);

#endif

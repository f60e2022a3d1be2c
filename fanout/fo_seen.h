/* fo_seen: the event ids an endpoint finished most recently (delivered or
 * sent to its DLQ), so a record that
 * Kafka holds twice (a producer retry the broker stored twice, a filter
 * re-publish after a crash) is delivered once. Bounded: the oldest id is
 * forgotten first. Not a guarantee across restarts (receivers still
 * de-duplicate by webhook-id); it keeps the common duplicates off the
 * wire. */
#ifndef FO_SEEN_H
#define FO_SEEN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct fo_seen fo_seen;

fo_seen *fo_seen_new(size_t capacity);
void fo_seen_free(fo_seen *s);
bool fo_seen_has(const fo_seen *s, const char *id);
/* Adds id; false when it was already there (a duplicate). */
bool fo_seen_add(fo_seen *s, const char *id);

#endif

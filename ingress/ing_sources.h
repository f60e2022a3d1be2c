/* ing_sources: sources without a rollout. A thread tails the compacted
 * leadsync.sources topic (every partition, from the beginning) and keeps a
 * table of the records, which win over the config's sources of the same
 * id; a rotated source accepts each of its tokens until that token's
 * not_after. Changes apply within about a second, no restart. */
#ifndef ING_SOURCES_H
#define ING_SOURCES_H

#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"

typedef struct ing_sources ing_sources;

/* NULL with errstr when the Kafka consumer cannot be created. */
ing_sources *ing_sources_start(const ls_config *cfg, char *errstr, size_t len);
/* The source whose token hashes to token_sha256 (topic records first, then
 * the config's sources no record replaced); NULL when none. The pointer
 * stays valid until ing_sources_stop. */
const ls_source *ing_sources_find(ing_sources *s, const char *token_sha256);
/* Records applied so far (tests, readiness). */
long ing_sources_applied(ing_sources *s);
/* True once the records that existed at start are applied. */
bool ing_sources_caught_up(ing_sources *s);
void ing_sources_stop(ing_sources *s);

#endif

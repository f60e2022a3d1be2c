/* ing_ratelimit: one token bucket per webhook source. */
#ifndef ING_RATELIMIT_H
#define ING_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "ls_config.h"

typedef struct ing_ratelimit ing_ratelimit;

/* Buckets for every source of cfg (per_second 0 = unlimited). */
ing_ratelimit *ing_ratelimit_new(const ls_config *cfg);
void ing_ratelimit_free(ing_ratelimit *rl);
/* Takes one token at time now_us (monotonic). false when the bucket is
 * empty; *retry_after_s then says when the next token is due (>= 1). */
bool ing_ratelimit_take(ing_ratelimit *rl, const ls_source *src, int64_t now_us,
                        int *retry_after_s);

#endif

/* ls_time: lenient ISO-8601 parsing (Smartlead's many shapes) and RFC 3339. */
#ifndef LS_TIME_H
#define LS_TIME_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Accepts YYYY-MM-DD[T ]HH:MM[:SS[.f{1,9}]][Z|z|+HH:MM|-HH:MM|+HHMM|+HH]
 * and a bare date; a missing zone means UTC. Returns false on anything else.
 * *us gets microseconds since the Unix epoch. */
bool ls_time_parse(const char *s, int64_t *us);
/* "2025-03-28T09:02:41.618881Z" (6 fraction digits); buf >= 32 bytes. */
void ls_time_format_us(int64_t us, char *buf, size_t len);
/* "2025-03-28T09:02:41.618Z" (milliseconds, what HubSpot returns). */
void ls_time_format_ms(int64_t us, char *buf, size_t len);
int64_t ls_now_us(void);
int64_t ls_mono_us(void);

#endif

/* ls_mask: personal data out of log lines. HubSpot's error messages quote
 * what was sent ("Email address jane@acme.com is invalid"); logs get them
 * with every address replaced by a fingerprint, while the DLQ headers keep
 * the full text for the operator who replays. */
#ifndef LS_MASK_H
#define LS_MASK_H

#include <stddef.h>

/* Copies in to out (always NUL-terminated, truncated to outlen - 1),
 * replacing each e-mail address with "<email:xxxxxxxx>" (the first 8 hex
 * digits of the SHA-256 of the lower-cased address, so one lead's lines
 * can be correlated without naming it). */
void ls_mask_pii(const char *in, char *out, size_t outlen);

#endif

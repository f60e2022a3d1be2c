/* ls_hash: SHA-256 (OpenSSL libcrypto) and constant-time comparison. */
#ifndef LS_HASH_H
#define LS_HASH_H

#include <stdbool.h>
#include <stddef.h>

/* out must hold 65 bytes: 64 lower-case hex digits and a NUL. */
void ls_sha256_hex(const void *data, size_t len, char out[65]);
/* Compares two strings without an early exit on the first difference;
 * the length is not secret. */
bool ls_const_eq(const char *a, const char *b);

#endif

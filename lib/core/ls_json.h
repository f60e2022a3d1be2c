/* ls_json: a faster jansson reader and compact writer for the worker's hot
 * path (record bodies, HubSpot request bodies and answers, sync_log
 * records). They build and read ordinary jansson values and accept,
 * reject and print exactly what json_loadb(.., 0, ..) and
 * json_dumps(.., JSON_COMPACT) do; jansson's lexer reads one byte at a
 * time through a stream, its writer emits one token at a time through a
 * callback, and those were most of what a synced event cost the worker
 * (docs/bench.md section 8). */
#ifndef LS_JSON_H
#define LS_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The object or array in buf[0..len), or NULL where json_loadb with no
 * flags fails (bad syntax or UTF-8, \u0000, an integer out of range, a
 * real overflow, nesting deeper than jansson's 2048, trailing text), and
 * on every raw NUL byte: jansson 2.14 skips one right after a number or a
 * literal ("[1\0]" is [1] to it, a quirk of its stream's unget); NUL is
 * never JSON, and the ingress's scanner refuses it too. */
json_t *ls_json_loadb(const char *buf, size_t len);

/* json_dumps(j, JSON_COMPACT) (insertion order, no escaping of '/' or of
 * non-ASCII), malloc'ed; NULL where it fails (NULL j, a scalar, invalid
 * UTF-8 in a string, out of memory). *len_out (may be NULL) gets the
 * length. */
char *ls_json_dumps(const json_t *j, size_t *len_out);

/* Writes code point c (at most 0x10FFFF, no surrogate check) as UTF-8 into
 * out (room for 4 bytes); returns the number of bytes written. */
size_t ls_utf8_encode(uint32_t c, unsigned char *out);

#endif

/* ing_json: one pass over a webhook body that checks all of it (strict JSON
 * by jansson's rules, UTF-8, nesting depth) and builds only the members
 * the route reads: a projection of the body, never a DOM of all of it. */
#ifndef ING_JSON_H
#define ING_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ing_mask.h"

/* The members to keep: a tree of keys. A kept member whose node is
 * "whole" (or whose value is not an object) is built in full; an object
 * whose node lists keys keeps only those (recursively). */
typedef struct ing_pick ing_pick;

ing_pick *ing_pick_new(void);
void ing_pick_free(ing_pick *p);
/* The child node for key (created when missing); NULL when out of memory. */
ing_pick *ing_pick_child(ing_pick *p, const char *key);
/* Keeps the node's value in full. */
void ing_pick_whole(ing_pick *p);
/* Adds a dotted path ("lead_data.email"); whole marks its last node. */
bool ing_pick_path(ing_pick *p, const char *path, bool whole);

/* Length of the UTF-8 sequence at p (1..4; left > 0 bytes there), 0 when
 * it is not UTF-8: overlong forms, surrogates and code points above
 * U+10FFFF are refused. The one rule of the scanner and ing_scan. */
size_t ing_json_utf8_seq(const unsigned char *p, size_t left);

typedef enum {
  ING_JSON_OK,
  ING_JSON_SYNTAX, /* not JSON as jansson reads it (or too deep for it) */
  ING_JSON_UTF8,   /* a byte sequence that is not UTF-8 */
  ING_JSON_DEPTH,  /* nesting deeper than max_depth */
  ING_JSON_NOMEM
} ing_json_status;

typedef struct {
  ing_json_status status;
  size_t at;  /* byte offset of the problem */
  int line;   /* 1-based, of at */
  int column; /* 1-based byte column of at */
} ing_json_error;

/* Parses body. On ING_JSON_OK *out is the projection: for a top-level
 * object, a new object with the picked members in body order (a repeated
 * key keeps its first position and last value, as jansson does); any
 * other top-level value in full. The caller decrefs. */
ing_json_status ing_json_project(const ing_pick *pick, const char *body,
                                 size_t len, int max_depth, json_t **out,
                                 ing_json_error *err);

/* ing_json_project that also notes, in the same pass, where the values of
 * every "secret_key" member are (at any depth, the key spelt plainly or
 * with escapes): *secrets is complete only when the parse succeeded, and
 * then ing_mask_apply masks exactly what ing_mask_secret would. */
ing_json_status ing_json_project_masked(const ing_pick *pick, const char *body,
                                        size_t len, int max_depth, json_t **out,
                                        ing_json_error *err,
                                        ing_mask_spans *secrets);

#endif

/* ls_schema: a small JSON Schema (2020-12 subset) validator for our schemas. */
#ifndef LS_SCHEMA_H
#define LS_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_err.h"

typedef struct ls_schema ls_schema;

/* Directory holding the JSON Schemas: LEADSYNC_SCHEMA_DIR, else the one
 * compiled in (the source tree's schemas/, or /usr/share/leadsync/schemas). */
const char *ls_schema_dir(void);

/* Loads a schema file; NULL with errstr on failure. */
ls_schema *ls_schema_load(const char *path, char *errstr, size_t errlen);
void ls_schema_free(ls_schema *s);
/* LS_OK, or LS_ERR_SCHEMA with errstr "<json path>: <rule>". */
ls_err ls_schema_validate(const ls_schema *s, const json_t *instance,
                          char *errstr, size_t errlen);
/* One problem: the instance's JSON path ("$.a.b[2]"; a missing required
 * property's own path), the keyword that failed ("type", "required",
 * "additionalProperties", ...) and a message that never quotes the value. */
typedef void (*ls_schema_report_fn)(void *ud, const char *path,
                                    const char *keyword, const char *message);
/* Validates and reports every problem, not only the first: LS_OK when
 * there is none. A value of the wrong type is one problem (its other
 * keywords are not checked). */
ls_err ls_schema_validate_each(const ls_schema *s, const json_t *instance,
                               ls_schema_report_fn report, void *ud);
/* What validating an object against s can read, for callers that build
 * only part of an instance (ingress/ing_json.c): member(node, key) is
 * called for every property a rule names (returning the node for that
 * member's value, NULL when out of memory) and whole(node) where a rule
 * needs the whole value (additionalProperties, patternProperties,
 * propertyNames, min/maxProperties, dependentRequired/Schemas, const,
 * enum, or $ref chains too deep to follow). Subschemas applied to the same
 * instance (allOf, anyOf, oneOf, not, if/then/else, $ref) are followed.
 * Arrays are not descended into: a caller keeps them whole. Validating the
 * part so kept gives the same result and message as validating all of it.
 * false when member() failed. */
typedef struct {
  void *(*member)(void *node, const char *key);
  void (*whole)(void *node);
} ls_schema_reader;
bool ls_schema_reads(const ls_schema *s, const ls_schema_reader *r, void *root);

/* Patterns the validator matches without regexec (the id digits, an
 * address, a timestamp, an @): 1 or 0 as regexec(REG_EXTENDED) would
 * answer, -1 when pattern has no fast matcher. For unit tests. */
int ls_schema_fast_match(const char *pattern, const char *str);

#endif

/* ls_schema: a small JSON Schema (2020-12 subset) validator for our schemas. */
#ifndef LS_SCHEMA_H
#define LS_SCHEMA_H

#include <jansson.h>
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
/* Validates a config root against <schema dir>/config.schema.json; errstr
 * reads "<name>: <json path>: <rule>". */
ls_err ls_schema_validate_config(const json_t *root, const char *name,
                                 char *errstr, size_t errlen);

#endif

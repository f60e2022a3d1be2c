/* ls-schema-check: the C validator as a line filter for differential tests.
 * Each stdin line is {"schema": PATH, "instance": VALUE}; each output line is
 * "ok" or "error <message>" ("load <message>" when the schema fails). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_schema.h"

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    json_error_t jerr;
    json_t *req = json_loadb(line, (size_t)n, 0, &jerr);
    const char *path = json_string_value(json_object_get(req, "schema"));
    const json_t *inst = json_object_get(req, "instance");
    char err[LS_ERRSTR_SIZE];
    if (!path || !inst) {
      printf("bad request\n");
    } else {
      ls_schema *s = ls_schema_load(path, err, sizeof err);
      if (!s)
        printf("load %s\n", err);
      else if (ls_schema_validate(s, inst, err, sizeof err) == LS_OK)
        printf("ok\n");
      else
        printf("error %s\n", err);
      ls_schema_free(s);
    }
    fflush(stdout);
    json_decref(req);
  }
  free(line);
  return 0;
}

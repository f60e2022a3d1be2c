/* ls-schema-check: the C validator as a line filter for differential tests.
 * Each stdin line is {"schema": PATH, "instance": VALUE}; each output line is
 * "ok" or "error <message>" ("load <message>" when the schema fails).
 * Every instance is also validated the way the ingress does it: its text
 * scanned once keeping only what the schema reads (ingress/ing_json.c,
 * ls_schema_reads); when that gives another verdict or message the line is
 * "mismatch <both>", which the differential test counts as a failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ing_json.h"
#include "ls_schema.h"

static void *member(void *node, const char *key) {
  return ing_pick_child(node, key);
}

static void whole(void *node) {
  ing_pick_whole(node);
}

/* The instance's verdict through the projection, into err ("" when ok). */
static void projected(const ls_schema *s, const json_t *inst, char *err,
                      size_t errlen) {
  static const ls_schema_reader reader = {member, whole};
  ing_pick *pick = ing_pick_new();
  char *text = json_dumps(inst, JSON_ENCODE_ANY | JSON_COMPACT);
  json_t *part = NULL;
  snprintf(err, errlen, "(projection failed)");
  if (pick && text && ls_schema_reads(s, &reader, pick) &&
      ing_json_project(pick, text, strlen(text), 2048, &part, NULL) ==
          ING_JSON_OK) {
    if (ls_schema_validate(s, part, err, errlen) == LS_OK)
      err[0] = '\0';
  }
  json_decref(part);
  free(text);
  ing_pick_free(pick);
}

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
      else {
        char perr[LS_ERRSTR_SIZE];
        bool ok = ls_schema_validate(s, inst, err, sizeof err) == LS_OK;
        projected(s, inst, perr, sizeof perr);
        if (ok ? perr[0] != '\0' : strcmp(err, perr) != 0)
          printf("mismatch whole: %s; projected: %s\n", ok ? "ok" : err,
                 perr[0] ? perr : "ok");
        else if (ok)
          printf("ok\n");
        else
          printf("error %s\n", err);
      }
      ls_schema_free(s);
    }
    fflush(stdout);
    json_decref(req);
  }
  free(line);
  return 0;
}

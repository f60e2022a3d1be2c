/* ls_fixture: the unit tests' Smartlead samples (tests/fixtures/smartlead)
 * and their event identity under tenant "demo", one copy for the tests that
 * need them. Include after <cmocka.h>: a failure fails the test. */
#ifndef LS_FIXTURE_H
#define LS_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_event.h"

/* The sample tests/fixtures/smartlead/NAME.json, from $LS_SOURCE_DIR (ctest
 * sets it) or the working directory. */
static inline json_t *ls_fixture(const char *name) {
  const char *src = getenv("LS_SOURCE_DIR");
  char path[1024];
  json_error_t jerr;
  snprintf(path, sizeof path, "%s/tests/fixtures/smartlead/%s.json",
           src ? src : ".", name);
  json_t *j = json_load_file(path, 0, &jerr);
  if (!j)
    fail_msg("cannot load %s: %s", path, jerr.text);
  return j;
}

/* ev: root's identity as the ingress gives it (its compact text as body). */
static inline void ls_fixture_identify(const json_t *root, ls_event *ev) {
  char *body = json_dumps(root, JSON_COMPACT);
  assert_non_null(body);
  assert_int_equal(
      ls_event_identify(root, body, strlen(body), "demo", "smartlead.", ev),
      LS_OK);
  free(body);
}

#endif

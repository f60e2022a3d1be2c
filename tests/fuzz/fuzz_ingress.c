/* fuzz_ingress: libFuzzer over the ingress's parse-validate-route path
 * (ingress/ing_route.c: UTF-8 and depth scan, jansson, secret_key, event
 * schemas, event identity, scope check) with the real schemas, and the
 * in-place secret_key mask (ingress/ing_mask.c) applied to stored bodies.
 * Every input also goes through the DOM route the single-pass scanner
 * replaced (tests/ingress/route_ref.c): both must give the same verdict,
 * event id, key, drift label and scope flag. The worker's own JSON reader
 * and writer (lib/core/ls_json.c) are checked against jansson on every
 * input too: same acceptance, equal values, the same compact text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ing_mask.h"
#include "ing_route.h"
#include "ls_hash.h"
#include "ls_json.h"
#include "route_ref.h"

static ing_schemas *schemas;
static ls_tenant tenant = {.id = "fuzz"};
static ls_source sources[3];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  char dir[1024], err[LS_ERRSTR_SIZE];
  snprintf(dir, sizeof dir, "%s/smartlead", ls_schema_dir());
  schemas = ing_schemas_load(dir, err, sizeof err);
  if (!schemas) {
    fprintf(stderr, "fuzz_ingress: %s\n", err);
    abort();
  }
  sources[0] =
      (ls_source){.id = "user", .level = LS_LEVEL_USER, .tenant = &tenant};
  sources[1] = sources[0];
  sources[1].has_secret = true;
  ls_sha256_hex("00000000-1111-4222-8333-444444444444", 36,
                sources[1].secret_sha256);
  sources[2] = (ls_source){.id = "client",
                           .level = LS_LEVEL_CLIENT,
                           .scope_id = "42",
                           .tenant = &tenant};
  return 0;
}

static int is_hex32(const char *s) {
  if (strlen(s) != 32)
    return 0;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return 0;
  return 1;
}

/* ls_json_loadb accepts what json_loadb(.., 0, ..) accepts (raw NUL
 * bytes aside: it refuses every one, jansson skips one after a number),
 * to an equal value, and ls_json_dumps prints json_dumps' compact text. */
static void json_differential(const uint8_t *data, size_t size) {
  json_t *a = json_loadb((const char *)data, size, 0, NULL);
  json_t *b = ls_json_loadb((const char *)data, size);
  bool nul = memchr(data, 0, size) != NULL;
  if ((a && !b && !nul) || (b && !a) || (a && b && !json_equal(a, b))) {
    fprintf(stderr, "fuzz_ingress: ls_json %s, jansson %s\n",
            b ? "accepts" : "rejects", a ? "accepts" : "rejects");
    abort();
  }
  if (a && b) {
    char *da = json_dumps(a, JSON_COMPACT);
    size_t n = 0;
    char *db = ls_json_dumps(b, &n);
    if (!da || !db || n != strlen(da) || memcmp(da, db, n) != 0) {
      fprintf(stderr, "fuzz_ingress: ls_json_dumps differs from json_dumps\n");
      abort();
    }
    free(da);
    free(db);
  }
  json_decref(a);
  json_decref(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_differential(data, size);
  /* The source is picked from the input so every variant gets coverage
   * without changing the bytes under test. */
  const ls_source *src = &sources[size ? data[size - 1] % 3 : 0];
  ing_verdict v;
  ing_route(schemas, src, "smartlead.", 64, (const char *)data, size, &v);
  /* Invariants: an accepted body is fully routed; a rejection says why. */
  if (v.err == LS_OK) {
    if (!v.have_event || !is_hex32(v.ev.event_id) ||
        strncmp(v.ev.topic, "smartlead.", 10) != 0 ||
        strncmp(v.ev.key, "fuzz:", 5) != 0 || !strchr(v.ev.key + 5, ':'))
      abort();
  } else if (!v.detail[0] || strlen(v.detail) >= sizeof v.detail) {
    abort();
  }
  ing_verdict r;
  ing_route_ref(schemas, src, "smartlead.", 64, (const char *)data, size, &r);
  /* A raw NUL byte is never JSON; jansson 2.14 skips one right after a
   * number or a literal (a quirk of its stream's unget), the scanner
   * refuses every one (bad_json). */
  bool nul_quirk = memchr(data, 0, size) && v.err == LS_ERR_BAD_JSON &&
                   r.err != LS_ERR_BAD_UTF8 && r.err != LS_ERR_TOO_DEEP;
  if (v.err != LS_ERR_NOMEM && !nul_quirk &&
      (v.err != r.err || v.quarantine != r.quarantine ||
       v.have_event != r.have_event || v.scope_mismatch != r.scope_mismatch ||
       strcmp(v.drift, r.drift) != 0 ||
       (v.err != LS_ERR_BAD_JSON && strcmp(v.detail, r.detail) != 0) ||
       (v.have_event && (strcmp(v.ev.event_id, r.ev.event_id) != 0 ||
                         strcmp(v.ev.key, r.ev.key) != 0 ||
                         strcmp(v.ev.topic, r.ev.topic) != 0 ||
                         strcmp(v.ev.event_time, r.ev.event_time) != 0)))) {
    fprintf(stderr,
            "fuzz_ingress: route %s/%s differs from the DOM route "
            "%s/%s (%s | %s)\n",
            ls_err_name(v.err), v.ev.event_id, ls_err_name(r.err),
            r.ev.event_id, v.detail, r.detail);
    abort();
  }
  /* The mask: same length, only value bytes changed (to '*', '"' or '0'),
   * and JSON that parsed still parses, to the same shape. */
  char *m = malloc(size ? size : 1);
  if (!m)
    return 0;
  memcpy(m, data, size);
  ing_mask_secret(m, size);
  for (size_t i = 0; i < size; i++)
    if (m[i] != (char)data[i] && m[i] != '*' && m[i] != '"' && m[i] != '0')
      abort();
  /* The places the scanner noted in its pass mask exactly those bytes
   * (the ingress masks from them when they are complete). */
  char *m2 = malloc(size ? size : 1);
  if (!m2) {
    free(m);
    return 0;
  }
  memcpy(m2, data, size);
  ing_mask_apply(m2, size, &v.secrets);
  if (memcmp(m, m2, size) != 0) {
    fprintf(stderr, "fuzz_ingress: the scanner's mask differs from the "
                    "rescan\n");
    abort();
  }
  free(m2);
  json_error_t jerr;
  /* Not with a raw NUL byte: jansson skips one after a number (the quirk
   * above), not after the string a masked number becomes. The ingress
   * refuses such a body anyway (bad_json) and stores it only in
   * quarantine. */
  json_t *a = memchr(data, 0, size) ? NULL
                                    : json_loadb((const char *)data, size,
                                                 JSON_DECODE_ANY, &jerr);
  if (a) {
    json_t *b = json_loadb(m, size, JSON_DECODE_ANY, &jerr);
    if (!b || json_typeof(a) != json_typeof(b) ||
        (json_is_object(a) && json_object_size(a) != json_object_size(b)))
      abort();
    json_decref(b);
    json_decref(a);
  }
  free(m);
  return 0;
}

/* bench-map-memory: the heap one event's mapping holds in the worker, as
 * jansson trees (hs_map_event) and packed (hs_mapped_pack), for each
 * sample given; and the size of a wrk_event (docs/bench.md "Packed
 * mappings"). glibc's mallinfo2 before and after 1,000 mappings of one
 * sample, the parsed bodies freed as the worker frees them after intake.
 *
 *     bench-map-memory tests/fixtures/smartlead/\*.json
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_map.h"
#include "ls_event.h"
#include "ls_json.h"
#include "ls_version.h"
#include "wrk_event.h"

#define N 1000

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *b = NULL;
  long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)len + 1)))
    *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

/* Heap per mapping of body (bytes), packed or not; -1 when it fails. */
static double per_event(const char *body, size_t n, bool pack) {
  static hs_mapped maps[N];
  size_t before = mallinfo2().uordblks;
  double r = 0;
  for (int i = 0; i < N && r == 0; i++) {
    json_t *root = ls_json_loadb(body, n);
    ls_event ev;
    char err[256];
    hs_map_opts mo = {0};
    memset(&ev, 0, sizeof ev);
    memset(&maps[i], 0, sizeof maps[i]);
    if (!root || ls_event_identify(root, body, n, "t1", "smartlead.", &ev) ||
        hs_map_event(root, &ev, ev.event_time_us ? ev.event_time_us : 1, &mo,
                     &maps[i], err, sizeof err) ||
        (pack && hs_mapped_pack(&maps[i])))
      r = -1;
    json_decref(root);
  }
  if (r == 0)
    r = (double)(mallinfo2().uordblks - before) / N;
  for (int i = 0; i < N; i++)
    hs_mapped_clear(&maps[i]);
  return r;
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "bench-map-memory"))
    return 0;
  printf("sizeof(wrk_event) %zu (ls_event %zu, hs_mapped %zu)\n",
         sizeof(wrk_event), sizeof(ls_event), sizeof(hs_mapped));
  printf("%-28s %6s %8s %8s\n", "sample", "body", "trees", "packed");
  for (int a = 1; a < argc; a++) {
    size_t n = 0;
    char *body = slurp(argv[a], &n);
    if (!body) {
      fprintf(stderr, "%s: cannot read\n", argv[a]);
      return 1;
    }
    const char *s = strrchr(argv[a], '/');
    printf("%-28s %6zu %8.0f %8.0f\n", s ? s + 1 : argv[a], n,
           per_event(body, n, false), per_event(body, n, true));
    free(body);
  }
  return 0;
}

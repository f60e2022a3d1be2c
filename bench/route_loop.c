/* bench-route-loop: the ingress's own work per webhook in one warm thread,
 * without HTTP or Kafka: the token's SHA-256, the route (scan, projection,
 * validation, event id) and the secret mask, over the shared samples in
 * turn. Prints the best of ROUNDS rounds of CALLS calls in thread CPU time
 * per call (docs/bench.md, the ingress's fourth pass): the figure a change
 * to the route moves without the noise of a loaded machine.
 *   bench-route-loop SCHEMA_DIR SAMPLE_DIR [CALLS [ROUNDS]] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ing_mask.h"
#include "ing_route.h"
#include "ls_hash.h"
#include "ls_version.h"

#define MAX_SAMPLES 64
#define MAX_BODY (256 * 1024)

static double thread_cpu_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Every *.json of dir into bodies; the count, or -1. */
static int load_samples(const char *dir, char **bodies, size_t *lens) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) && n < MAX_SAMPLES) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 5, ".json") != 0)
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f || !(bodies[n] = malloc(MAX_BODY))) {
      if (f)
        fclose(f);
      closedir(d);
      return -1;
    }
    lens[n] = fread(bodies[n], 1, MAX_BODY, f);
    fclose(f);
    n++;
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "bench-route-loop"))
    return 0;
  if (argc < 3) {
    fprintf(stderr,
            "usage: bench-route-loop SCHEMA_DIR SAMPLE_DIR [CALLS [ROUNDS]]\n");
    return 2;
  }
  long calls = argc > 3 ? strtol(argv[3], NULL, 10) : 5000;
  long rounds = argc > 4 ? strtol(argv[4], NULL, 10) : 15;
  if (calls < 1 || rounds < 1) {
    fprintf(stderr, "bench-route-loop: CALLS and ROUNDS must be >= 1\n");
    return 2;
  }
  char err[512];
  ing_schemas *s = ing_schemas_load(argv[1], err, sizeof err);
  if (!s) {
    fprintf(stderr, "bench-route-loop: %s\n", err);
    return 1;
  }
  char *bodies[MAX_SAMPLES], *work = malloc(MAX_BODY);
  size_t lens[MAX_SAMPLES];
  int n = load_samples(argv[2], bodies, lens);
  if (n <= 0 || !work) {
    fprintf(stderr, "bench-route-loop: no samples in %s\n", argv[2]);
    return 1;
  }
  ls_tenant tenant = {.id = "bench"};
  ls_source src = {.id = "loop", .level = LS_LEVEL_USER, .tenant = &tenant};
  static ing_verdict v;
  double best = -1;
  for (long r = 0; r < rounds; r++) {
    double t0 = thread_cpu_us();
    for (long i = 0; i < calls; i++) {
      int k = (int)(i % n);
      char token[65];
      ls_sha256_hex("dev-demo-7d1f3c9a2b4e4f60a8c1", 29, token);
      memcpy(work, bodies[k], lens[k]); /* the mask writes in place */
      ing_route(s, &src, "smartlead.", 64, work, lens[k], &v);
      ing_mask_apply(work, lens[k], &v.secrets);
      if (v.err != LS_OK) {
        fprintf(stderr, "bench-route-loop: sample %d refused: %s\n", k,
                v.detail);
        return 1;
      }
    }
    double per = (thread_cpu_us() - t0) / (double)calls;
    if (best < 0 || per < best)
      best = per;
  }
  printf("%d samples, best of %ld x %ld calls: %.2f CPU-us per webhook "
         "(token hash, route, mask)\n",
         n, rounds, calls, best);
  for (int k = 0; k < n; k++)
    free(bodies[k]);
  free(work);
  ing_schemas_free(s);
  return 0;
}

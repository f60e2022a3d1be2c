/* ing_ratelimit: per-source token buckets (rate_limit.per_second, burst). */
#include "ing_ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

typedef struct {
  pthread_mutex_t mu;
  double rate;  /* tokens per second; 0 = unlimited */
  double burst; /* bucket size */
  double tokens;
  int64_t last_us;
} bucket;

struct ing_ratelimit {
  const ls_config *cfg;
  size_t *base; /* first bucket index of each tenant */
  bucket *b;
  size_t n;
};

ing_ratelimit *ing_ratelimit_new(const ls_config *cfg) {
  ing_ratelimit *rl = calloc(1, sizeof *rl);
  if (!rl)
    return NULL;
  rl->cfg = cfg;
  rl->base = calloc(cfg->n_tenants + 1, sizeof *rl->base);
  if (!rl->base) {
    free(rl);
    return NULL;
  }
  size_t n = 0;
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    rl->base[i] = n;
    n += cfg->tenants[i].n_sources;
  }
  rl->b = calloc(n ? n : 1, sizeof *rl->b);
  if (!rl->b) {
    free(rl->base);
    free(rl);
    return NULL;
  }
  /* rl->n counts initialised buckets only, so free destroys exactly those. */
  for (size_t i = 0; i < cfg->n_tenants; i++)
    for (size_t k = 0; k < cfg->tenants[i].n_sources; k++) {
      const ls_source *s = &cfg->tenants[i].sources[k];
      bucket *b = &rl->b[rl->base[i] + k];
      if (pthread_mutex_init(&b->mu, NULL) != 0) {
        ing_ratelimit_free(rl);
        return NULL;
      }
      rl->n++;
      b->rate = s->rate_per_s > 0 ? s->rate_per_s : 0;
      b->burst = s->rate_burst >= 1 ? s->rate_burst : 1;
      b->tokens = b->burst;
      b->last_us = -1;
    }
  return rl;
}

void ing_ratelimit_free(ing_ratelimit *rl) {
  if (!rl)
    return;
  for (size_t i = 0; i < rl->n; i++)
    pthread_mutex_destroy(&rl->b[i].mu);
  free(rl->b);
  free(rl->base);
  free(rl);
}

static bucket *bucket_of(ing_ratelimit *rl, const ls_source *src) {
  const ls_tenant *t = src->tenant;
  size_t ti = (size_t)(t - rl->cfg->tenants);
  size_t si = (size_t)(src - t->sources);
  if (ti >= rl->cfg->n_tenants || si >= t->n_sources)
    return NULL;
  return &rl->b[rl->base[ti] + si];
}

bool ing_ratelimit_take(ing_ratelimit *rl, const ls_source *src, int64_t now_us,
                        int *retry_after_s) {
  bucket *b = bucket_of(rl, src);
  if (!b || b->rate <= 0)
    return true;
  bool ok;
  pthread_mutex_lock(&b->mu);
  if (b->last_us >= 0 && now_us > b->last_us) {
    b->tokens += (double)(now_us - b->last_us) / 1e6 * b->rate;
    if (b->tokens > b->burst)
      b->tokens = b->burst;
  }
  if (b->last_us < 0 || now_us > b->last_us)
    b->last_us = now_us;
  ok = b->tokens >= 1.0;
  if (ok) {
    b->tokens -= 1.0;
  } else if (retry_after_s) {
    double wait = (1.0 - b->tokens) / b->rate;
    int s = (int)ceil(wait);
    *retry_after_s = s < 1 ? 1 : s;
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

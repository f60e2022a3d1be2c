/* ls_metrics: counters, gauges and histograms rendered as Prometheus text. */
#include "ls_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_buf.h"

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,   0.25,   0.5,   1,    2.5,   5,
                                 10,    30};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct series {
  struct series *next;
  char *labels;
  double value;                 /* counter / gauge */
  unsigned long long counts[NBUCKETS + 1];
  double sum;
  unsigned long long count;
} series;

typedef struct family {
  struct family *next;
  char *name;
  char *help;
  enum kind kind;
  series *series;
} family;

struct ls_metrics {
  pthread_mutex_t lock;
  family *families;
  family *tail;
};

ls_metrics *ls_metrics_new(void) {
  ls_metrics *m = calloc(1, sizeof *m);
  if (m)
    pthread_mutex_init(&m->lock, NULL);
  return m;
}

void ls_metrics_free(ls_metrics *m) {
  if (!m)
    return;
  family *f = m->families;
  while (f) {
    family *fn = f->next;
    series *s = f->series;
    while (s) {
      series *sn = s->next;
      free(s->labels);
      free(s);
      s = sn;
    }
    free(f->name);
    free(f->help);
    free(f);
    f = fn;
  }
  pthread_mutex_destroy(&m->lock);
  free(m);
}

/* Called with the lock held. */
static series *find(ls_metrics *m, const char *name, const char *help,
                    enum kind kind, const char *labels, int create) {
  family *f = m->families;
  if (!labels)
    labels = "";
  for (; f; f = f->next)
    if (!strcmp(f->name, name))
      break;
  if (!f) {
    if (!create)
      return NULL;
    f = calloc(1, sizeof *f);
    if (!f)
      return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : name);
    f->kind = kind;
    if (m->tail)
      m->tail->next = f;
    else
      m->families = f;
    m->tail = f;
  }
  series *s = f->series, *last = NULL;
  for (; s; last = s, s = s->next)
    if (!strcmp(s->labels, labels))
      return s;
  if (!create)
    return NULL;
  s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->labels = strdup(labels);
  if (last)
    last->next = s;
  else
    f->series = s;
  return s;
}

void ls_metrics_inc(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, help, K_COUNTER, labels, 1);
  if (s)
    s->value += v;
  pthread_mutex_unlock(&m->lock);
}

void ls_metrics_set(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, help, K_GAUGE, labels, 1);
  if (s)
    s->value = v;
  pthread_mutex_unlock(&m->lock);
}

void ls_metrics_observe(ls_metrics *m, const char *name, const char *help,
                        const char *labels, double seconds) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, help, K_HISTOGRAM, labels, 1);
  if (s) {
    size_t i = 0;
    while (i < NBUCKETS && seconds > buckets[i])
      i++;
    s->counts[i]++;
    s->sum += seconds;
    s->count++;
  }
  pthread_mutex_unlock(&m->lock);
}

double ls_metrics_get(ls_metrics *m, const char *name, const char *labels) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, NULL, K_COUNTER, labels, 0);
  double v = s ? (s->count ? (double)s->count : s->value) : 0;
  pthread_mutex_unlock(&m->lock);
  return v;
}

static void sample(ls_buf *b, const char *name, const char *suffix,
                   const char *labels, const char *extra, double v) {
  const char *sep = (labels[0] && extra[0]) ? "," : "";
  if (labels[0] || extra[0])
    ls_buf_printf(b, "%s%s{%s%s%s} %.17g\n", name, suffix, labels, sep, extra,
                  v);
  else
    ls_buf_printf(b, "%s%s %.17g\n", name, suffix, v);
}

char *ls_metrics_render(ls_metrics *m, size_t *len) {
  static const char *const kinds[] = {"counter", "gauge", "histogram"};
  ls_buf b;
  ls_buf_init(&b, 64u << 20);
  ls_buf_appendz(&b, "");
  pthread_mutex_lock(&m->lock);
  for (family *f = m->families; f; f = f->next) {
    ls_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
                  f->name, kinds[f->kind]);
    for (series *s = f->series; s; s = s->next) {
      if (f->kind != K_HISTOGRAM) {
        sample(&b, f->name, "", s->labels, "", s->value);
        continue;
      }
      unsigned long long cum = 0;
      for (size_t i = 0; i <= NBUCKETS; i++) {
        char le[48];
        cum += s->counts[i];
        if (i < NBUCKETS)
          snprintf(le, sizeof le, "le=\"%g\"", buckets[i]);
        else
          snprintf(le, sizeof le, "le=\"+Inf\"");
        sample(&b, f->name, "_bucket", s->labels, le, (double)cum);
      }
      sample(&b, f->name, "_sum", s->labels, "", s->sum);
      sample(&b, f->name, "_count", s->labels, "", (double)s->count);
    }
  }
  pthread_mutex_unlock(&m->lock);
  return ls_buf_steal(&b, len);
}

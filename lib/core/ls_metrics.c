/* ls_metrics: counters, gauges and histograms rendered as Prometheus text. */
#include "ls_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_buf.h"
#include "ls_process.h"
#include "ls_version.h"

static const double request_le[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const ls_buckets LS_BUCKETS_REQUEST = {request_le,
                                       sizeof request_le / sizeof(double)};

/* 50 ms .. 14 days: sub-second syncs, minutes of HubSpot windows, hours of
 * a spent daily budget, days of a held event. */
static const double event_le[] = {0.05,  0.1,    0.25,   0.5,    1,      2.5,
                                  5,     10,     30,     60,     120,    300,
                                  600,   1800,   3600,   7200,   14400,  28800,
                                  86400, 172800, 345600, 604800, 1209600};
const ls_buckets LS_BUCKETS_EVENT = {event_le,
                                     sizeof event_le / sizeof(double)};

typedef struct series {
  struct series *next;
  char *labels;
  double value; /* counter / gauge */
  double sum;
  unsigned long long count;
  unsigned long long counts[]; /* histogram: one per bucket, then +Inf */
} series;

typedef struct family {
  struct family *next;
  struct family *hnext; /* the next of its name's index bucket */
  char *name;
  char *help;
  ls_metric_kind kind;
  const ls_buckets *buckets;
  series *series;
} family;

/* Families by name: a worker counts several per event, and a walk of
 * the list (~50 names, most sharing their first 16 characters) was ~3 %
 * of its CPU (docs/bench.md section 8). */
#define LS_METRICS_BUCKETS 256

struct ls_metrics {
  pthread_mutex_t lock;
  family *families;
  family *tail;
  family *index[LS_METRICS_BUCKETS];
};

static unsigned name_bucket(const char *s) {
  unsigned h = 2166136261u; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h % LS_METRICS_BUCKETS;
}

/* Called with the lock held. */
static family *find_family(ls_metrics *m, const char *name, const char *help,
                           ls_metric_kind kind, int create) {
  unsigned b = name_bucket(name);
  family *f = m->index[b];
  for (; f; f = f->hnext)
    if (!strcmp(f->name, name))
      return f;
  if (!create)
    return NULL;
  f = calloc(1, sizeof *f);
  if (!f)
    return NULL;
  f->name = strdup(name);
  f->help = strdup(help ? help : name);
  if (!f->name || !f->help) {
    free(f->name);
    free(f->help);
    free(f);
    return NULL;
  }
  f->kind = kind;
  f->buckets = &LS_BUCKETS_REQUEST;
  if (m->tail)
    m->tail->next = f;
  else
    m->families = f;
  m->tail = f;
  f->hnext = m->index[b];
  m->index[b] = f;
  return f;
}

/* Called with the lock held. */
static series *find(ls_metrics *m, const char *name, const char *help,
                    ls_metric_kind kind, const char *labels, int create) {
  if (!labels)
    labels = "";
  family *f = find_family(m, name, help, kind, create);
  if (!f)
    return NULL;
  series *s = f->series, *last = NULL;
  for (; s; last = s, s = s->next)
    if (!strcmp(s->labels, labels))
      return s;
  if (!create)
    return NULL;
  size_t nb = f->kind == LS_HISTOGRAM ? f->buckets->n + 1 : 0;
  s = calloc(1, sizeof *s + nb * sizeof s->counts[0]);
  if (!s)
    return NULL;
  s->labels = strdup(labels);
  if (!s->labels) {
    free(s);
    return NULL;
  }
  if (last)
    last->next = s;
  else
    f->series = s;
  return s;
}

ls_metrics *ls_metrics_new(void) {
  ls_metrics *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  pthread_mutex_init(&m->lock, NULL);
  char lab[160];
  snprintf(lab, sizeof lab, "version=\"%s\",commit=\"%s\"", ls_version(),
           ls_version_commit());
  ls_metrics_set(m, "leadsync_build_info",
                 "Always 1; the labels name the running build", lab, 1);
  ls_metrics_declare(m, LS_COUNTER, "process_cpu_seconds_total",
                     "Total user and system CPU time spent in seconds", NULL);
  ls_metrics_declare(m, LS_GAUGE, "process_resident_memory_bytes",
                     "Resident memory size in bytes", NULL);
  ls_metrics_declare(m, LS_GAUGE, "process_virtual_memory_bytes",
                     "Virtual memory size in bytes", NULL);
  ls_metrics_declare(m, LS_GAUGE, "process_open_fds",
                     "Number of open file descriptors", NULL);
  ls_metrics_declare(m, LS_GAUGE, "process_max_fds",
                     "Maximum number of open file descriptors", NULL);
  ls_metrics_declare(m, LS_GAUGE, "process_start_time_seconds",
                     "Start time of the process since unix epoch in seconds",
                     NULL);
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

void ls_metrics_declare(ls_metrics *m, ls_metric_kind kind, const char *name,
                        const char *help, const ls_buckets *buckets) {
  pthread_mutex_lock(&m->lock);
  family *f = find_family(m, name, help, kind, 1);
  if (f && kind == LS_HISTOGRAM && buckets && buckets->n && !f->series)
    f->buckets = buckets;
  pthread_mutex_unlock(&m->lock);
}

void ls_metrics_inc(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, help, LS_COUNTER, labels, 1);
  if (s)
    s->value += v;
  pthread_mutex_unlock(&m->lock);
}

void ls_metrics_set(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, help, LS_GAUGE, labels, 1);
  if (s)
    s->value = v;
  pthread_mutex_unlock(&m->lock);
}

void ls_metrics_observe(ls_metrics *m, const char *name, const char *help,
                        const char *labels, double seconds) {
  ls_metrics_observe_n(m, name, help, labels, &seconds, 1);
}

void ls_metrics_observe_n(ls_metrics *m, const char *name, const char *help,
                          const char *labels, const double *seconds, size_t n) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, help, LS_HISTOGRAM, labels, 1);
  family *f = find_family(m, name, NULL, LS_HISTOGRAM, 0);
  for (size_t k = 0; s && f && f->kind == LS_HISTOGRAM && k < n; k++) {
    size_t i = 0, nb = f->buckets->n;
    while (i < nb && seconds[k] > f->buckets->le[i])
      i++;
    s->counts[i]++;
    s->sum += seconds[k];
    s->count++;
  }
  pthread_mutex_unlock(&m->lock);
}

void ls_metrics_remove(ls_metrics *m, const char *name, const char *labels) {
  if (!labels)
    labels = "";
  pthread_mutex_lock(&m->lock);
  family *f = find_family(m, name, NULL, LS_GAUGE, 0);
  series **pp = f ? &f->series : NULL;
  for (; pp && *pp; pp = &(*pp)->next)
    if (!strcmp((*pp)->labels, labels)) {
      series *s = *pp;
      *pp = s->next;
      free(s->labels);
      free(s);
      break;
    }
  pthread_mutex_unlock(&m->lock);
}

double ls_metrics_get(ls_metrics *m, const char *name, const char *labels) {
  pthread_mutex_lock(&m->lock);
  series *s = find(m, name, NULL, LS_COUNTER, labels, 0);
  double v = s ? (s->count ? (double)s->count : s->value) : 0;
  pthread_mutex_unlock(&m->lock);
  return v;
}

static ls_err sample(ls_buf *b, const char *name, const char *suffix,
                     const char *labels, const char *extra, double v) {
  const char *sep = (labels[0] && extra[0]) ? "," : "";
  if (labels[0] || extra[0])
    return ls_buf_printf(b, "%s%s{%s%s%s} %.17g\n", name, suffix, labels, sep,
                         extra, v);
  return ls_buf_printf(b, "%s%s %.17g\n", name, suffix, v);
}

/* Refreshes the process_* series; called with the lock held. */
static void process_refresh(ls_metrics *m) {
  ls_process_stats st;
  ls_process_read(&st);
  const struct {
    const char *name;
    double v;
  } rows[] = {
      {"process_cpu_seconds_total", st.cpu_seconds},
      {"process_resident_memory_bytes", st.resident_bytes},
      {"process_virtual_memory_bytes", st.virtual_bytes},
      {"process_open_fds", st.open_fds},
      {"process_max_fds", st.max_fds},
      {"process_start_time_seconds", st.start_time_seconds},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    series *s = find(m, rows[i].name, NULL, LS_GAUGE, "", 1);
    if (s)
      s->value = rows[i].v;
  }
}

char *ls_metrics_render(ls_metrics *m, size_t *len) {
  static const char *const kinds[] = {"counter", "gauge", "histogram"};
  ls_buf b;
  ls_buf_init(&b, 64u << 20);
  ls_err e = ls_buf_appendz(&b, "");
  pthread_mutex_lock(&m->lock);
  process_refresh(m);
  for (family *f = m->families; f && e == LS_OK; f = f->next) {
    e = ls_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help,
                      f->name, kinds[f->kind]);
    for (series *s = f->series; s && e == LS_OK; s = s->next) {
      if (f->kind != LS_HISTOGRAM) {
        e = sample(&b, f->name, "", s->labels, "", s->value);
        continue;
      }
      unsigned long long cum = 0;
      size_t nb = f->buckets->n;
      for (size_t i = 0; i <= nb && e == LS_OK; i++) {
        char le[48];
        cum += s->counts[i];
        if (i < nb)
          snprintf(le, sizeof le, "le=\"%.10g\"", f->buckets->le[i]);
        else
          snprintf(le, sizeof le, "le=\"+Inf\"");
        e = sample(&b, f->name, "_bucket", s->labels, le, (double)cum);
      }
      if (e == LS_OK)
        e = sample(&b, f->name, "_sum", s->labels, "", s->sum);
      if (e == LS_OK)
        e = sample(&b, f->name, "_count", s->labels, "", (double)s->count);
    }
  }
  pthread_mutex_unlock(&m->lock);
  if (e != LS_OK) {
    /* A cut exposition would read as series gone; none is honest. */
    ls_buf_free(&b);
    return NULL;
  }
  return ls_buf_steal(&b, len);
}

/* bench-console-store: the console's read model at millions of records.
 * Fills a fresh database through the same apply path the console uses (one
 * webhook record and one sync_log outcome per event, in transactions like
 * the tail's), then times lookups by lead email and by event id on the
 * finished database. Prints one JSON object on stdout.
 *
 *   bench-console-store --db PATH --events N [--leads L] [--lookups M]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "con_store.h"
#include "ls_time.h"
#include "ls_version.h"

typedef struct {
  const char *names[8];
  const char *values[8];
  int n;
} hdrs;

static const char *hdr(void *op, const char *name) {
  hdrs *h = op;
  for (int i = 0; i < h->n; i++)
    if (!strcmp(h->names[i], name))
      return h->values[i];
  return "";
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  int i = (int)(p * (n - 1) + 0.5);
  return v[i];
}

static const char *const types[] = {"email_sent", "email_open",
                                    "email_link_click", "email_reply",
                                    "lead_category_updated"};

static void event_id(long i, char out[33]) {
  /* Spread like the real ids (hex of a hash), deterministic per index. */
  unsigned long long x = (unsigned long long)i * 0x9E3779B97F4A7C15ULL;
  unsigned long long y = x ^ (x >> 29) ^ 0xD6E8FEB86659FD93ULL;
  snprintf(out, 33, "%016llx%016llx", x, y);
}

int main(int argc, char **argv) {
  const char *db = NULL;
  long events = 100000, leads = 0, lookups = 2000;
  if (ls_version_flag(argc, argv, "bench-console-store"))
    return 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--db"))
      db = argv[i + 1];
    else if (!strcmp(argv[i], "--events"))
      events = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--leads"))
      leads = strtol(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--lookups"))
      lookups = strtol(argv[i + 1], NULL, 10);
  }
  if (!db || events < 1 || lookups < 1) {
    fprintf(stderr, "usage: bench-console-store --db PATH --events N "
                    "[--leads L] [--lookups M]\n");
    return 2;
  }
  if (leads < 1)
    leads = events / 8 > 0 ? events / 8 : 1; /* ~8 events per lead */
  char err[512];
  con_store *s = NULL;
  if (con_store_open(db, true, &s, err, sizeof err) != LS_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  int64_t base_ms = ls_now_us() / 1000 - events;
  int64_t t0 = ls_mono_us();
  char id[33], email[80], key[160], topic[64], ctype[64], at[40], value[600];
  long in_tx = 0;
  con_store_begin(s);
  for (long i = 0; i < events; i++) {
    long lead = (i * 7919) % leads;
    const char *ty = types[i % 5];
    event_id(i, id);
    snprintf(email, sizeof email, "lead%ld@example-%ld.com", lead, lead % 97);
    snprintf(key, sizeof key, "demo:1234567:%s", email);
    snprintf(topic, sizeof topic, "smartlead.%s", ty);
    snprintf(ctype, sizeof ctype, "ai.smartlead.%s", ty);
    ls_time_format_ms((base_ms + i) * 1000, at, sizeof at);
    hdrs h = {{"ce_id", "ce_type", "ce_tenant", "ce_source", "ls_received_at"},
              {id, ctype, "demo", "/smartlead/demo/demo-user", at},
              5};
    con_record r = {.topic = topic,
                    .partition = (int32_t)(lead % 24),
                    .offset = i,
                    .ts_ms = base_ms + i,
                    .key = key,
                    .key_len = strlen(key),
                    .value = "{}",
                    .value_len = 2,
                    .header = hdr,
                    .opaque = &h};
    con_store_apply(s, &r, "smartlead.");
    int n = snprintf(
        value, sizeof value,
        "{\"event_id\":\"%s\",\"tenant\":\"demo\",\"event_type\":\"%s\","
        "\"lead_email\":\"%s\",\"campaign_id\":\"1234567\",\"outcome\":"
        "\"synced\",\"reason\":null,\"hubspot\":{\"contact_id\":\"%ld\","
        "\"objects\":[{\"type\":\"emails\",\"id\":\"%ld\"}]},\"error\":null,"
        "\"topic\":\"%s\",\"partition\":%ld,\"offset\":%ld,\"logged_at\":"
        "\"%s\",\"latency_ms\":412,\"group\":\"all\",\"attempts\":1}",
        id, ty, email, lead + 1000, i + 5000, topic, lead % 24, i, at);
    hdrs none = {{0}, {0}, 0};
    con_record o = {.topic = "leadsync.sync_log",
                    .partition = (int32_t)(lead % 24),
                    .offset = i,
                    .ts_ms = base_ms + i,
                    .key = key,
                    .key_len = strlen(key),
                    .value = value,
                    .value_len = (size_t)n,
                    .header = hdr,
                    .opaque = &none};
    con_store_apply(s, &o, "smartlead.");
    if (++in_tx == 2000) { /* the tail's batch size */
      con_store_commit(s);
      con_store_begin(s);
      in_tx = 0;
    }
  }
  con_store_commit(s);
  double fill_s = (double)(ls_mono_us() - t0) / 1e6;
  con_store_close(s);

  /* Lookups on a reader, as the HTTP handlers do. */
  con_store *rd = NULL;
  if (con_store_open_reader(db, &rd, err, sizeof err) != LS_OK) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  double *by_email = calloc((size_t)lookups, sizeof *by_email);
  double *by_id = calloc((size_t)lookups, sizeof *by_id);
  long found_email = 0, found_id = 0;
  srand(42);
  for (long k = 0; k < lookups; k++) {
    long lead = rand() % leads;
    snprintf(email, sizeof email, "lead%ld@example-%ld.com", lead, lead % 97);
    con_query q = {.email = email, .limit = 50};
    int64_t a = ls_mono_us();
    json_t *v = con_store_events(rd, &q, err, sizeof err);
    by_email[k] = (double)(ls_mono_us() - a) / 1000.0;
    if (v && json_array_size(json_object_get(v, "events")))
      found_email++;
    json_decref(v);
    event_id(rand() % events, id);
    a = ls_mono_us();
    v = con_store_event(rd, id, err, sizeof err);
    by_id[k] = (double)(ls_mono_us() - a) / 1000.0;
    if (v)
      found_id++;
    json_decref(v);
  }
  con_store_close(rd);
  struct stat st;
  long long bytes = stat(db, &st) == 0 ? (long long)st.st_size : -1;
  json_t *out = json_pack(
      "{s:I,s:I,s:I,s:f,s:f,s:I,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},s:I,s:I}",
      "events", (json_int_t)events, "leads", (json_int_t)leads, "kafka_records",
      (json_int_t)(2 * events), "fill_seconds", fill_s, "records_per_s",
      2.0 * (double)events / fill_s, "db_bytes", (json_int_t)bytes,
      "email_lookup_ms", "p50", pct(by_email, (int)lookups, 0.5), "p99",
      pct(by_email, (int)lookups, 0.99), "max",
      pct(by_email, (int)lookups, 1.0), "event_lookup_ms", "p50",
      pct(by_id, (int)lookups, 0.5), "p99", pct(by_id, (int)lookups, 0.99),
      "max", pct(by_id, (int)lookups, 1.0), "email_found",
      (json_int_t)found_email, "event_found", (json_int_t)found_id);
  char *text = json_dumps(out, JSON_COMPACT);
  printf("%s\n", text);
  free(text);
  json_decref(out);
  free(by_email);
  free(by_id);
  return found_email == lookups && found_id == lookups ? 0 : 1;
}

/* bench-state-stores: the worker's de-duplication state in three stores,
 * one store and one size per run (bench/state_stores.py interleaves them):
 *
 *   mem      the worker's own table, through worker/wrk_ledger.h (the
 *            real code, linked from worker_core; its clock is wrapped at
 *            link time so the bench can age entries and run its sweep)
 *   lmdb     LMDB, one B-tree, MDB_NOSYNC (the store is a cache of the
 *            leadsync.ledger changelog: a lost commit is restored again)
 *   rocksdb  RocksDB through its C API, an 8 MiB block cache (--cache-mib)
 *            holding index and bloom filter blocks too, 4 MiB memtables
 *
 * Keys are the ledger's: 4 bytes of partition and the 96 bits of the event
 * id the table keeps (16 bytes); the value is the table's 4-byte minute and
 * flags. The run loads --keys entries (the restore: bulk insert), measures
 * memory and disk, times random lookups of present and absent ids, churns
 * --churn entries (one new id in and one old id out per operation, the
 * steady state of a window), scans everything (what expiry costs without a
 * time index), then, for the on-disk stores, closes and re-opens with the
 * page cache warm and with it dropped for the store's files. Prints one
 * JSON object on stdout (docs/bench.md, part state, state.stores).
 *
 *   bench-state-stores --store mem|lmdb|rocksdb --keys N [--dir D]
 *       [--lookups L] [--churn C] [--cache-mib M] [--partitions P]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <lmdb.h>
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "ls_version.h"
#include "wrk_ledger.h"

/* -- the worker's clock, wrapped (-Wl,--wrap) ------------------------- */

int64_t __real_ls_now_us(void);
int64_t __real_ls_mono_us(void);
int64_t __wrap_ls_now_us(void);
int64_t __wrap_ls_mono_us(void);

static int64_t fake_wall_us;  /* 0: the real clock */
static int64_t mono_shift_us; /* added to the monotonic clock */

int64_t __wrap_ls_now_us(void) {
  return fake_wall_us ? fake_wall_us : __real_ls_now_us();
}

int64_t __wrap_ls_mono_us(void) {
  return __real_ls_mono_us() + mono_shift_us;
}

/* -- ids ---------------------------------------------------------------- */

#define MINUTE_US 60000000LL

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Event id number i: 32 hex digits of a hash, like the real ids. Absent
 * ids (misses) come from another seed. */
static void event_id(uint64_t seed, uint64_t i, char out[33]) {
  uint64_t x = mix(seed ^ mix(i));
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)x,
           (unsigned long long)mix(x));
}

static int hexval(char c) {
  return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The on-disk key: partition (big-endian, so a partition is one range)
 * and the first 96 bits of the id. */
static void disk_key(int32_t p, const char *id, unsigned char k[16]) {
  k[0] = (unsigned char)(p >> 24);
  k[1] = (unsigned char)(p >> 16);
  k[2] = (unsigned char)(p >> 8);
  k[3] = (unsigned char)p;
  for (int i = 0; i < 12; i++)
    k[4 + i] = (unsigned char)(hexval(id[2 * i]) << 4 | hexval(id[2 * i + 1]));
}

/* -- the stores --------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *dir;
  size_t cache_bytes;
  /* mem */
  wrk_ledger *led;
  /* lmdb */
  MDB_env *env;
  MDB_dbi dbi;
  MDB_txn *wtxn, *rtxn;
  /* rocksdb */
  rocksdb_t *db;
  rocksdb_options_t *opts;
  rocksdb_block_based_table_options_t *bbo;
  rocksdb_cache_t *cache;
  rocksdb_filterpolicy_t *bloom;
  rocksdb_writeoptions_t *wo;
  rocksdb_readoptions_t *ro;
  rocksdb_writebatch_t *wb;
  bool wal;
} store;

static bool is(const store *s, const char *name) {
  return !strcmp(s->name, name);
}

static bool lmdb_ok(int rc, const char *what, char *err, size_t len) {
  if (rc)
    snprintf(err, len, "lmdb %s: %s", what, mdb_strerror(rc));
  return !rc;
}

static bool rocks_ok(char *e, const char *what, char *err, size_t len) {
  if (e) {
    snprintf(err, len, "rocksdb %s: %s", what, e);
    rocksdb_free(e);
    return false;
  }
  return true;
}

static bool store_open(store *s, char *err, size_t len) {
  if (is(s, "mem")) {
    s->led = wrk_ledger_new_local();
    if (!s->led)
      snprintf(err, len, "out of memory");
    return s->led != NULL;
  }
  if (is(s, "lmdb")) {
    MDB_txn *t = NULL;
    /* A map of 64 GiB costs address space only; NORDAHEAD because every
     * read is a random one. */
    if (!lmdb_ok(mdb_env_create(&s->env), "env", err, len) ||
        !lmdb_ok(mdb_env_set_mapsize(s->env, (size_t)64 << 30), "mapsize", err,
                 len) ||
        !lmdb_ok(mdb_env_open(s->env, s->dir, MDB_NOSYNC | MDB_NORDAHEAD, 0644),
                 "open", err, len) ||
        !lmdb_ok(mdb_txn_begin(s->env, NULL, 0, &t), "txn", err, len) ||
        !lmdb_ok(mdb_dbi_open(t, NULL, 0, &s->dbi), "dbi", err, len) ||
        !lmdb_ok(mdb_txn_commit(t), "commit", err, len) ||
        !lmdb_ok(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn), "rtxn", err,
                 len))
      return false;
    mdb_txn_reset(s->rtxn);
    return true;
  }
  char *e = NULL;
  s->opts = rocksdb_options_create();
  s->bbo = rocksdb_block_based_options_create();
  s->cache = rocksdb_cache_create_lru(s->cache_bytes);
  s->bloom = rocksdb_filterpolicy_create_bloom(10);
  /* Index and filter blocks live in the cache too, so the cache is the
   * bound; L0's stay pinned (they are read on every lookup). */
  rocksdb_block_based_options_set_block_cache(s->bbo, s->cache);
  rocksdb_block_based_options_set_filter_policy(s->bbo, s->bloom);
  rocksdb_block_based_options_set_cache_index_and_filter_blocks(s->bbo, 1);
  rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
      s->bbo, 1);
  rocksdb_options_set_block_based_table_factory(s->opts, s->bbo);
  rocksdb_options_set_create_if_missing(s->opts, 1);
  rocksdb_options_set_write_buffer_size(s->opts, 4 << 20);
  rocksdb_options_set_max_write_buffer_number(s->opts, 2);
  rocksdb_options_set_target_file_size_base(s->opts, 8 << 20);
  rocksdb_options_set_max_bytes_for_level_base(s->opts, 32 << 20);
  /* Hashed ids do not compress. */
  rocksdb_options_set_compression(s->opts, rocksdb_no_compression);
  rocksdb_options_set_max_open_files(s->opts, 256);
  s->db = rocksdb_open(s->opts, s->dir, &e);
  if (!rocks_ok(e, "open", err, len))
    return false;
  s->wo = rocksdb_writeoptions_create();
  rocksdb_writeoptions_disable_WAL(s->wo, !s->wal);
  s->ro = rocksdb_readoptions_create();
  s->wb = rocksdb_writebatch_create();
  return true;
}

static void store_close(store *s) {
  wrk_ledger_free(s->led);
  if (s->env) {
    if (s->wtxn)
      mdb_txn_abort(s->wtxn);
    if (s->rtxn)
      mdb_txn_abort(s->rtxn);
    mdb_env_close(s->env);
  }
  if (s->db)
    rocksdb_close(s->db);
  /* The C API's destroys are deletes: NULL is fine. The table options own
   * the filter policy. */
  rocksdb_writebatch_destroy(s->wb);
  rocksdb_writeoptions_destroy(s->wo);
  rocksdb_readoptions_destroy(s->ro);
  rocksdb_options_destroy(s->opts);
  rocksdb_block_based_options_destroy(s->bbo);
  rocksdb_cache_destroy(s->cache);
  store keep = {.name = s->name,
                .dir = s->dir,
                .cache_bytes = s->cache_bytes,
                .wal = s->wal};
  *s = keep;
}

/* Puts the id with value *v, or deletes it (v NULL; the table has no
 * delete: its entries leave by the sweep, mem_expire). */
static bool store_write(store *s, int32_t p, const char *id, const uint32_t *v,
                        char *err, size_t len) {
  if (s->led) {
    if (v)
      wrk_ledger_record(s->led, p, id, *v & 7u);
    return true;
  }
  unsigned char k[16];
  disk_key(p, id, k);
  if (s->env) {
    if (!s->wtxn &&
        !lmdb_ok(mdb_txn_begin(s->env, NULL, 0, &s->wtxn), "txn", err, len))
      return false;
    MDB_val key = {sizeof k, k}, val = {sizeof *v, (void *)v};
    int rc = v ? mdb_put(s->wtxn, s->dbi, &key, &val, 0)
               : mdb_del(s->wtxn, s->dbi, &key, NULL);
    return (!v && rc == MDB_NOTFOUND) || lmdb_ok(rc, "write", err, len);
  }
  if (v)
    rocksdb_writebatch_put(s->wb, (const char *)k, sizeof k, (const char *)v,
                           sizeof *v);
  else
    rocksdb_writebatch_delete(s->wb, (const char *)k, sizeof k);
  return true;
}

static bool store_commit(store *s, char *err, size_t len) {
  if (s->env && s->wtxn) {
    int rc = mdb_txn_commit(s->wtxn);
    s->wtxn = NULL;
    return lmdb_ok(rc, "commit", err, len);
  }
  if (s->db && rocksdb_writebatch_count(s->wb)) {
    char *e = NULL;
    rocksdb_write(s->db, s->wo, s->wb, &e);
    rocksdb_writebatch_clear(s->wb);
    return rocks_ok(e, "write", err, len);
  }
  return true;
}

/* 1 found, 0 absent, -1 error. */
static int store_get(store *s, int32_t p, const char *id) {
  if (s->led)
    return wrk_ledger_seen(s->led, p, id) != 0;
  unsigned char k[16];
  disk_key(p, id, k);
  if (s->env) {
    MDB_val key = {sizeof k, k}, val;
    if (mdb_txn_renew(s->rtxn))
      return -1;
    int rc = mdb_get(s->rtxn, s->dbi, &key, &val);
    mdb_txn_reset(s->rtxn);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : -1;
  }
  char *e = NULL;
  rocksdb_pinnableslice_t *v =
      rocksdb_get_pinned(s->db, s->ro, (const char *)k, sizeof k, &e);
  if (e) {
    rocksdb_free(e);
    return -1;
  }
  if (!v)
    return 0;
  rocksdb_pinnableslice_destroy(v);
  return 1;
}

/* MiB of the store's own structure: LMDB's pages in use (its file also
 * keeps free pages), RocksDB's SST files (its directory also has logs). */
static double store_mib(store *s) {
  if (s->env) {
    MDB_stat st;
    MDB_envinfo in;
    if (mdb_env_stat(s->env, &st) || mdb_env_info(s->env, &in))
      return -1;
    return (double)(st.ms_branch_pages + st.ms_leaf_pages +
                    st.ms_overflow_pages) *
           st.ms_psize / 1048576.0;
  }
  if (s->db) {
    char *v = rocksdb_property_value(s->db, "rocksdb.total-sst-files-size");
    double b = v ? strtod(v, NULL) : -1;
    rocksdb_free(v);
    return b / 1048576.0;
  }
  return 0;
}

/* Every entry read once: a store without a time index expires this way. */
static long store_scan(store *s) {
  long n = 0;
  if (s->env) {
    MDB_cursor *c;
    MDB_val k, v;
    if (mdb_txn_renew(s->rtxn) || mdb_cursor_open(s->rtxn, s->dbi, &c))
      return -1;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
      n += v.mv_size == 4;
    mdb_cursor_close(c);
    mdb_txn_reset(s->rtxn);
    return n;
  }
  rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
  rocksdb_readoptions_set_fill_cache(ro, 0);
  rocksdb_iterator_t *it = rocksdb_create_iterator(s->db, ro);
  for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
       rocksdb_iter_next(it)) {
    size_t vl;
    rocksdb_iter_value(it, &vl);
    n += vl == 4;
  }
  rocksdb_iter_destroy(it);
  rocksdb_readoptions_destroy(ro);
  return n;
}

/* -- measuring ---------------------------------------------------------- */

static double status_mib(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  size_t fl = strlen(field);
  double v = -1;
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, field, fl) && line[fl] == ':') {
      v = strtod(line + fl + 1, NULL) / 1024.0;
      break;
    }
  if (f)
    fclose(f);
  return v;
}

/* Bytes of the store's files on disk, and how many of them are in the
 * page cache now (mincore). */
static void dir_bytes(const char *dir, double *disk, double *cached) {
  *disk = *cached = 0;
  DIR *d = opendir(dir);
  struct dirent *de;
  long pg = sysconf(_SC_PAGESIZE);
  while (d && (de = readdir(d))) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (stat(path, &st) || !S_ISREG(st.st_mode))
      continue;
    *disk += (double)st.st_blocks * 512;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || st.st_size == 0) {
      if (fd >= 0)
        close(fd);
      continue;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    size_t pages = ((size_t)st.st_size + (size_t)pg - 1) / (size_t)pg;
    unsigned char *vec = malloc(pages);
    if (m != MAP_FAILED && vec && !mincore(m, (size_t)st.st_size, vec))
      for (size_t i = 0; i < pages; i++)
        *cached += (vec[i] & 1) ? (double)pg : 0;
    free(vec);
    if (m != MAP_FAILED)
      munmap(m, (size_t)st.st_size);
    close(fd);
  }
  if (d)
    closedir(d);
}

/* Drops the store's files from the page cache (a restarted pod on a node
 * that evicted them, or a cold disk). */
static void dir_evict(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d))) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
      continue;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
  if (d)
    closedir(d);
}

/* CPU seconds of this process so far (the machine may be shared: wall
 * time alone says little). */
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
         ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static json_t *latency(double *us, long n) {
  if (n <= 0)
    return json_null();
  qsort(us, (size_t)n, sizeof *us, cmp_d);
  double sum = 0;
  for (long i = 0; i < n; i++)
    sum += us[i];
  return json_pack("{s:f,s:f,s:f,s:f}", "p50_us", us[(long)(0.5 * (n - 1))],
                   "p99_us", us[(long)(0.99 * (n - 1))], "max_us", us[n - 1],
                   "mean_us", sum / (double)n);
}

typedef struct {
  long keys, lookups, churn;
  int parts;
} sizes;

#define SEED_PRESENT 0x5eed0001ull
#define SEED_ABSENT 0x5eed0002ull

static int32_t part_of(const sizes *z, uint64_t i) {
  return (int32_t)(i % (uint64_t)z->parts);
}

/* Times n lookups of present (hits) or absent ids; *found counts the
 * answers that said present. */
static json_t *time_lookups(store *s, const sizes *z, bool hits, long lo,
                            long hi, long n, long *found, uint64_t rnd) {
  if (n <= 0 || (hits && hi <= lo))
    return json_null();
  double *us = malloc((size_t)n * sizeof *us);
  if (!us)
    return json_null();
  *found = 0;
  for (long j = 0; j < n; j++) {
    uint64_t i =
        hits ? (uint64_t)lo + mix(rnd + (uint64_t)j) % (uint64_t)(hi - lo)
             : (uint64_t)j;
    char id[33];
    event_id(hits ? SEED_PRESENT : SEED_ABSENT, i, id);
    double t = bench_now_s();
    int r = store_get(s, part_of(z, i), id);
    us[j] = (bench_now_s() - t) * 1e6;
    *found += r == 1;
  }
  json_t *o = latency(us, n);
  free(us);
  return o;
}

static void mem_age(long i, long old, int64_t m0) {
  /* The first `old` ids of the load are a minute older than the rest:
   * the churn's sweep expires exactly those. */
  fake_wall_us = (m0 + (i < old ? 0 : 1)) * MINUTE_US;
}

/* The worker's sweep (wrk_ledger_poll, once a minute): a poll arms it,
 * a minute later on the monotonic clock the next one starts a round, with
 * the wall clock a window after the older minute; the poll sweeps one
 * slice of it (about 2 ms), the rest of the round is run here at once so
 * the time is the whole pass. */
static double mem_expire(store *s, int64_t m0) {
  fake_wall_us = (m0 + 2) * MINUTE_US;
  wrk_ledger_poll(s->led, NULL);
  mono_shift_us += 61 * 1000000LL;
  fake_wall_us = (m0 + 1) * MINUTE_US + WRK_DEDUP_WINDOW_S * 1000000LL;
  double t = bench_now_s();
  wrk_ledger_poll(s->led, NULL);
  wrk_ledger_sweep_step(s->led, fake_wall_us, 0);
  return bench_now_s() - t;
}

static int run(store *s, const sizes *z, char *err, size_t len) {
  json_t *out = json_object();
  char id[33];
  bool mem = s->led != NULL;
  long old = z->churn < z->keys ? z->churn : z->keys;
  int64_t m0 = __real_ls_now_us() / MINUTE_US - 3;
  json_object_set_new(out, "store", json_string(s->name));
  json_object_set_new(out, "keys", json_integer(z->keys));
  double anon0 = status_mib("RssAnon");
  json_object_set_new(out, "rss_start_mib", json_real(status_mib("VmRSS")));

  /* The restore: every id inserted, in batches of 10,000 (the ledger
   * consumer's batches), committed. */
  double t0 = bench_now_s(), c0 = cpu_s();
  for (long i = 0; i < z->keys; i++) {
    if (mem)
      mem_age(i, old, m0);
    event_id(SEED_PRESENT, (uint64_t)i, id);
    uint32_t v = (uint32_t)(m0 << 3 | 2);
    if (!store_write(s, part_of(z, (uint64_t)i), id, &v, err, len))
      return -1;
    if ((i + 1) % 10000 == 0 && !store_commit(s, err, len))
      return -1;
  }
  if (!store_commit(s, err, len))
    return -1;
  if (s->db) { /* the memtable to disk, as a finished restore would */
    char *e = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(s->db, fo, &e);
    rocksdb_flushoptions_destroy(fo);
    if (!rocks_ok(e, "flush", err, len))
      return -1;
  }
  double load_s = bench_now_s() - t0;
  json_object_set_new(out, "load_s", json_real(load_s));
  json_object_set_new(out, "load_cpu_s", json_real(cpu_s() - c0));
  json_object_set_new(out, "load_keys_per_s",
                      json_real(load_s > 0 ? (double)z->keys / load_s : 0));
  double disk = 0, cached = 0;
  if (s->dir)
    dir_bytes(s->dir, &disk, &cached);
  json_object_set_new(out, "rss_mib", json_real(status_mib("VmRSS")));
  json_object_set_new(out, "rss_anon_mib", json_real(status_mib("RssAnon")));
  json_object_set_new(out, "rss_file_mib", json_real(status_mib("RssFile")));
  json_object_set_new(out, "rss_peak_mib", json_real(status_mib("VmHWM")));
  json_object_set_new(out, "disk_mib",
                      s->dir ? json_real(disk / 1048576.0) : json_null());
  json_object_set_new(out, "page_cache_mib",
                      s->dir ? json_real(cached / 1048576.0) : json_null());
  json_object_set_new(out, "store_mib",
                      s->dir ? json_real(store_mib(s)) : json_null());
  /* What a container's memory limit counts: the heap the state added and
   * the store's pages in the page cache (LMDB's are mapped, so they are
   * also its RssFile; RocksDB reads them with pread). */
  double charged = status_mib("RssAnon") - anon0 + cached / 1048576.0;
  json_object_set_new(out, "charged_mib", json_real(charged));
  json_object_set_new(out, "bytes_per_key",
                      z->keys ? json_real(charged * 1048576.0 / (double)z->keys)
                              : json_null());

  /* Lookups at random, on the loaded state. */
  long hit_found = 0, miss_found = 0;
  json_object_set_new(
      out, "hit",
      time_lookups(s, z, true, 0, z->keys, z->lookups, &hit_found, 11));
  json_object_set_new(
      out, "miss", time_lookups(s, z, false, 0, 0, z->lookups, &miss_found, 0));
  if (z->keys && hit_found != z->lookups) {
    snprintf(err, len, "%s: %ld of %ld present ids found", s->name, hit_found,
             z->lookups);
    return -1;
  }
  json_object_set_new(out, "miss_found", json_integer(miss_found));
  json_object_set_new(out, "rss_after_lookups_mib",
                      json_real(status_mib("VmRSS")));

  /* The steady state: per operation one new id in and the oldest out,
   * committed every 100 (a flush's worth). The table takes the new ids
   * and drops the old ones in its minute sweep. */
  s->wal = true;
  if (s->wo)
    rocksdb_writeoptions_disable_WAL(s->wo, 0);
  t0 = bench_now_s();
  c0 = cpu_s();
  double sweep_s = 0;
  for (long j = 0; j < z->churn; j++) {
    if (mem)
      fake_wall_us = (m0 + 2) * MINUTE_US;
    event_id(SEED_PRESENT, (uint64_t)(z->keys + j), id);
    uint32_t v = (uint32_t)((m0 + 2) << 3 | 2);
    if (!store_write(s, part_of(z, (uint64_t)(z->keys + j)), id, &v, err, len))
      return -1;
    event_id(SEED_PRESENT, (uint64_t)j, id);
    if (!store_write(s, part_of(z, (uint64_t)j), id, NULL, err, len))
      return -1;
    if ((j + 1) % 100 == 0 && !store_commit(s, err, len))
      return -1;
  }
  if (!store_commit(s, err, len))
    return -1;
  if (mem)
    sweep_s = mem_expire(s, m0);
  double churn_s = bench_now_s() - t0;
  json_object_set_new(out, "churn_ops", json_integer(z->churn));
  json_object_set_new(out, "churn_ops_per_s",
                      json_real(churn_s > 0 ? (double)z->churn / churn_s : 0));
  json_object_set_new(out, "churn_cpu_s", json_real(cpu_s() - c0));
  /* The stores delete id j in operation j: a loaded one, or at sizes
   * below the churn one this churn put earlier. */
  long live = mem ? z->keys + z->churn - old : z->keys;

  /* Expiry's full pass: the table's sweep (above), the stores' scan. */
  t0 = bench_now_s();
  long scanned = mem ? (long)wrk_ledger_size(s->led) : store_scan(s);
  double scan_s = bench_now_s() - t0;
  json_object_set_new(out, "expiry_pass_ms",
                      json_real((mem ? sweep_s : scan_s) * 1e3));
  json_object_set_new(out, "entries_after_churn", json_integer(scanned));
  if (scanned != live) {
    snprintf(err, len, "%s: %ld entries after the churn, expected %ld", s->name,
             scanned, live);
    return -1;
  }
  /* Hits again, among the ids still present. */
  long lo = mem ? old : z->churn;
  json_object_set_new(out, "hit_after_churn",
                      time_lookups(s, z, true, lo, z->keys + z->churn,
                                   z->lookups, &hit_found, 23));
  json_object_set_new(out, "rss_end_mib", json_real(status_mib("VmRSS")));
  json_object_set_new(out, "rss_end_peak_mib", json_real(status_mib("VmHWM")));

  /* Re-open with the data there: page cache warm, then dropped. The
   * table has nothing to re-open: it is restored from Kafka (load_s is
   * its in-process share; part state.ledger times the whole restore). */
  if (!mem) {
    const char *names[2] = {"reopen_warm", "reopen_cold"};
    for (int k = 0; k < 2; k++) {
      store_close(s);
      if (k)
        dir_evict(s->dir);
      t0 = bench_now_s();
      if (!store_open(s, err, len))
        return -1;
      double open_s = bench_now_s() - t0;
      long n = z->lookups < 1000 ? z->lookups : 1000, f = 0;
      t0 = bench_now_s();
      json_t *lat = time_lookups(s, z, true, lo, z->keys + z->churn, n, &f, 37);
      double first_s = bench_now_s() - t0;
      if (z->keys + z->churn > lo && f != n) {
        json_decref(lat);
        snprintf(err, len, "%s: %ld of %ld ids found after re-open", s->name, f,
                 n);
        return -1;
      }
      json_t *o = json_pack("{s:f,s:f,s:i,s:o}", "open_ms", open_s * 1e3,
                            "first_lookups_ms", first_s * 1e3, "lookups", n,
                            "hit", lat);
      json_object_set_new(out, names[k], o);
    }
  } else {
    json_object_set_new(out, "reopen_warm", json_null());
    json_object_set_new(out, "reopen_cold", json_null());
  }
  char *txt = json_dumps(out, JSON_COMPACT);
  json_decref(out);
  if (!txt)
    return -1;
  puts(txt);
  free(txt);
  return 0;
}

int main(int argc, char **argv) {
  store s = {.name = NULL, .cache_bytes = 8u << 20};
  sizes z = {.keys = 0, .lookups = 20000, .churn = 20000, .parts = 32};
  char err[512] = "";
  long v;
  if (ls_version_flag(argc, argv, "bench-state-stores"))
    return 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *b = argv[i + 1];
    if (!strcmp(a, "--store"))
      s.name = b;
    else if (!strcmp(a, "--dir"))
      s.dir = b;
    else if (!strcmp(a, "--keys") && bench_parse_long(b, 0, 1L << 34, &v))
      z.keys = v;
    else if (!strcmp(a, "--lookups") && bench_parse_long(b, 0, 1L << 30, &v))
      z.lookups = v;
    else if (!strcmp(a, "--churn") && bench_parse_long(b, 0, 1L << 30, &v))
      z.churn = v;
    else if (!strcmp(a, "--partitions") && bench_parse_long(b, 1, 1024, &v))
      z.parts = (int)v;
    else if (!strcmp(a, "--cache-mib") && bench_parse_long(b, 1, 1 << 16, &v))
      s.cache_bytes = (size_t)v << 20;
    else {
      fprintf(stderr, "bench-state-stores: bad argument %s %s\n", a, b);
      return 2;
    }
  }
  if (!s.name ||
      (strcmp(s.name, "mem") && strcmp(s.name, "lmdb") &&
       strcmp(s.name, "rocksdb")) ||
      (strcmp(s.name, "mem") && !s.dir)) {
    fprintf(stderr, "usage: bench-state-stores --store mem|lmdb|rocksdb "
                    "--keys N [--dir D] [--lookups L] [--churn C] "
                    "[--cache-mib M] [--partitions P]\n");
    return 2;
  }
  if (s.dir && mkdir(s.dir, 0755) && errno != EEXIST) {
    fprintf(stderr, "bench-state-stores: %s: %s\n", s.dir, strerror(errno));
    return 1;
  }
  int rc = store_open(&s, err, sizeof err) ? run(&s, &z, err, sizeof err) : -1;
  store_close(&s);
  if (rc) {
    fprintf(stderr, "bench-state-stores: %s\n", err);
    return 1;
  }
  return 0;
}

/* cli_common: options, config discovery and output shared by subcommands. */
#include "cli.h"

#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ls_hash.h"
#include "ls_time.h"
#include "ls_env.h"

const char *cli_severity_name(cli_severity s) {
  switch (s) {
  case CLI_SEV_INFO:
    return "info";
  case CLI_SEV_WARN:
    return "warning";
  default:
    return "error";
  }
}

bool cli_common_opt(cli_ctx *ctx, int c, const char *arg, bool *help) {
  switch (c) {
  case CLI_OPT_CONFIG:
    ctx->config_path = arg;
    return true;
  case CLI_OPT_JSON:
    ctx->json = true;
    return true;
  case CLI_OPT_HELP:
  case 'h':
    *help = true;
    return true;
  default:
    return false;
  }
}

int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "leadsync %s: ", ctx->cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see leadsync %s --help)\n", ctx->cmd);
  return CLI_EXIT_USAGE;
}

int cli_fail(const cli_ctx *ctx, int code, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "leadsync %s: ", ctx->cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return code;
}

bool cli_run_file(const cli_ctx *ctx, const char *name, char *buf, size_t len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", ctx->run_dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return false;
  bool ok = fgets(buf, (int)len, f) != NULL;
  fclose(f);
  if (!ok)
    return false;
  size_t n = strlen(buf);
  while (n && isspace((unsigned char)buf[n - 1]))
    buf[--n] = '\0';
  return n > 0;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void replace_str(char **dst, const char *src) {
  char *copy = strdup(src);
  if (!copy)
    return;
  free(*dst);
  *dst = copy;
}

/* make run's stand-ins: the effective config relies on env vars the
 * operator's shell does not have, so .run/ supplies them. */
static void apply_run_dir(const cli_ctx *ctx, ls_config *cfg) {
  char buf[2048];
  if (!ls_env("KAFKA_BOOTSTRAP_SERVERS") &&
      cli_run_file(ctx, "bootstrap", buf, sizeof buf))
    replace_str(&cfg->bootstrap, buf);
  bool have_url = cli_run_file(ctx, "hubspot_url", buf, sizeof buf);
  char tok[2048];
  bool have_tok = cli_run_file(ctx, "hubspot_token", tok, sizeof tok);
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    ls_tenant *t = &cfg->tenants[i];
    const char *benv = json_string_value(
        json_object_get(json_object_get(t->json, "hubspot"), "base_url_env"));
    bool env_set = ls_env(benv) != NULL;
    if (have_url && !env_set)
      replace_str(&t->hs_base_url, buf);
    if (have_tok && !t->hs_token)
      replace_str(&t->hs_token, tok);
  }
}

static int load(cli_ctx *ctx, ls_config **out, bool optional) {
  char errstr[LS_ERRSTR_SIZE];
  char run_cfg[1024];
  const char *path = ctx->config_path;
  bool from_run = false;
  *out = NULL;
  if (!path || !*path)
    path = ls_env("LEADSYNC_CONFIG");
  if (!path) {
    snprintf(run_cfg, sizeof run_cfg, "%s/config.json", ctx->run_dir);
    if (file_exists(run_cfg)) {
      path = run_cfg;
      from_run = true;
    }
  }
  if (!path) {
    if (optional)
      return CLI_EXIT_OK;
    return cli_fail(ctx, CLI_EXIT_USAGE,
                    "no config: pass --config FILE, set LEADSYNC_CONFIG, or "
                    "run from the repository root while `make run` is up "
                    "(%s/config.json)",
                    ctx->run_dir);
  }
  if (ls_config_load(path, out, errstr, sizeof errstr) != LS_OK)
    return cli_fail(ctx, CLI_EXIT_USAGE, "invalid config: %s", errstr);
  if (from_run)
    apply_run_dir(ctx, *out);
  return CLI_EXIT_OK;
}

int cli_config_load(cli_ctx *ctx, ls_config **out) {
  return load(ctx, out, false);
}

int cli_config_load_optional(cli_ctx *ctx, ls_config **out) {
  return load(ctx, out, true);
}

bool cli_parse_long(const char *s, long min, long max, long *out) {
  if (!s || !*s)
    return false;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

bool cli_parse_time(const char *s, int64_t now_us, int64_t *out_us) {
  if (!s || !*s)
    return false;
  if (!strcmp(s, "now")) {
    *out_us = now_us;
    return true;
  }
  char *end = NULL;
  errno = 0;
  long long n = strtoll(s, &end, 10);
  if (!errno && end != s && n >= 0 && end[0] && !end[1] &&
      isdigit((unsigned char)s[0])) {
    int64_t unit;
    switch (end[0]) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      return false;
    }
    if (n > 100LL * 365 * 86400 / unit)
      return false;
    *out_us = now_us - (int64_t)n * unit * 1000000;
    return true;
  }
  return ls_time_parse(s, out_us);
}

void cli_print_json(json_t *doc) {
  if (!doc)
    return;
  char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s) {
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
  }
  json_decref(doc);
}

#define CLI_HOOK_PATH "/v1/webhooks/smartlead/"

bool cli_url_token(const char *url, char *tok, size_t len) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  if (!p || strncmp(p, CLI_HOOK_PATH, strlen(CLI_HOOK_PATH)))
    return false;
  p += strlen(CLI_HOOK_PATH);
  size_t n = strcspn(p, "/?#");
  if (!n || p[n] == '/' || n >= len)
    return false;
  memcpy(tok, p, n);
  tok[n] = '\0';
  return true;
}

/* Parsed with libcurl's URL API, so what is shown is what a client would
 * connect to: scheme, host and port. Credentials never appear: userinfo
 * becomes "****@", a query "?****", a leadsync token segment "****", and any
 * other path (receivers such as Zapier carry secrets there) a fingerprint
 * of the whole URL that tells URLs apart. The fragment is dropped. */
void cli_redact_url(const char *url, char *out, size_t len) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  char *user = NULL, *pass = NULL, *query = NULL;
  if (!u ||
      curl_url_set(u, CURLUPART_URL, url,
                   CURLU_NON_SUPPORT_SCHEME | CURLU_GUESS_SCHEME) !=
          CURLUE_OK ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    snprintf(out, len, "(unparseable URL)");
    goto out;
  }
  curl_url_get(u, CURLUPART_PORT, &port, 0); /* only when given */
  curl_url_get(u, CURLUPART_PATH, &path, 0);
  curl_url_get(u, CURLUPART_USER, &user, 0);
  curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
  curl_url_get(u, CURLUPART_QUERY, &query, 0);
  char shown_path[64] = "";
  if (path && !strncmp(path, CLI_HOOK_PATH, strlen(CLI_HOOK_PATH))) {
    const char *rest = path + strlen(CLI_HOOK_PATH);
    snprintf(shown_path, sizeof shown_path, CLI_HOOK_PATH "****%s",
             strchr(rest, '/') ? "/..." : "");
  } else if (path && *path && strcmp(path, "/") != 0) {
    char hex[65];
    ls_sha256_hex(url, strlen(url), hex);
    snprintf(shown_path, sizeof shown_path, "/...[%.8s]", hex);
  }
  snprintf(out, len, "%s://%s%s%s%s%s%s", scheme,
           (user && *user) || (pass && *pass) ? "****@" : "", host,
           port ? ":" : "", port ? port : "", shown_path,
           query && *query ? "?****" : "");
out:
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_free(user);
  curl_free(pass);
  curl_free(query);
  curl_url_cleanup(u);
}

int cli_opts_end(const cli_ctx *ctx, bool help, const char *usage, int argc,
                 char **argv) {
  if (help) {
    fputs(usage, stdout);
    return CLI_EXIT_OK;
  }
  if (optind < argc)
    return cli_usage_error(ctx, "unexpected argument \"%s\"", argv[optind]);
  return -1;
}

/* cli_args: table-driven option parsing for the subcommands. */
#include "cli_args.h"

#include <stdio.h>
#include <string.h>

#include "ls_time.h"

/* getopt_long codes of a table's options: CLI_ARG_CODE0 + index, clear of
 * the common options' codes (CLI_OPT_*). */
enum { CLI_ARG_CODE0 = 2000, CLI_ARGS_MAX = 32 };

/* One option's argument into its destination; -1 to go on, else the exit
 * code of a usage error already reported. */
static int take(cli_ctx *ctx, const cli_arg *a, const char *sub,
                const char *arg) {
  if (a->only && (!sub || strcmp(a->only, sub))) {
    size_t cmd_len = strcspn(ctx->cmd, " ");
    return cli_usage_error(ctx, "--%s is for %.*s %s", a->name, (int)cmd_len,
                           ctx->cmd, a->only);
  }
  switch (a->kind) {
  case CLI_ARG_STRING:
    *(const char **)a->dest = arg;
    break;
  case CLI_ARG_FLAG:
    *(bool *)a->dest = true;
    break;
  case CLI_ARG_LONG:
    if (!cli_parse_long(arg, a->min, a->max, (long *)a->dest))
      return cli_usage_error(ctx, "--%s: not a number: %s", a->name, arg);
    break;
  case CLI_ARG_TIME:
    if (!cli_parse_time(arg, ls_now_us(), (int64_t *)a->dest))
      return cli_usage_error(ctx, "--%s: not a time or an age: %s", a->name,
                             arg);
    break;
  }
  return -1;
}

int cli_args_parse(cli_ctx *ctx, const char *usage, const cli_arg *args,
                   const char *sub, int argc, char **argv) {
  static const struct option common[] = {CLI_COMMON_OPTIONS,
                                         {NULL, 0, NULL, 0}};
  struct option opts[CLI_ARGS_MAX + sizeof common / sizeof common[0]];
  int n = 0;
  for (; args[n].name; n++) {
    if (n == CLI_ARGS_MAX)
      return cli_usage_error(ctx, "more than %d options", CLI_ARGS_MAX);
    opts[n] = (struct option){args[n].name,
                              args[n].kind == CLI_ARG_FLAG ? no_argument
                                                           : required_argument,
                              NULL, CLI_ARG_CODE0 + n};
  }
  memcpy(&opts[n], common, sizeof common);
  bool help = false;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c >= CLI_ARG_CODE0 && c < CLI_ARG_CODE0 + n) {
      int rc = take(ctx, &args[c - CLI_ARG_CODE0], sub, optarg);
      if (rc >= 0)
        return rc;
    } else if (!cli_common_opt(ctx, c, optarg, &help)) {
      return cli_usage_error(ctx, "unknown option");
    }
  }
  return cli_opts_end(ctx, help, usage, argc, argv);
}

int cli_args_sub(cli_ctx *ctx, const char *usage, const char *const *subs,
                 int argc, char **argv, const char **sub) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  for (size_t i = 0; subs[i]; i++)
    if (!strcmp(argv[1], subs[i])) {
      *sub = subs[i];
      return -1;
    }
  return cli_usage_error(ctx, "unknown subcommand \"%s\"", argv[1]);
}

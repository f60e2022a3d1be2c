/* cli_args: a subcommand's options declared as a table and parsed in one
 * place (getopt_long underneath), instead of a switch in every command. */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include "cli.h"

typedef enum {
  CLI_ARG_STRING, /* const char **dest: the argument as given */
  CLI_ARG_FLAG,   /* bool *dest: set when the option is present */
  CLI_ARG_LONG,   /* long *dest: a whole number within [min, max] */
  CLI_ARG_TIME    /* int64_t *dest: a time or an age (cli_parse_time) */
} cli_arg_kind;

typedef struct {
  const char *name; /* "limit" for --limit; NULL ends the table */
  cli_arg_kind kind;
  void *dest;
  long min, max;    /* CLI_ARG_LONG */
  const char *only; /* the one subcommand it belongs to ("list"), or NULL */
} cli_arg;

/* Table rows (designated, so -Wextra sees every field set). */
#define CLI_STRING_ARG(n, d)                                                   \
  { .name = (n), .kind = CLI_ARG_STRING, .dest = (d) }
#define CLI_FLAG_ARG(n, d, sub)                                                \
  { .name = (n), .kind = CLI_ARG_FLAG, .dest = (d), .only = (sub) }
#define CLI_LONG_ARG(n, d, lo, hi)                                             \
  { .name = (n), .kind = CLI_ARG_LONG, .dest = (d), .min = (lo), .max = (hi) }
#define CLI_TIME_ARG(n, d)                                                     \
  { .name = (n), .kind = CLI_ARG_TIME, .dest = (d) }
#define CLI_ARGS_END                                                           \
  { .name = NULL }

/* Parses argv[1..] (argv[0] names the (sub)command) against args and the
 * common options (--config, --json, --help). sub is the subcommand the
 * `only` fields are checked against (NULL for a command without). Returns
 * -1 to go on, else the exit code: CLI_EXIT_OK after printing usage for
 * --help, CLI_EXIT_USAGE after reporting a bad option or argument. */
int cli_args_parse(cli_ctx *ctx, const char *usage, const cli_arg *args,
                   const char *sub, int argc, char **argv);

/* `leadsync NAME SUB ...`: argv[1] looked up in subs (NULL-terminated).
 * Without one, usage goes to stderr (CLI_EXIT_USAGE); --help/-h prints it
 * on stdout (CLI_EXIT_OK); an unknown one is a usage error. Returns -1 with
 * *sub set to go on, else the exit code. */
int cli_args_sub(cli_ctx *ctx, const char *usage, const char *const *subs,
                 int argc, char **argv, const char **sub);

#endif

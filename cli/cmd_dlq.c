/* cmd_dlq: placeholder. */
#include "cli_cmds.h"

int cmd_dlq(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail(ctx, CLI_EXIT_USAGE, "not implemented yet");
}

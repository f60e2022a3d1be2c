/* cmd_test_sync: placeholder. */
#include "cli_cmds.h"

int cmd_test_sync(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  (void)argv;
  return cli_fail(ctx, CLI_EXIT_USAGE, "not implemented yet");
}

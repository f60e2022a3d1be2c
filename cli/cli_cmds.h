/* cli_cmds: the subcommands of `leadsync`, one cmd_<name>.c each. */
#ifndef CLI_CMDS_H
#define CLI_CMDS_H

#include "cli.h"

/* argv[0] is the subcommand's own name; each returns a CLI_EXIT_* code. */
int cmd_test_sync(cli_ctx *ctx, int argc, char **argv);
int cmd_history(cli_ctx *ctx, int argc, char **argv);
int cmd_dlq(cli_ctx *ctx, int argc, char **argv);
int cmd_quarantine(cli_ctx *ctx, int argc, char **argv);
int cmd_replay(cli_ctx *ctx, int argc, char **argv);
int cmd_hubspot(cli_ctx *ctx, int argc, char **argv);
int cmd_webhooks(cli_ctx *ctx, int argc, char **argv);
int cmd_config(cli_ctx *ctx, int argc, char **argv);
int cmd_audit(cli_ctx *ctx, int argc, char **argv);
int cmd_assure(cli_ctx *ctx, int argc, char **argv);
int cmd_sources(cli_ctx *ctx, int argc, char **argv);

#endif

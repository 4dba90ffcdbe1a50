/*
 * ops.h: the operator commands of anon-telemetry-ship, in the spirit of Postfix's
 * postqueue -p / postsuper -r / postsuper -d:
 *
 *   anon-telemetry-ship status [--json] [--spool PATH]
 *   anon-telemetry-ship list [--status S] [--json] [--spool PATH]
 *   anon-telemetry-ship dlq list [--json] [--spool PATH]
 *   anon-telemetry-ship dlq requeue (ID...|--all) [--spool PATH]
 *   anon-telemetry-ship dlq purge (ID...|--all) [--spool PATH]
 *
 * Each is a row of commands.c's table, with one of these as its handler. A handler gets
 * the parsed command line (cli.h), prints to stdout/stderr and returns a sysexits(3)
 * status: 0 done, 64 bad usage, 65 unknown IDs (nothing changed), 74 the spool does not
 * exist or cannot be read or written. None of them ever creates a spool.
 */
#ifndef ANON_OPS_H
#define ANON_OPS_H

#include "cli.h"

int ops_cmd_status(cli_result *r);
int ops_cmd_list(cli_result *r);
int ops_cmd_dlq_list(cli_result *r);
int ops_cmd_dlq_change(cli_result *r);   /* dlq requeue and dlq purge (by the row's words) */

#endif

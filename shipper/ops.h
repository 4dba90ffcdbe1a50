/*
 * ops.h: the operator subcommands of anon-telemetry-ship, in the spirit of
 * Postfix's postqueue -p / postsuper -r / postsuper -d:
 *
 *   anon-telemetry-ship status [--json] [--spool PATH]
 *   anon-telemetry-ship list [--status S] [--json] [--spool PATH]
 *   anon-telemetry-ship dlq list [--json] [--spool PATH]
 *   anon-telemetry-ship dlq requeue (ID...|--all) [--spool PATH]
 *   anon-telemetry-ship dlq purge (ID...|--all) [--spool PATH]
 */
#ifndef ANON_OPS_H
#define ANON_OPS_H

/* Runs one operator subcommand. argv[0] is the subcommand ("status", "list" or "dlq");
 * the rest are its arguments. Prints to stdout/stderr and returns a sysexits(3) status
 * for the caller to exit with: 0 done, 64 bad usage, 65 unknown IDs (nothing changed),
 * 74 the spool does not exist or cannot be read or written. */
int ops_main(int argc, char **argv);

/* 1 when name is a subcommand that ops_main handles. */
int ops_is_command(const char *name);

#endif

/*
 * main.c: anon-telemetry-ship, the cron job that drains the spool to the collector, and
 * the operator commands (status, list, dlq: ops.c). Its command line, both tables and
 * the dispatch, is in commands.c.
 */
#include "commands.h"

int main(int argc, char **argv)
{
    return commands_main(argc, argv);
}

/*
 * sneakernet.h: events out of a site that is never online, and their fate back in
 * (the formats: bundle.h and sealed.h; the rows: queue.h):
 *
 *   enclave:  anon-telemetry-ship bundle create FILE [--max-events N] [--reexport]
 *                 [--forget] [--sign KEYFILE] [--batch-size N]   pending -> exported
 *   anyone:   anon-telemetry-ship bundle verify FILE [--verify-key KEYFILE]
 *   gateway:  anon-telemetry-ship bundle import FILE... [--verify-key KEYFILE]
 *   gateway:  anon-telemetry-ship receipt create FILE [--bundle ID...]
 *   enclave:  anon-telemetry-ship receipt apply FILE             exported -> sent / dlq
 *
 * Each is a row of commands.c's table with one of these as its handler. Exit statuses:
 * 0 done; 64 bad usage; 65 a file that fails a check (nothing stored or changed); 66
 * no bundles to make a receipt for; 73 the output file exists (never overwritten) or
 * cannot be made; 74 the spool cannot be read or written; 75 another anon-telemetry-ship
 * works on the spool (bundle create); 77 a key file others may read; 78 a key file that
 * cannot be read or is too short.
 */
#ifndef SHIP_SNEAKERNET_H
#define SHIP_SNEAKERNET_H

#include "cli.h"

int sneakernet_cmd_bundle_create(cli_result *r);
int sneakernet_cmd_bundle_verify(cli_result *r);
int sneakernet_cmd_bundle_import(cli_result *r);
int sneakernet_cmd_receipt_create(cli_result *r);
int sneakernet_cmd_receipt_apply(cli_result *r);

#endif

/*
 * envelope.h: the request body (format described in envelope.c), built by the shipper
 * from spool rows (envelope_build) and parsed by the relay and bundle import
 * (anon_envelope_parse, in anon_telemetry.h).
 */
#ifndef ANON_ENVELOPE_H
#define ANON_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The fields every event of one envelope shares (the rows' columns). */
struct envelope_hdr {
    const char *session_id;       /* events.session_id, prefix already applied */
    const char *client_version;   /* events.client_version */
    const char *schema_version;   /* events.schema_version: eventSchemaVer */
    const char *cpu_architecture; /* events.cpu_architecture */
};

/* One event of the envelope. */
struct envelope_event {
    const char *name;       /* events.name, "anonymizer_event" */
    const char *queued_at;  /* events.queued_at: the event's ts, already in wire format */
    const char *parameters; /* events.parameters: the JSON object, copied verbatim */
};

/* Appends the envelope of n >= 1 events, sent at sent_ms, to b (which is not reset).
 * Returns 0, or -1 when n == 0 or b ran out of memory. */
int envelope_build(anon_buf *b, const struct envelope_hdr *hdr, int64_t sent_ms,
                   const struct envelope_event *evs, size_t n);

/* The header a request carries its events' uuids in, one per event, in order. */
#define ENVELOPE_IDS_HEADER "Anon-Telemetry-Event-Ids"

#endif

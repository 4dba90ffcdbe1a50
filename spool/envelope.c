/*
 * envelope.c: the request body.
 *
 * One POST carries one envelope: a JSON object with exactly these 30 keys in this
 * order (REFERENCE.md), written compactly (no spaces), strings escaped as Python's
 * json.dumps does:
 *
 *   browserType "undefined"            clientId "184482118588404"
 *   clientType "Native"                clientVariant "Release"
 *   clientVer <events.client_version>  cpuArchitecture <events.cpu_architecture>
 *   deviceGdprBehOptIn, deviceGdprFuncOptIn, deviceGdprTechOptIn  "None"
 *   deviceId, deviceMake, deviceModel, deviceOS, deviceOSVersion, deviceType  "undefined"
 *   eventProtocol "1.6"                eventSchemaVer <events.schema_version>
 *   eventSysVer "nemo-telemetry/1.0"   externalUserId "undefined"
 *   gdprBehOptIn, gdprFuncOptIn, gdprTechOptIn  "None"
 *   idpId, integrationId, productName, productVersion  "undefined"
 *   sentTs <time of sending>           sessionId <events.session_id>
 *   userId "undefined"
 *   events [ {"ts": <events.queued_at>, "parameters": <events.parameters>,
 *             "name": <events.name>}, ... ]
 *
 * Timestamps are UTC with milliseconds, truncated: "2026-05-11T12:00:00.000Z".
 * The parameters object is stored in the spool exactly as it goes on the wire and is
 * copied verbatim. An envelope with no events is never built.
 */
#include "envelope.h"


static void key(anon_buf *b, const char *k, int first)
{
    if (!first)
        anon_buf_append(b, ",", 1);
    anon_buf_json_string(b, k);
    anon_buf_append(b, ":", 1);
}

static void kv(anon_buf *b, const char *k, const char *v)
{
    key(b, k, 0);
    anon_buf_json_string(b, v);
}

int envelope_build(anon_buf *b, const struct envelope_hdr *hdr, int64_t sent_ms,
                   const struct envelope_event *evs, size_t n)
{
    char sent[ANON_TS_LEN + 1];

    if (n == 0)
        return -1;
    anon_format_ts(sent_ms, sent);

    anon_buf_append(b, "{", 1);
    key(b, "browserType", 1);
    anon_buf_json_string(b, "undefined");
    kv(b, "clientId", ANON_CLIENT_ID);
    kv(b, "clientType", "Native");
    kv(b, "clientVariant", "Release");
    kv(b, "clientVer", hdr->client_version);
    kv(b, "cpuArchitecture", hdr->cpu_architecture);
    kv(b, "deviceGdprBehOptIn", "None");
    kv(b, "deviceGdprFuncOptIn", "None");
    kv(b, "deviceGdprTechOptIn", "None");
    kv(b, "deviceId", "undefined");
    kv(b, "deviceMake", "undefined");
    kv(b, "deviceModel", "undefined");
    kv(b, "deviceOS", "undefined");
    kv(b, "deviceOSVersion", "undefined");
    kv(b, "deviceType", "undefined");
    kv(b, "eventProtocol", ANON_EVENT_PROTOCOL);
    kv(b, "eventSchemaVer", hdr->schema_version);
    kv(b, "eventSysVer", ANON_EVENT_SYS_VER);
    kv(b, "externalUserId", "undefined");
    kv(b, "gdprBehOptIn", "None");
    kv(b, "gdprFuncOptIn", "None");
    kv(b, "gdprTechOptIn", "None");
    kv(b, "idpId", "undefined");
    kv(b, "integrationId", "undefined");
    kv(b, "productName", "undefined");
    kv(b, "productVersion", "undefined");
    kv(b, "sentTs", sent);
    kv(b, "sessionId", hdr->session_id);
    kv(b, "userId", "undefined");
    key(b, "events", 0);
    anon_buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            anon_buf_append(b, ",", 1);
        anon_buf_append(b, "{", 1);
        key(b, "ts", 1);
        anon_buf_json_string(b, evs[i].queued_at);
        key(b, "parameters", 0);
        anon_buf_puts(b, evs[i].parameters);
        kv(b, "name", evs[i].name != NULL ? evs[i].name : ANON_EVENT_NAME);
        anon_buf_append(b, "}", 1);
    }
    anon_buf_append(b, "]}", 2);
    return b->oom ? -1 : 0;
}

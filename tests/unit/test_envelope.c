/*
 * test_envelope.c: the exact request body: 30 keys in order, fixed values, the
 * rows' fields, events with ts/parameters/name, escaping, no envelope without events.
 */
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "test.h"

int main(void)
{
    anon_buf b;
    struct envelope_hdr h = {"anonymizer-3f2a", "1.2.3", "1.7", "aarch64"};
    struct envelope_event ev[2] = {
        {"anonymizer_event", "2026-05-11T12:00:00.000Z", "{\"task\":\"batch\"}"},
        {NULL, "2026-05-11T12:00:01.500Z", "{\"a\":[1,2]}"},
    };
    /* 2026-05-11T12:00:02.345Z */
    int64_t sent = 1778500802345LL;
    const char *expect =
        "{\"browserType\":\"undefined\",\"clientId\":\"184482118588404\","
        "\"clientType\":\"Native\",\"clientVariant\":\"Release\",\"clientVer\":\"1.2.3\","
        "\"cpuArchitecture\":\"aarch64\",\"deviceGdprBehOptIn\":\"None\","
        "\"deviceGdprFuncOptIn\":\"None\",\"deviceGdprTechOptIn\":\"None\","
        "\"deviceId\":\"undefined\",\"deviceMake\":\"undefined\",\"deviceModel\":\"undefined\","
        "\"deviceOS\":\"undefined\",\"deviceOSVersion\":\"undefined\",\"deviceType\":\"undefined\","
        "\"eventProtocol\":\"1.6\",\"eventSchemaVer\":\"1.7\","
        "\"eventSysVer\":\"nemo-telemetry/1.0\",\"externalUserId\":\"undefined\","
        "\"gdprBehOptIn\":\"None\",\"gdprFuncOptIn\":\"None\",\"gdprTechOptIn\":\"None\","
        "\"idpId\":\"undefined\",\"integrationId\":\"undefined\",\"productName\":\"undefined\","
        "\"productVersion\":\"undefined\",\"sentTs\":\"2026-05-11T12:00:02.345Z\","
        "\"sessionId\":\"anonymizer-3f2a\",\"userId\":\"undefined\",\"events\":["
        "{\"ts\":\"2026-05-11T12:00:00.000Z\",\"parameters\":{\"task\":\"batch\"},"
        "\"name\":\"anonymizer_event\"},"
        "{\"ts\":\"2026-05-11T12:00:01.500Z\",\"parameters\":{\"a\":[1,2]},"
        "\"name\":\"anonymizer_event\"}]}";

    anon_buf_init(&b);
    T_EQ_INT(envelope_build(&b, &h, sent, ev, 2), 0);
    T_EQ_STR(b.data, expect);

    /* 30 top-level keys: count the keys at depth 1 */
    {
        int depth = 0, keys = 0, in_str = 0;

        for (const char *p = b.data; *p; p++) {
            if (in_str) {
                if (*p == '\\')
                    p++;
                else if (*p == '"')
                    in_str = 0;
                continue;
            }
            if (*p == '"') {
                in_str = 1;
                if (depth == 1 && (p[-1] == '{' || p[-1] == ','))
                    keys++;
            } else if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                depth--;
            }
        }
        T_EQ_INT(keys, 30);
    }

    /* one event */
    anon_buf_reset(&b);
    T_EQ_INT(envelope_build(&b, &h, sent, ev, 1), 0);
    T_CHECK(strstr(b.data, "\"sentTs\":\"2026-05-11T12:00:02.345Z\"") != NULL);

    /* strings from the rows are escaped */
    {
        struct envelope_hdr q = {"a\"b\\c\n", "v\xc3\xa9", "1.7", "x86_64"};

        anon_buf_reset(&b);
        T_EQ_INT(envelope_build(&b, &q, sent, ev, 1), 0);
        T_CHECK(strstr(b.data, "\"sessionId\":\"a\\\"b\\\\c\\n\"") != NULL);
        T_CHECK(strstr(b.data, "\"clientVer\":\"v\\u00e9\"") != NULL);
    }

    /* never an envelope without events */
    anon_buf_reset(&b);
    T_EQ_INT(envelope_build(&b, &h, sent, ev, 0), -1);
    T_EQ_INT(b.len, 0);
    anon_buf_free(&b);
    return t_done();
}

/*
 * pagelimit: appends N events to a spool through the library with SQLite's
 * PRAGMA max_page_count set first, the disk-full test's stand-in for a small file
 * system when it cannot mount one (not root, or mount refused).
 *
 *   pagelimit SPOOL MAX_PAGES N            MAX_PAGES 0: no limit
 *
 * Prints each stored uuid on its own line; on failure the library's message on
 * stderr and the status's exit code, as anon-telemetry-spool does.
 *
 *   pagelimit SPOOL MAX_PAGES N REPEAT     a long-lived caller: one open spool, REPEAT
 *                                          appends of N events, going on after failures
 *
 * prints "ok UUID..." or "fail STATUS UUID... : MESSAGE" per append (a failed append's
 * uuids are the ones it had inserted before failing: none of them may be stored unless
 * all are); exits 0 unless the open failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int main(int argc, char **argv)
{
    static const char json[] =
        "{\"task\":\"batch\",\"taskStatus\":\"completed\",\"transformationType\":\"redact\","
        "\"entityDetectorModel\":\"gliner-pii\",\"entityValidatorModel\":\"val\","
        "\"entityAugmenterModel\":\"aug\",\"numInputRecords\":1}";
    char err[ANON_ERRLEN], sql[64];
    anon_spool *sp = NULL;
    anon_event **evs = NULL;
    char (*uuids)[ANON_UUID_LEN + 1] = NULL;
    long max_pages, n, repeat = 0;
    int st, rc = 0;

    if ((argc != 4 && argc != 5) || (max_pages = strtol(argv[2], NULL, 10)) < 0 ||
        (n = strtol(argv[3], NULL, 10)) < 1 || n > 100000 ||
        (argc == 5 && ((repeat = strtol(argv[4], NULL, 10)) < 1 || repeat > 100000))) {
        fprintf(stderr, "usage: pagelimit SPOOL MAX_PAGES N [REPEAT]\n");
        return 64;
    }
    evs = calloc((size_t)n, sizeof *evs);
    uuids = calloc((size_t)n, sizeof *uuids);
    if (evs == NULL || uuids == NULL)
        return 71;
    for (long i = 0; i < n; i++)
        if (anon_event_from_json(json, strlen(json), &evs[i], err, sizeof err) != ANON_OK)
            return 70;
    st = anon_spool_open(argv[1], &sp, err, sizeof err);
    if (st == ANON_OK && max_pages > 0) {
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%ld", max_pages);
        if (sqlite3_exec(anon_spool_db(sp), sql, NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "pagelimit: %s\n", sqlite3_errmsg(anon_spool_db(sp)));
            rc = 70;
            goto done;
        }
    }
    if (st == ANON_OK && repeat > 0) {
        for (long r = 0; r < repeat; r++) {
            memset(uuids, 0, (size_t)n * sizeof *uuids);
            st = anon_spool_append(sp, (const anon_event *const *)evs, (size_t)n, NULL, uuids,
                                   err, sizeof err);
            if (st == ANON_OK)
                printf("ok");
            else
                printf("fail %d", st);
            for (long i = 0; i < n; i++)
                if (uuids[i][0] != '\0')
                    printf(" %s", uuids[i]);
            if (st != ANON_OK)
                printf(" : %s", err);
            printf("\n");
            fflush(stdout);
        }
        goto done;
    }
    if (st == ANON_OK)
        st = anon_spool_append(sp, (const anon_event *const *)evs, (size_t)n, NULL, uuids, err,
                               sizeof err);
    if (st != ANON_OK) {
        fprintf(stderr, "pagelimit: %s\n", err);
        rc = anon_status_exit_code(st);
        goto done;
    }
    for (long i = 0; i < n; i++)
        printf("%s\n", uuids[i]);
done:
    anon_spool_close(sp);
    for (long i = 0; i < n; i++)
        anon_event_free(evs[i]);
    free(evs);
    free(uuids);
    return rc;
}

/*
 * main.c: anon-telemetry-relay. Receives the envelope the Anonymizer's telemetry handler
 * (or another site's anon-telemetry-ship) POSTs and spools its events before answering.
 * Start-up order: options, the token, the spool, the sockets (own or systemd's), the
 * server; then "listening on" and READY=1. SIGTERM/SIGINT: stop accepting, finish what
 * is in flight, exit 0.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "relay.h"

#define STOP_WAIT_MS (30 * 1000)   /* what a stop waits for the requests in flight */

enum {
    OPT_SPOOL, OPT_LISTEN, OPT_TOKEN_FILE, OPT_NO_AUTH, OPT_TLS_CERT, OPT_TLS_KEY,
    OPT_MAX_BODY, OPT_MAX_MEMORY, OPT_MAX_CONNECTIONS, OPT_CLIENT_TIMEOUT, OPT_IDLE_EXIT,
    OPT_VERBOSE, OPT_SYSLOG, OPT_HELP, OPT_VERSION
};

static const cli_opt options[] = {
    {OPT_SPOOL, "spool", 0, "PATH", CLI_NONEMPTY,
     "spool file (default: $ANON_TELEMETRY_SPOOL, else\n"
     "/var/spool/anon-telemetry/spool.db for root, else\n"
     "${XDG_STATE_HOME:-~/.local/state}/anon-telemetry/spool.db)"},
    {OPT_LISTEN, "listen", 0, "ADDR:PORT", CLI_NONEMPTY,
     "address to listen on (default " RELAY_DEFAULT_LISTEN "; [::1]:9780 for IPv6;\n"
     "port 0 picks a free one); ignored under socket activation"},
    {OPT_TOKEN_FILE, "token-file", 0, "FILE", CLI_NONEMPTY,
     "require this token (the file's first line; mode 600) as\n"
     "'Authorization: Bearer TOKEN' or '?token=TOKEN'"},
    {OPT_NO_AUTH, "no-auth", 0, NULL, 0,
     "listen on a non-loopback address without a token"},
    {OPT_TLS_CERT, "tls-cert", 0, "FILE", CLI_NONEMPTY, "serve HTTPS with this certificate (PEM)"},
    {OPT_TLS_KEY, "tls-key", 0, "FILE", CLI_NONEMPTY, "and this private key (PEM)"},
    {OPT_MAX_BODY, "max-body", 0, "BYTES", CLI_NONEMPTY,
     "largest request body (default 16M; K, M, G suffixes);\n"
     "a larger one is answered 413"},
    {OPT_MAX_MEMORY, "max-memory", 0, "BYTES", CLI_NONEMPTY,
     "memory all request bodies may use at once (default 256M);\n"
     "beyond it a new upload is answered 503 with Retry-After"},
    {OPT_MAX_CONNECTIONS, "max-connections", 0, "N", CLI_NONEMPTY,
     "connections served at once (default 64)"},
    {OPT_CLIENT_TIMEOUT, "client-timeout", 0, "SECONDS", CLI_NONEMPTY,
     "cut off a connection silent this long (default 30)"},
    {OPT_IDLE_EXIT, "idle-exit", 0, "SECONDS", CLI_NONEMPTY,
     "exit after this long without a connection (socket\n"
     "activation starts it again); default: never"},
    {OPT_VERBOSE, "verbose", 'v', NULL, 0, "a line per request (-vv: more)"},
    {OPT_SYSLOG, "syslog", 0, NULL, 0, "log to syslog instead of standard error"},
    {OPT_HELP, "help", 'h', NULL, CLI_GLOBAL | CLI_HELP, "this text"},
    {OPT_VERSION, "version", 0, NULL, CLI_GLOBAL | CLI_VERSION, "print the version, and exit"},
};

#define ALL_OPTS                                                                           \
    (CLI_OPT(OPT_SPOOL) | CLI_OPT(OPT_LISTEN) | CLI_OPT(OPT_TOKEN_FILE) |                  \
     CLI_OPT(OPT_NO_AUTH) | CLI_OPT(OPT_TLS_CERT) | CLI_OPT(OPT_TLS_KEY) |                 \
     CLI_OPT(OPT_MAX_BODY) | CLI_OPT(OPT_MAX_MEMORY) | CLI_OPT(OPT_MAX_CONNECTIONS) |      \
     CLI_OPT(OPT_CLIENT_TIMEOUT) | CLI_OPT(OPT_IDLE_EXIT) | CLI_OPT(OPT_VERBOSE) |         \
     CLI_OPT(OPT_SYSLOG))

static const cli_cmd commands[] = {
    {"", ALL_OPTS, 1, 0, 0, NULL,
     "[--spool PATH] [--listen ADDR:PORT] [--token-file FILE | --no-auth]\n"
     "[--tls-cert FILE --tls-key FILE] [--max-body BYTES] [--max-memory BYTES]\n"
     "[--max-connections N] [--client-timeout SECONDS] [--idle-exit SECONDS]\n"
     "[-v] [--syslog]",
     "receive events over HTTP and spool them"},
};

static const cli_spec spec = {
    .prog = RELAY_PROG,
    .opts = options,
    .nopts = sizeof options / sizeof options[0],
    .cmds = commands,
    .ncmds = 1,
    .about = "Receives the envelopes that NeMo Anonymizer's telemetry handler (with\n"
             "NEMO_TELEMETRY_ENDPOINT=http://127.0.0.1:9780/v1.1/events/json) or another\n"
             "host's anon-telemetry-ship posts, and stores their events in the spool before\n"
             "answering. POST /v1.1/events/json; GET /healthz.\n",
    .epilog = "exit: 0 stopped (SIGTERM, SIGINT, --idle-exit), 64 usage, 69 cannot listen,\n"
              "      74 spool error, 78 bad configuration (token file, TLS files, a\n"
              "      non-loopback address without --token-file or --no-auth)\n",
};

/* BYTES: a whole number with an optional K, M or G (powers of 1024), 1 .. 2^40. */
static int parse_size(cli_result *cl, int id, size_t *ret)
{
    const char *v = cli_value(cl, id);
    unsigned long long n = 0, mult = 1;
    char q[96];
    const char *p = v;

    if (v == NULL)
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (unsigned long long)(*p - '0');
        if (n > (1ULL << 40))
            break;
    }
    if (*p == 'K' || *p == 'k')
        mult = 1ULL << 10;
    else if (*p == 'M' || *p == 'm')
        mult = 1ULL << 20;
    else if (*p == 'G' || *p == 'g')
        mult = 1ULL << 30;
    if (mult > 1)
        p++;
    if (p == v || *p != '\0' || n == 0 || n > (1ULL << 40) / mult)
        return cli_usage_error(cl, "--%s: expected a size in bytes (1 to 1T, K, M or G "
                               "allowed), got %s",
                               cli_find_opt(&spec, id)->name, cli_quote(v, q, sizeof q));
    *ret = (size_t)(n * mult);
    return 0;
}

static int parse_count(cli_result *cl, int id, long min, long max, unsigned *ret)
{
    long v = (long)*ret;

    if (cli_long(cl, id, min, max, &v) != 0)
        return cli_finish(CLI_USAGE, cl);
    *ret = (unsigned)v;
    return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

int main(int argc, char **argv)
{
    struct relay_opts o = {
        .max_body = (size_t)16 << 20,
        .max_memory = (size_t)256 << 20,
        .max_connections = 64,
        .client_timeout = 30,
    };
    struct relay_socket socks[RELAY_MAX_SOCKETS];
    struct relay_server *server = NULL;
    anon_spool *sp = NULL, *read_sp = NULL;
    char err[ANON_ERRLEN], shown[INET6_ADDRSTRLEN + 16], ready[256], rootpath[4096];
    char *token = NULL;
    const char *listen_spec;
    struct sigaction sa;
    cli_result cl;
    int nsocks = 0, rc, st, activated = 0;

#ifdef M_MMAP_THRESHOLD
    /* request bodies are large and short-lived: a fixed threshold keeps them in their own
     * mappings, given back to the system when freed (glibc's moving threshold would put
     * them on the heaps of the server's threads, where the peak stays resident) */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    rc = cli_parse(&spec, argc, argv, &cl);
    if (rc != CLI_RUN)
        return cli_finish(rc, &cl);
    o.spool_path = cli_value(&cl, OPT_SPOOL);
    o.token_file = cli_value(&cl, OPT_TOKEN_FILE);
    o.no_auth = cli_has(&cl, OPT_NO_AUTH);
    o.tls_cert = cli_value(&cl, OPT_TLS_CERT);
    o.tls_key = cli_value(&cl, OPT_TLS_KEY);
    o.verbose = (int)cl.count[OPT_VERBOSE];
    listen_spec = cli_value(&cl, OPT_LISTEN) ? cli_value(&cl, OPT_LISTEN) : RELAY_DEFAULT_LISTEN;
    if ((rc = parse_size(&cl, OPT_MAX_BODY, &o.max_body)) != 0 ||
        (rc = parse_size(&cl, OPT_MAX_MEMORY, &o.max_memory)) != 0 ||
        (rc = parse_count(&cl, OPT_MAX_CONNECTIONS, 1, 100000, &o.max_connections)) != 0 ||
        (rc = parse_count(&cl, OPT_CLIENT_TIMEOUT, 1, 86400, &o.client_timeout)) != 0 ||
        (rc = parse_count(&cl, OPT_IDLE_EXIT, 1, 86400 * 365, &o.idle_exit)) != 0)
        return rc;
    if ((o.tls_cert == NULL) != (o.tls_key == NULL))
        return cli_usage_error(&cl, "--tls-cert and --tls-key go together");
    if (o.token_file != NULL && o.no_auth)
        return cli_usage_error(&cl, "--token-file and --no-auth contradict each other");
    if (o.max_memory < o.max_body)
        return cli_usage_error(&cl, "--max-memory (%zu) is smaller than --max-body (%zu): no "
                               "upload of the largest size could ever be taken",
                               o.max_memory, o.max_body);
    log_init(RELAY_PROG, o.verbose, cli_has(&cl, OPT_SYSLOG));

    if (o.token_file != NULL && relay_read_token(o.token_file, &token, err, sizeof err) != 0) {
        log_warnx("%s", err);
        return EX_CONFIG;
    }

    /* the sockets: systemd's when it passes some, else our own */
    nsocks = relay_activated_sockets(socks, RELAY_MAX_SOCKETS, err, sizeof err);
    if (nsocks < 0) {
        log_warnx("%s", err);
        rc = EX_CONFIG;
        goto done;
    }
    activated = nsocks > 0;
    if (!activated) {
        struct sockaddr_storage addr;
        socklen_t alen;

        if (relay_parse_listen(listen_spec, &addr, &alen, err, sizeof err) != 0) {
            rc = cli_usage_error(&cl, "--listen: %s", err);
            goto done;
        }
        if (!relay_is_loopback(&addr) && token == NULL && !o.no_auth) {
            log_warnx("refusing to listen on %s without a token: anyone who can reach it "
                      "could fill the spool; give --token-file FILE (or --no-auth when the "
                      "network is trusted)", listen_spec);
            rc = EX_CONFIG;
            goto done;
        }
        if (relay_listen(&addr, alen, 128, &socks[0], err, sizeof err) != 0) {
            log_warnx("%s", err);
            rc = EX_UNAVAILABLE;
            goto done;
        }
        nsocks = 1;
    } else {
        for (int i = 0; i < nsocks; i++) {
            if (!relay_is_loopback(&socks[i].addr) && token == NULL && !o.no_auth) {
                relay_format_addr(&socks[i].addr, shown, sizeof shown);
                log_warnx("refusing to serve %s (from systemd) without a token: give "
                          "--token-file FILE, or --no-auth when the network is trusted",
                          shown);
                rc = EX_CONFIG;
                goto done;
            }
        }
    }

    /* root, serving another user's spool, becomes that user once the sockets are bound
     * and before the spool is opened, as every command does: it never leaves root-owned
     * files in the owner's directory */
    if (geteuid() == 0) {
        if (o.spool_path == NULL) {
            if ((st = anon_spool_default_path(rootpath, sizeof rootpath, err, sizeof err)) !=
                ANON_OK) {
                log_warnx("%s", err);
                rc = anon_status_exit_code(st);
                goto done;
            }
            o.spool_path = rootpath;
        }
        if ((st = anon_spool_act_as_owner(o.spool_path, NULL, err, sizeof err)) != ANON_OK) {
            log_warnx("%s", err);
            rc = anon_status_exit_code(st);
            goto done;
        }
    }
    /* two connections: the committer's, and one for /healthz's reads */
    if ((st = anon_spool_open(o.spool_path, &sp, err, sizeof err)) != ANON_OK ||
        (st = anon_spool_open(anon_spool_path(sp), &read_sp, err, sizeof err)) != ANON_OK) {
        log_warnx("%s", err);
        rc = anon_status_exit_code(st);
        goto done;
    }

    /* signals: handled by the main thread only (every thread started later inherits the
     * mask), a broken connection is an error return, never SIGPIPE */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    {
        sigset_t block;

        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGINT);
        pthread_sigmask(SIG_BLOCK, &block, NULL);
        if (server_start(&o, socks, nsocks, sp, read_sp, token, &server, err, sizeof err) != 0) {
            log_warnx("%s", err);
            rc = EX_CONFIG;
            nsocks = 0;    /* closed by server_start's cleanup */
            goto done;
        }
        nsocks = 0;        /* the server owns them now */
        pthread_sigmask(SIG_UNBLOCK, &block, NULL);
    }

    for (int i = 0; i < server_socket_count(server); i++) {
        relay_format_addr(server_socket_addr(server, i), shown, sizeof shown);
        /* always on standard error: scripts and tests read the port from it */
        fprintf(stderr, "%s: listening on %s://%s%s\n", RELAY_PROG,
                o.tls_cert != NULL ? "https" : "http", shown, activated ? " (from systemd)" : "");
        if (i == 0)
            snprintf(ready, sizeof ready, "READY=1\nSTATUS=listening on %s", shown);
    }
    fflush(stderr);
    if (cli_has(&cl, OPT_SYSLOG))
        log_notice("listening (spool %s)", anon_spool_path(sp));
    if (relay_sd_notify(ready) != 0)
        log_warnx("cannot notify systemd at NOTIFY_SOCKET: %s", strerror(errno));

    while (!stop_signal) {
        struct timespec tick = {0, 200 * 1000 * 1000};

        nanosleep(&tick, NULL);
        if (o.idle_exit > 0 && server_open_connections(server) == 0 &&
            anon_now_ms() - server_last_activity(server) >= (int64_t)o.idle_exit * 1000) {
            log_info("no connection for %u s: exiting (--idle-exit)", o.idle_exit);
            break;
        }
    }
    relay_sd_notify("STOPPING=1");
    if (stop_signal)
        log_info("%s: finishing the requests in flight", strsignal(stop_signal));
    {
        int left = server_stop(server, STOP_WAIT_MS);

        server = NULL;
        if (left > 0)
            log_warnx("stopped with %d requests unanswered after %d s (nothing of them was "
                      "acknowledged)", left, STOP_WAIT_MS / 1000);
    }
    rc = EX_OK;
done:
    server_stop(server, 0);
    for (int i = 0; i < nsocks; i++)
        close(socks[i].fd);
    anon_spool_close(read_sp);
    anon_spool_close(sp);
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}

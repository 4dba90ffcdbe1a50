/*
 * relay.h: anon-telemetry-relay, the HTTP intake that spools what clients post.
 *
 * The pieces, one file each:
 *   main.c    the command line, start-up, signals, idle exit, the graceful stop
 *   listen.c  --listen parsing, listening sockets (or systemd's, LISTEN_FDS), the
 *             loopback rule, sd_notify
 *   auth.c    the token file and the constant-time comparison
 *   server.c  libmicrohttpd: routing, limits, the memory budget, answers, /healthz
 *   commit.c  the group committer: one transaction and one fsync for every request
 *             waiting
 */
#ifndef RELAY_H
#define RELAY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "internal.h"

#define RELAY_PROG          "anon-telemetry-relay"
#define RELAY_EVENTS_PATH   "/v1.1/events/json"
#define RELAY_HEALTH_PATH   "/healthz"
#define RELAY_METRICS_PATH  "/metrics"
#define RELAY_DEFAULT_LISTEN "127.0.0.1:9780"
#define RELAY_MAX_SOCKETS   16

/* What the command line (or its defaults) asks for. */
struct relay_opts {
    const char *spool_path;       /* NULL: the default spool */
    const char *token_file;       /* NULL: no token */
    int no_auth;                  /* --no-auth: a non-loopback address without a token */
    const char *tls_cert, *tls_key;
    size_t max_body;              /* bytes of one request body */
    size_t max_memory;            /* bytes all request bodies may hold at once */
    unsigned max_connections;
    unsigned client_timeout;      /* seconds a connection may stay silent */
    unsigned idle_exit;           /* seconds without a connection before exiting; 0 never */
    int verbose;
};

/* ---- listen.c ---- */

struct relay_socket {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int activated;                /* handed over by systemd */
};

/* Parses "ADDR:PORT" ("127.0.0.1:9780", "[::1]:0", "0.0.0.0:80") into *ret. 0, or -1
 * with err saying what is wrong. */
int relay_parse_listen(const char *spec, struct sockaddr_storage *ret, socklen_t *ret_len,
                       char *err, size_t errlen);
/* Binds and listens (SO_REUSEADDR; IPv6 only for an IPv6 address). */
int relay_listen(const struct sockaddr_storage *addr, socklen_t len, int backlog,
                 struct relay_socket *ret, char *err, size_t errlen);
/* The sockets systemd passed (LISTEN_PID, LISTEN_FDS: fds 3...), at most max; the
 * variables are then unset. Returns how many (0: not socket-activated), -1 on error. */
int relay_activated_sockets(struct relay_socket *out, int max, char *err, size_t errlen);
/* 1 when the socket's address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.x). */
int relay_is_loopback(const struct sockaddr_storage *addr);
/* "127.0.0.1:9780", "[::1]:9780" into buf. */
void relay_format_addr(const struct sockaddr_storage *addr, char *buf, size_t buflen);
/* Sends state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET when it is set; 0 when sent
 * or not asked for, -1 when it could not be sent. */
int relay_sd_notify(const char *state);

/* ---- auth.c ---- */

/* Reads the token (its first line, without the line end) from path: a regular file, not
 * a symlink, not group- or world-accessible, holding a token of 16 to 4096 printable
 * characters. *ret_token is malloc'd (free()). 0, or -1 with err. */
int relay_read_token(const char *path, char **ret_token, char *err, size_t errlen);
/* 1 when given (len bytes) equals token; the time taken depends only on the token's
 * length, never on where the two differ. */
int relay_token_equal(const char *token, const char *given, size_t len);

/* ---- commit.c ---- */

/* One request's events, handed to the committer. The committer fills the result and
 * calls done(arg) when the group it was in has committed or failed; after that call the
 * committer never touches the job again. */
struct relay_job {
    const anon_record *recs;
    size_t n;
    void (*done)(void *arg);
    void *arg;
    /* the result */
    int status;                   /* ANON_OK, or the spool's failure */
    size_t stored, duplicates;
    char err[ANON_ERRLEN];
    struct relay_job *next;
};

struct relay_stats;
struct committer;

/* Starts the committer thread, writing to sp (which it uses alone from then on). */
int committer_start(anon_spool *sp, struct relay_stats *stats, struct committer **ret,
                    char *err, size_t errlen);
/* Queues a job; done() will be called from the committer's thread. */
void committer_submit(struct committer *c, struct relay_job *job);
/* Finishes every job queued, then stops the thread. NULL-safe. */
void committer_stop(struct committer *c);

/* ---- server.c ---- */

/* The refusals, by answer: each is logged with its reason and counted. */
enum relay_refusal { REF_400, REF_401, REF_404, REF_405, REF_413, REF_415, REF_503, REF_N };

/* The counters /healthz shows (updated from every thread). */
struct relay_stats {
    _Atomic uint64_t requests;            /* requests answered */
    _Atomic uint64_t accepted;            /* POSTs answered 200 */
    _Atomic uint64_t events_stored;
    _Atomic uint64_t events_duplicate;
    _Atomic uint64_t refused[REF_N];
    _Atomic uint64_t commits;             /* group commits */
    _Atomic uint64_t committed_requests;  /* requests in those commits */
    _Atomic uint64_t largest_group;       /* most requests in one commit */
};

struct relay_server;

/* Starts serving socks[0..n) (one libmicrohttpd daemon each); the sockets belong to the
 * server from then on, also when it fails. The server uses sp (the committer's), read_sp
 * (for /healthz) and token until server_stop. */
int server_start(const struct relay_opts *o, struct relay_socket *socks, int n,
                 anon_spool *sp, anon_spool *read_sp, const char *token,
                 struct relay_server **ret, char *err, size_t errlen);
/* Connections open now, and the time (ms) of the last request or connection. */
int server_open_connections(const struct relay_server *s);
int64_t server_last_activity(const struct relay_server *s);
/* The sockets served, for the "listening on" lines. */
int server_socket_count(const struct relay_server *s);
const struct sockaddr_storage *server_socket_addr(const struct relay_server *s, int i);
/* Stops accepting, waits up to wait_ms for the requests in flight to be answered, then
 * stops everything and frees s (NULL-safe). Returns the requests still unanswered. */
int server_stop(struct relay_server *s, int64_t wait_ms);

#endif

/*
 * listen.c: where the relay listens. Its own sockets from --listen, or the ones systemd
 * passes under socket activation (sd_listen_fds(3)'s protocol: LISTEN_PID is ours,
 * LISTEN_FDS sockets from fd 3 on), and the readiness message to $NOTIFY_SOCKET
 * (sd_notify(3)'s protocol: one datagram to a Unix socket, '@' for the abstract
 * namespace). Both protocols are small enough to speak without libsystemd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "relay.h"

#define SD_LISTEN_FDS_START 3

int relay_parse_listen(const char *spec, struct sockaddr_storage *ret, socklen_t *ret_len,
                       char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_s;
    size_t hlen;
    char *end;
    long port;

    memset(ret, 0, sizeof *ret);
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');

        if (close == NULL || close[1] != ':')
            goto bad;
        hlen = (size_t)(close - spec - 1);
        if (hlen == 0 || hlen >= sizeof host)
            goto bad;
        memcpy(host, spec + 1, hlen);
        port_s = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');

        if (colon == NULL || strchr(spec, ':') != colon)
            goto bad;
        hlen = (size_t)(colon - spec);
        if (hlen == 0 || hlen >= sizeof host)
            goto bad;
        memcpy(host, spec, hlen);
        port_s = colon + 1;
    }
    host[hlen] = '\0';
    errno = 0;
    port = strtol(port_s, &end, 10);
    if (*port_s < '0' || *port_s > '9' || *end != '\0' || errno != 0 || port < 0 ||
        port > 65535)
        goto bad;
    if (spec[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ret;

        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            goto bad;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *ret_len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ret;

        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            goto bad;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *ret_len = sizeof *a;
    }
    return 0;
bad:
    return anon_seterr(err, errlen, -1,
                       "expected ADDR:PORT with a numeric address, an IPv6 one in brackets "
                       "(127.0.0.1:9780, [::1]:9780, 0.0.0.0:0)");
}

int relay_listen(const struct sockaddr_storage *addr, socklen_t len, int backlog,
                 struct relay_socket *ret, char *err, size_t errlen)
{
    char shown[INET6_ADDRSTRLEN + 16];
    int fd, one = 1;

    relay_format_addr(addr, shown, sizeof shown);
    memset(ret, 0, sizeof *ret);
    fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return anon_seterr(err, errlen, -1, "cannot listen on %s: %s", shown, strerror(errno));
    /* a restart does not wait for the old connections' TIME_WAIT */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* [::] means IPv6 only, as written: 0.0.0.0 is another --listen */
    if (addr->ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, backlog) != 0) {
        int e = errno;

        close(fd);
        return anon_seterr(err, errlen, -1, "cannot listen on %s: %s", shown, strerror(e));
    }
    ret->fd = fd;
    ret->addrlen = sizeof ret->addr;
    /* port 0: the kernel's choice is what we announce */
    if (getsockname(fd, (struct sockaddr *)&ret->addr, &ret->addrlen) != 0) {
        memcpy(&ret->addr, addr, len);
        ret->addrlen = len;
    }
    return 0;
}

int relay_activated_sockets(struct relay_socket *out, int max, char *err, size_t errlen)
{
    const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
    char *end;
    long pid, n;

    if (pid_s == NULL || fds_s == NULL)
        return 0;
    pid = strtol(pid_s, &end, 10);
    if (*end != '\0' || pid != (long)getpid())
        return 0;   /* meant for another process (our parent's) */
    n = strtol(fds_s, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (*end != '\0' || n < 0)
        return anon_seterr(err, errlen, -1, "LISTEN_FDS is not a number: '%s'", fds_s);
    if (n > max)
        return anon_seterr(err, errlen, -1, "systemd passed %ld sockets, at most %d are served",
                           n, max);
    for (long i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + (int)i, type = 0, listening = 0;
        socklen_t tl = sizeof type, ll = sizeof listening;
        struct relay_socket *s = &out[i];

        memset(s, 0, sizeof *s);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) != 0 || !listening)
            return anon_seterr(err, errlen, -1,
                               "fd %d from systemd is not a listening stream socket "
                               "(ListenStream= in the .socket unit)", fd);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        s->fd = fd;
        s->activated = 1;
        s->addrlen = sizeof s->addr;
        if (getsockname(fd, (struct sockaddr *)&s->addr, &s->addrlen) != 0)
            return anon_seterr(err, errlen, -1, "fd %d from systemd: %s", fd, strerror(errno));
        if (s->addr.ss_family != AF_INET && s->addr.ss_family != AF_INET6)
            return anon_seterr(err, errlen, -1,
                               "fd %d from systemd is not a TCP socket (ListenStream=ADDR:PORT)",
                               fd);
    }
    return (int)n;
}

int relay_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;

        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;

        if (IN6_IS_ADDR_LOOPBACK(a))
            return 1;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return 0;
}

void relay_format_addr(const struct sockaddr_storage *addr, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN];

    if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;

        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(buf, buflen, "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;

        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(buf, buflen, "%s:%u", host, (unsigned)ntohs(a->sin_port));
    } else {
        snprintf(buf, buflen, "(address family %d)", (int)addr->ss_family);
    }
}

int relay_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sun;
    socklen_t len;
    size_t plen;
    ssize_t sent;
    int fd;

    if (path == NULL || path[0] == '\0')
        return 0;
    plen = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || plen >= sizeof sun.sun_path)
        return -1;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, plen);
    if (path[0] == '@')
        sun.sun_path[0] = '\0';      /* the abstract namespace */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
    close(fd);
    return sent == (ssize_t)strlen(state) ? 0 : -1;
}

/*
 * test_relay.c: the relay's pieces that need no HTTP: --listen parsing, the loopback
 * rule, the token file's checks and the comparison, sd_notify's datagram and socket
 * activation's descriptors.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "relay.h"
#include "test.h"

static char errbuf[ANON_ERRLEN];
static char dir[] = "/tmp/anon-test-relay.XXXXXX";

/* parses spec, formats it back */
static const char *listen_shown(const char *spec)
{
    static char shown[128];
    struct sockaddr_storage a;
    socklen_t len;

    if (relay_parse_listen(spec, &a, &len, errbuf, sizeof errbuf) != 0)
        return "(refused)";
    relay_format_addr(&a, shown, sizeof shown);
    return shown;
}

static int loopback(const char *spec)
{
    struct sockaddr_storage a;
    socklen_t len;

    if (relay_parse_listen(spec, &a, &len, errbuf, sizeof errbuf) != 0)
        return -1;
    return relay_is_loopback(&a);
}

static void test_listen_spec(void)
{
    T_EQ_STR(listen_shown("127.0.0.1:9780"), "127.0.0.1:9780");
    T_EQ_STR(listen_shown("0.0.0.0:0"), "0.0.0.0:0");
    T_EQ_STR(listen_shown("[::1]:9780"), "[::1]:9780");
    T_EQ_STR(listen_shown("[::]:65535"), "[::]:65535");
    T_EQ_STR(listen_shown("[fe80::1:2]:80"), "[fe80::1:2]:80");
    T_EQ_STR(listen_shown("127.0.0.1"), "(refused)");
    T_CHECK(strstr(errbuf, "expected ADDR:PORT") != NULL);
    T_EQ_STR(listen_shown("localhost:9780"), "(refused)");
    T_EQ_STR(listen_shown("::1:9780"), "(refused)");       /* IPv6 needs its brackets */
    T_EQ_STR(listen_shown("[::1]9780"), "(refused)");
    T_EQ_STR(listen_shown("127.0.0.1:65536"), "(refused)");
    T_EQ_STR(listen_shown("127.0.0.1:-1"), "(refused)");
    T_EQ_STR(listen_shown("127.0.0.1:"), "(refused)");
    T_EQ_STR(listen_shown("127.0.0.1:80x"), "(refused)");
    T_EQ_STR(listen_shown(":80"), "(refused)");
    T_EQ_STR(listen_shown("[]:80"), "(refused)");
    T_EQ_STR(listen_shown("1.2.3.4.5:80"), "(refused)");

    T_EQ_INT(loopback("127.0.0.1:1"), 1);
    T_EQ_INT(loopback("127.255.0.9:1"), 1);
    T_EQ_INT(loopback("[::1]:1"), 1);
    T_EQ_INT(loopback("[::ffff:127.0.0.1]:1"), 1);
    T_EQ_INT(loopback("0.0.0.0:1"), 0);
    T_EQ_INT(loopback("10.0.0.1:1"), 0);
    T_EQ_INT(loopback("128.0.0.1:1"), 0);
    T_EQ_INT(loopback("[::]:1"), 0);
    T_EQ_INT(loopback("[::ffff:10.0.0.1]:1"), 0);
}

static void test_listen_port0(void)
{
    struct sockaddr_storage a;
    struct relay_socket s;
    socklen_t len;
    char shown[128];

    T_EQ_INT(relay_parse_listen("127.0.0.1:0", &a, &len, errbuf, sizeof errbuf), 0);
    T_EQ_INT(relay_listen(&a, len, 8, &s, errbuf, sizeof errbuf), 0);
    relay_format_addr(&s.addr, shown, sizeof shown);
    /* the kernel's port is what gets announced */
    T_CHECK(strncmp(shown, "127.0.0.1:", 10) == 0 && strcmp(shown, "127.0.0.1:0") != 0);
    {
        struct relay_socket again;

        T_EQ_INT(relay_parse_listen(shown, &a, &len, errbuf, sizeof errbuf), 0);
        T_EQ_INT(relay_listen(&a, len, 8, &again, errbuf, sizeof errbuf), -1);
        T_CHECK(strstr(errbuf, "cannot listen on") != NULL &&
                strstr(errbuf, "Address already in use") != NULL);
    }
    close(s.fd);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0)
            T_CHECK(!"write");
        fchmod(fd, mode);
        close(fd);
    }
}

static void test_token_file(void)
{
    char path[512], link[512];
    char *tok = NULL;

    snprintf(path, sizeof path, "%s/token", dir);
    write_file(path, "s3cr3t-t0ken-0123456789\n", 0600);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), 0);
    T_EQ_STR(tok, "s3cr3t-t0ken-0123456789");
    free(tok);
    tok = NULL;
    write_file(path, "s3cr3t-t0ken-0123456789\r\nsecond line ignored\n", 0400);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), 0);
    T_EQ_STR(tok, "s3cr3t-t0ken-0123456789");
    free(tok);
    tok = NULL;

    write_file(path, "s3cr3t-t0ken-0123456789\n", 0640);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "is accessible by others (mode 0640): chmod 600 it") != NULL);
    T_CHECK(tok == NULL);
    write_file(path, "s3cr3t-t0ken-0123456789\n", 0604);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), -1);
    write_file(path, "short\n", 0600);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "the token must be 16 to 4096 characters, it has 5") != NULL);
    write_file(path, "has a space in it, so no good\n", 0600);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "printable ASCII without spaces") != NULL);
    write_file(path, "", 0600);
    T_EQ_INT(relay_read_token(path, &tok, errbuf, sizeof errbuf), -1);

    /* a symbolic link is not followed, a directory is not a token */
    write_file(path, "s3cr3t-t0ken-0123456789\n", 0600);
    snprintf(link, sizeof link, "%s/link", dir);
    T_EQ_INT(symlink(path, link), 0);
    T_EQ_INT(relay_read_token(link, &tok, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "symbolic link") != NULL);
    T_EQ_INT(relay_read_token(dir, &tok, errbuf, sizeof errbuf), -1);
    snprintf(link, sizeof link, "%s/missing", dir);
    T_EQ_INT(relay_read_token(link, &tok, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "No such file") != NULL);
}

static void test_token_compare(void)
{
    const char *t = "s3cr3t-t0ken-0123456789";

    T_EQ_INT(relay_token_equal(t, t, strlen(t)), 1);
    T_EQ_INT(relay_token_equal(t, "s3cr3t-t0ken-0123456788", 23), 0);
    T_EQ_INT(relay_token_equal(t, "S3cr3t-t0ken-0123456789", 23), 0);
    T_EQ_INT(relay_token_equal(t, "s3cr3t-t0ken-012345678", 22), 0);    /* a prefix */
    T_EQ_INT(relay_token_equal(t, "s3cr3t-t0ken-01234567890", 24), 0);  /* longer */
    T_EQ_INT(relay_token_equal(t, "", 0), 0);
    /* len counts: a NUL inside the given bytes is not an end */
    T_EQ_INT(relay_token_equal(t, "s3cr3t-t0ken-0123456789\0x", 25), 0);
}

static void test_sd_notify(void)
{
    struct sockaddr_un sun;
    char path[100], got[256];
    ssize_t n;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    snprintf(path, sizeof path, "%.60s/notify", dir);
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    T_EQ_INT(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    unsetenv("NOTIFY_SOCKET");
    T_EQ_INT(relay_sd_notify("READY=1"), 0);     /* not asked for: nothing to do */
    setenv("NOTIFY_SOCKET", path, 1);
    T_EQ_INT(relay_sd_notify("READY=1\nSTATUS=listening"), 0);
    n = recv(fd, got, sizeof got - 1, MSG_DONTWAIT);
    T_EQ_INT(n, 24);
    if (n > 0) {
        got[n] = '\0';
        T_EQ_STR(got, "READY=1\nSTATUS=listening");
    }
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    T_EQ_INT(relay_sd_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
    close(fd);
}

static void test_socket_activation(void)
{
    struct relay_socket socks[4];
    struct sockaddr_storage a;
    struct relay_socket s;
    socklen_t len;
    char pid[32], shown[128], want[128];
    int saved = dup(3);

    /* not for us: another process's LISTEN_PID */
    setenv("LISTEN_PID", "1", 1);
    setenv("LISTEN_FDS", "1", 1);
    T_EQ_INT(relay_activated_sockets(socks, 4, errbuf, sizeof errbuf), 0);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    T_EQ_INT(relay_activated_sockets(socks, 4, errbuf, sizeof errbuf), 0);

    /* a listening socket at fd 3, as systemd passes it */
    T_EQ_INT(relay_parse_listen("127.0.0.1:0", &a, &len, errbuf, sizeof errbuf), 0);
    T_EQ_INT(relay_listen(&a, len, 8, &s, errbuf, sizeof errbuf), 0);
    relay_format_addr(&s.addr, want, sizeof want);
    if (s.fd != 3) {   /* fd 3 may have been free, and so the new socket's */
        T_EQ_INT(dup2(s.fd, 3), 3);
        close(s.fd);
    }
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    if (!T_EQ_INT(relay_activated_sockets(socks, 4, errbuf, sizeof errbuf), 1))
        printf("  error: %s\n", errbuf);
    T_EQ_INT(socks[0].fd, 3);
    T_EQ_INT(socks[0].activated, 1);
    relay_format_addr(&socks[0].addr, shown, sizeof shown);
    T_EQ_STR(shown, want);
    T_CHECK(getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL);

    /* a socket that does not listen is refused with a word on the unit */
    close(3);
    T_EQ_INT(dup2(socket(AF_INET, SOCK_STREAM, 0), 3), 3);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    T_EQ_INT(relay_activated_sockets(socks, 4, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "not a listening stream socket") != NULL);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "9", 1);
    T_EQ_INT(relay_activated_sockets(socks, 4, errbuf, sizeof errbuf), -1);
    T_CHECK(strstr(errbuf, "at most 4") != NULL);
    close(3);
    if (saved >= 0) {
        dup2(saved, 3);
        close(saved);
    }
}

int main(void)
{
    char cmd[128];

    if (mkdtemp(dir) == NULL) {
        T_CHECK(!"mkdtemp");
        return t_done();
    }
    test_listen_spec();
    test_listen_port0();
    test_token_file();
    test_token_compare();
    test_sd_notify();
    test_socket_activation();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("cannot remove %s\n", dir);
    return t_done();
}

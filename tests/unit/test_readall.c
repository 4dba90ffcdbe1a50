/*
 * test_readall.c: anon_read_all, the one function that reads a whole stream, on pipes
 * (empty, small, large in small pieces, endless, interrupted by a signal), regular files
 * (exactly at, one byte over, and from an offset), and descriptors that cannot be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

/* Byte i of the test pattern: every value, NUL included, so nothing stops at a NUL. */
static char pat(size_t i)
{
    return (char)((i * 7 + i / 251) & 0xff);
}

static int pattern_ok(const char *buf, size_t from, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pat(from + i))
            return 0;
    return 1;
}

/* A pipe whose writer (a child) writes total bytes of the pattern in pieces of chunk
 * bytes, or without end when total is SIZE_MAX, after waiting delay_ms. Returns the
 * read end; the child's pid goes to *ret_pid. */
static int writer(size_t total, size_t chunk, int delay_ms, pid_t *ret_pid)
{
    int p[2];
    pid_t pid;

    if (pipe(p) != 0)
        return -1;
    if ((pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        char buf[4096];
        size_t off = 0;
        close(p[0]);
        signal(SIGPIPE, SIG_DFL);
        if (delay_ms > 0)
            usleep((useconds_t)delay_ms * 1000);
        while (off < total) {
            size_t n = total - off < chunk ? total - off : chunk;
            if (n > sizeof buf)
                n = sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = pat(off + i);
            if (write(p[1], buf, n) != (ssize_t)n)
                _exit(1);
            off += n;
        }
        _exit(0);
    }
    close(p[1]);
    *ret_pid = pid;
    return p[0];
}

/* A temporary regular file holding len bytes of the pattern; its descriptor, unlinked. */
static int pattern_file(size_t len)
{
    char path[] = "/tmp/test_readall.XXXXXX";
    char buf[4096];
    int fd = mkstemp(path);
    size_t off = 0;

    if (fd < 0)
        return -1;
    unlink(path);
    while (off < len) {
        size_t n = len - off < sizeof buf ? len - off : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pat(off + i);
        if (write(fd, buf, n) != (ssize_t)n) {
            close(fd);
            return -1;
        }
        off += n;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static int wait_child(pid_t pid)
{
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void test_pipes(void)
{
    char *buf = (char *)1;
    size_t len = 99;
    pid_t pid;
    int fd;

    /* nothing at all: an empty, NUL-terminated buffer, not NULL */
    fd = writer(0, 1, 0, &pid);
    T_EQ_INT(anon_read_all(fd, SIZE_MAX, &buf, &len), 0);
    T_CHECK(buf != NULL && buf[0] == '\0');
    T_EQ_INT(len, 0);
    free(buf);
    close(fd);
    T_EQ_INT(wait_child(pid), 0);

    /* 1 MiB and a bit in 1000-byte pieces: many reads, many growths, NULs kept */
    size_t big = ((size_t)1 << 20) + 7;
    fd = writer(big, 1000, 0, &pid);
    T_EQ_INT(anon_read_all(fd, SIZE_MAX, &buf, &len), 0);
    T_EQ_INT(len, big);
    T_CHECK(buf != NULL && pattern_ok(buf, 0, big) && buf[big] == '\0');
    free(buf);
    close(fd);
    T_EQ_INT(wait_child(pid), 0);

    /* exactly max bytes is accepted */
    fd = writer(5000, 300, 0, &pid);
    T_EQ_INT(anon_read_all(fd, 5000, &buf, &len), 0);
    T_EQ_INT(len, 5000);
    T_CHECK(buf != NULL && pattern_ok(buf, 0, 5000));
    free(buf);
    close(fd);
    wait_child(pid);

    /* one byte more is EFBIG, and nothing is handed back */
    fd = writer(5001, 300, 0, &pid);
    buf = (char *)1;
    len = 99;
    T_EQ_INT(anon_read_all(fd, 5000, &buf, &len), EFBIG);
    T_CHECK(buf == NULL);
    T_EQ_INT(len, 0);
    close(fd);
    wait_child(pid);

    /* an endless stream: EFBIG at the limit, not a read that never ends (the writer
     * then dies of SIGPIPE once the read end is closed) */
    fd = writer(SIZE_MAX, 4096, 0, &pid);
    T_EQ_INT(anon_read_all(fd, (size_t)1 << 20, &buf, &len), EFBIG);
    close(fd);
    int st = wait_child(pid);
    T_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE);

    /* a signal during a blocked read (no SA_RESTART): read again, lose nothing */
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, &old);
    alarms = 0;
    fd = writer(3000, 3000, 300, &pid);
    ualarm(50000, 0);
    T_EQ_INT(anon_read_all(fd, SIZE_MAX, &buf, &len), 0);
    T_CHECK(alarms == 1);
    T_EQ_INT(len, 3000);
    T_CHECK(buf != NULL && pattern_ok(buf, 0, 3000));
    free(buf);
    close(fd);
    wait_child(pid);
    sigaction(SIGALRM, &old, NULL);
}

static void test_files(void)
{
    char *buf = NULL;
    size_t len = 0;
    size_t n = 200000;
    int fd;

    /* a regular file, sized up front: exact content at max == size */
    fd = pattern_file(n);
    T_CHECK(fd >= 0);
    T_EQ_INT(anon_read_all(fd, n, &buf, &len), 0);
    T_EQ_INT(len, n);
    T_CHECK(buf != NULL && pattern_ok(buf, 0, n) && buf[n] == '\0');
    free(buf);

    /* one byte over the limit */
    lseek(fd, 0, SEEK_SET);
    buf = (char *)1;
    T_EQ_INT(anon_read_all(fd, n - 1, &buf, &len), EFBIG);
    T_CHECK(buf == NULL);

    /* from where the descriptor stands, not from the start of the file */
    lseek(fd, 1234, SEEK_SET);
    T_EQ_INT(anon_read_all(fd, SIZE_MAX, &buf, &len), 0);
    T_EQ_INT(len, n - 1234);
    T_CHECK(buf != NULL && pattern_ok(buf, 1234, n - 1234));
    free(buf);
    close(fd);

    /* max 0: an empty file is fine, a single byte is too much */
    fd = pattern_file(0);
    T_EQ_INT(anon_read_all(fd, 0, &buf, &len), 0);
    T_EQ_INT(len, 0);
    free(buf);
    close(fd);
    fd = pattern_file(1);
    T_EQ_INT(anon_read_all(fd, 0, &buf, &len), EFBIG);
    close(fd);
}

static void test_errors(void)
{
    char *buf = (char *)1;
    size_t len = 99;
    int fd;

    /* read(2)'s own error comes back, so a command can name it */
    fd = open("/", O_RDONLY | O_DIRECTORY);
    T_CHECK(fd >= 0);
    T_EQ_INT(anon_read_all(fd, SIZE_MAX, &buf, &len), EISDIR);
    T_CHECK(buf == NULL);
    T_EQ_INT(len, 0);
    close(fd);

    fd = pattern_file(10);
    close(fd);
    buf = (char *)1;
    T_EQ_INT(anon_read_all(fd, SIZE_MAX, &buf, &len), EBADF);
    T_CHECK(buf == NULL);
}

int main(void)
{
    test_pipes();
    test_files();
    test_errors();
    return t_done();
}

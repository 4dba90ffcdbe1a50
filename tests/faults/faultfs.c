/*
 * faultfs.c: an LD_PRELOAD shim that makes chosen writes and syncs fail, to prove
 * that the spool reports I/O errors and is never left corrupt by them.
 *
 *   FAULTFS_FAIL=write,pwrite,fsync,ftruncate  which calls may fail (any of ",|"
 *                        separated): write = write(2); pwrite = pwrite/pwrite64 (SQLite's
 *                        page writes); fsync = fsync/fdatasync; ftruncate = ftruncate(64);
 *                        "all" = every one of them
 *   FAULTFS_PATH=substr  only calls on fds whose path (/proc/self/fd) contains substr;
 *                        unset: any regular file except standard input, output and error
 *   FAULTFS_AFTER=N      the Nth matching call and every later one fail (1-based);
 *                        unset or 0: none fails (only counted)
 *   FAULTFS_COUNT=K      only K calls fail from the Nth on (default: all later ones)
 *   FAULTFS_ERRNO=EIO|ENOSPC|EDQUOT|EROFS   the errno of a failed call (default EIO)
 *   FAULTFS_LOG=file     at exit, appends "calls=<matching calls> failed=<failed calls>"
 *
 * Under AddressSanitizer (gcc) the ASan runtime must come first in LD_PRELOAD; its
 * interceptors then call into this shim, which calls the C library (RTLD_NEXT).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { OP_WRITE = 1, OP_PWRITE = 2, OP_FSYNC = 4, OP_FTRUNCATE = 8 };

static int ops_mask;
static const char *path_sub;
static unsigned long fail_after, fail_count = (unsigned long)-1;
static int fail_errno = EIO;
static const char *log_path;
static unsigned long n_calls, n_failed;

static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);

static void resolve(void)
{
    if (real_write != NULL)
        return;
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = (ssize_t(*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = (int (*)(int, off64_t))dlsym(RTLD_NEXT, "ftruncate64");
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
}

__attribute__((constructor)) static void faultfs_init(void)
{
    const char *v;

    resolve();
    if ((v = getenv("FAULTFS_FAIL")) != NULL) {
        if (strstr(v, "all"))
            ops_mask = OP_WRITE | OP_PWRITE | OP_FSYNC | OP_FTRUNCATE;
        /* "pwrite" contains "write": look at whole words */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *save = NULL, *w = strtok_r(buf, ",| ", &save); w != NULL;
             w = strtok_r(NULL, ",| ", &save)) {
            if (strcmp(w, "write") == 0)
                ops_mask |= OP_WRITE;
            else if (strcmp(w, "pwrite") == 0 || strcmp(w, "pwrite64") == 0)
                ops_mask |= OP_PWRITE;
            else if (strcmp(w, "fsync") == 0 || strcmp(w, "fdatasync") == 0)
                ops_mask |= OP_FSYNC;
            else if (strcmp(w, "ftruncate") == 0)
                ops_mask |= OP_FTRUNCATE;
        }
    }
    if ((v = getenv("FAULTFS_PATH")) != NULL && *v != '\0')
        path_sub = v;
    if ((v = getenv("FAULTFS_AFTER")) != NULL)
        fail_after = strtoul(v, NULL, 10);
    if ((v = getenv("FAULTFS_COUNT")) != NULL && *v != '\0')
        fail_count = strtoul(v, NULL, 10);
    if ((v = getenv("FAULTFS_ERRNO")) != NULL) {
        if (strcmp(v, "ENOSPC") == 0)
            fail_errno = ENOSPC;
        else if (strcmp(v, "EDQUOT") == 0)
            fail_errno = EDQUOT;
        else if (strcmp(v, "EROFS") == 0)
            fail_errno = EROFS;
        else
            fail_errno = EIO;
    }
    log_path = getenv("FAULTFS_LOG");
}

__attribute__((destructor)) static void faultfs_fini(void)
{
    char line[96];
    int fd, n;

    if (log_path == NULL || *log_path == '\0')
        return;
    fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    n = snprintf(line, sizeof line, "calls=%lu failed=%lu\n", n_calls, n_failed);
    if (n > 0)
        (void)!real_write(fd, line, (size_t)n);
    close(fd);
}

/* Does a call of kind op on fd match the filter? */
static int matches(int op, int fd)
{
    char link[64], target[4096];
    ssize_t n;
    struct stat st;

    if (!(ops_mask & op) || fd < 0)
        return 0;
    if (path_sub == NULL) {
        if (fd <= 2 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
            return 0;
        return 1;
    }
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return strstr(target, path_sub) != NULL;
}

/* 1 when this matching call must fail (errno is then set). */
static int should_fail(int op, int fd)
{
    int saved = errno;

    if (!matches(op, fd)) {
        errno = saved;
        return 0;
    }
    n_calls++;
    errno = saved;
    if (fail_after == 0 || n_calls < fail_after || n_failed >= fail_count)
        return 0;
    n_failed++;
    errno = fail_errno;
    return 1;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    resolve();
    if (should_fail(OP_WRITE, fd))
        return -1;
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    resolve();
    if (should_fail(OP_PWRITE, fd))
        return -1;
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    resolve();
    if (should_fail(OP_PWRITE, fd))
        return -1;
    return real_pwrite64(fd, buf, n, off);
}

int fsync(int fd)
{
    resolve();
    if (should_fail(OP_FSYNC, fd))
        return -1;
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    resolve();
    if (should_fail(OP_FSYNC, fd))
        return -1;
    return real_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
    resolve();
    if (should_fail(OP_FTRUNCATE, fd))
        return -1;
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    resolve();
    if (should_fail(OP_FTRUNCATE, fd))
        return -1;
    return real_ftruncate64(fd, len);
}

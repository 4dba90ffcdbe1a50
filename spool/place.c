/*
 * place.c: where a spool may live, whose it is, and working as its owner.
 *
 * The rules (in the spirit of OpenSSH's StrictModes), checked on every open:
 *
 * - The spool file itself is never a symbolic link: SQLite makes the -wal and -shm beside
 *   the file a link points to, in a directory nobody checked. A symlinked spool file is
 *   refused (give the real path); SQLITE_OPEN_NOFOLLOW closes the race.
 * - Directories on the way may be links (/var/run -> /run), but a link owned by someone
 *   other than root must point to something its owner owns, as the kernel's
 *   protected_symlinks would have it: otherwise a user could steer a root job into /etc.
 * - The spool's directory (the real one) is writable by its owner only, or it is a
 *   shared directory owned by root with the sticky bit (/tmp), where nobody can rename
 *   or remove another user's files. Anything else writable by group or others is refused.
 * - The spool's owner is the owner of its directory (in a shared sticky directory: of the
 *   spool file, else whoever creates it). The spool file and its -wal and -shm, when they
 *   are there, are regular files of that owner: a link or someone else's file planted
 *   beside the spool is refused, never followed.
 *
 * Root: the commands (writer, shipper, operator commands) do their work as the spool's
 * owner when it is another user (anon_spool_act_as_owner, before anything is opened),
 * so that root never creates a file in a directory someone else controls, and never
 * leaves root-owned files that lock the owner out of their own spool. The library never
 * changes its caller's identity: opened by a root process it applies the same checks,
 * and gives a spool and directories it creates in another user's directory to that user.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The directory part of path ("." for a bare name, "/" for a file in /); malloc'd. */
static char *dir_of(const char *path)
{
    char *dir = malloc(strlen(path) + 2);
    char *slash;

    if (dir == NULL)
        return NULL;
    memcpy(dir, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == dir) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
    }
    return dir;
}

/* A directory writable by group or others that is not root's sticky shared kind. */
static int shared_sticky(const struct stat *st)
{
    return (st->st_mode & (S_IWGRP | S_IWOTH)) && st->st_uid == 0 && (st->st_mode & S_ISVTX);
}

/*
 * Every symbolic link among the directories of dir (each prefix, as the kernel walks
 * it) must be owned by root or by the owner of what it points to. Stops quietly at the
 * first component that does not exist (it is created later, by us).
 */
static int check_links(const char *dir, char *err, size_t errlen)
{
    char *p = strdup(dir);
    int rc = ANON_OK;

    if (p == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    for (char *c = p + 1;; c++) {
        struct stat lst, tst;
        char save;

        if (*c != '/' && *c != '\0')
            continue;
        save = *c;
        *c = '\0';
        if (lstat(p, &lst) != 0)
            break;
        if (S_ISLNK(lst.st_mode) && lst.st_uid != 0 &&
            (stat(p, &tst) != 0 || tst.st_uid != lst.st_uid)) {
            char real[PATH_MAX];

            if (realpath(p, real) == NULL)
                snprintf(real, sizeof real, "a path that does not exist");
            rc = anon_seterr(err, errlen, ANON_EPERM,
                             "refusing spool path %s: %s is a symbolic link of uid %u to %s, "
                             "which uid %u does not own",
                             dir, p, (unsigned)lst.st_uid, real, (unsigned)lst.st_uid);
            break;
        }
        *c = save;
        if (save == '\0')
            break;
    }
    free(p);
    return rc;
}

/* The owner of dir, or of its nearest ancestor that exists (dir is about to be made). */
static int nearest_existing(const char *dir, struct stat *ret_st, char *err, size_t errlen)
{
    char *p = strdup(dir);
    int rc = ANON_OK;

    if (p == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    while (stat(p, ret_st) != 0) {
        char *slash = strrchr(p, '/');

        if (errno != ENOENT) {
            rc = anon_seterr(err, errlen, ANON_ECANTCREAT, "spool directory %s: %s", p,
                             strerror(errno));
            break;
        }
        if (slash == NULL)
            snprintf(p, strlen(p) + 1, ".");
        else if (slash == p)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    free(p);
    return rc;
}

/* mkdir -p with mode 0700 for every directory it creates; created directories are given
 * to uid/gid when root makes them for another user. */
static int make_dirs(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
    char *tmp = strdup(dir);
    int rc = ANON_OK;

    if (tmp == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(tmp, 0700) == 0) {
            if (geteuid() == 0 && uid != 0 && lchown(tmp, uid, gid) != 0) {
                rc = anon_seterr(err, errlen, ANON_ECANTCREAT,
                                 "cannot give directory %s to uid %u: %s", tmp,
                                 (unsigned)uid, strerror(errno));
                break;
            }
        } else if (errno != EEXIST) {
            rc = anon_seterr(err, errlen, ANON_ECANTCREAT, "cannot create directory %s: %s",
                             tmp, strerror(errno));
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(tmp);
    return rc;
}

/* The spool's path with its directory resolved (links on the way followed once, here,
 * after they were checked), for SQLITE_OPEN_NOFOLLOW, which takes no link anywhere. */
static int real_path(const char *path, const char *dir, char *buf, size_t buflen, char *err,
                     size_t errlen)
{
    const char *base = strrchr(path, '/');
    char real[PATH_MAX];

    base = base != NULL ? base + 1 : path;
    if (realpath(dir, real) == NULL)
        return anon_seterr(err, errlen, ANON_EIO, "spool directory %s: %s", dir,
                           strerror(errno));
    if (snprintf(buf, buflen, "%s%s%s", real, strcmp(real, "/") == 0 ? "" : "/", base) >=
        (int)buflen)
        return anon_seterr(err, errlen, ANON_EINVAL, "spool path is too long");
    return ANON_OK;
}

/* A -wal or -shm beside the spool, when there: a regular file of the spool's owner. */
static int check_companion(const char *path, const char *suffix, uid_t owner, char *err,
                           size_t errlen)
{
    char p[PATH_MAX + 8];
    struct stat st;

    if (snprintf(p, sizeof p, "%s%s", path, suffix) >= (int)sizeof p)
        return anon_seterr(err, errlen, ANON_EINVAL, "spool path is too long");
    if (lstat(p, &st) != 0)
        return errno == ENOENT ? ANON_OK
                               : anon_seterr(err, errlen, ANON_EIO, "%s: %s", p,
                                             strerror(errno));
    if (S_ISLNK(st.st_mode))
        return anon_seterr(err, errlen, ANON_EPERM,
                           "refusing spool %s: %s is a symbolic link (never followed): "
                           "remove it", path, p);
    if (!S_ISREG(st.st_mode))
        return anon_seterr(err, errlen, ANON_EPERM,
                           "refusing spool %s: %s is not a regular file: remove it", path, p);
    if (st.st_uid != owner)
        return anon_seterr(err, errlen, ANON_EPERM,
                           "refusing spool %s: %s belongs to uid %u, not to the spool's "
                           "owner (uid %u)", path, p, (unsigned)st.st_uid, (unsigned)owner);
    return ANON_OK;
}

int anon_spool_check_place(const char *path, int create, struct anon_spool_place *ret,
                           char *err, size_t errlen)
{
    char *dir = dir_of(path);
    struct stat st, fst;
    int rc;

    memset(ret, 0, sizeof *ret);
    if (dir == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    if ((rc = check_links(dir, err, errlen)) != ANON_OK)
        goto done;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || !create) {
            rc = anon_seterr(err, errlen, create ? ANON_ECANTCREAT : ANON_EIO,
                             "spool directory %s: %s", dir, strerror(errno));
            goto done;
        }
        /* new directories belong to whoever owns the one they are made in */
        if ((rc = nearest_existing(dir, &st, err, errlen)) != ANON_OK)
            goto done;
        if (shared_sticky(&st)) {
            st.st_uid = geteuid();
            st.st_gid = getegid();
        }
        if ((rc = make_dirs(dir, st.st_uid, st.st_gid, err, errlen)) != ANON_OK)
            goto done;
        if (stat(dir, &st) != 0) {
            rc = anon_seterr(err, errlen, ANON_ECANTCREAT, "spool directory %s: %s", dir,
                             strerror(errno));
            goto done;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = anon_seterr(err, errlen, ANON_ECANTCREAT, "spool directory %s is not a directory",
                         dir);
        goto done;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !shared_sticky(&st)) {
        rc = anon_seterr(err, errlen, ANON_EPERM,
                         "refusing spool directory %s: it is %s (mode %04o); use a directory "
                         "only its owner can write",
                         dir, (st.st_mode & S_IWOTH) ? "world-writable" : "group-writable",
                         (unsigned)(st.st_mode & 07777));
        goto done;
    }
    ret->uid = st.st_uid;
    ret->gid = st.st_gid;
    if ((rc = real_path(path, dir, ret->real, sizeof ret->real, err, errlen)) != ANON_OK)
        goto done;
    if (lstat(path, &fst) != 0) {
        if (errno != ENOENT) {
            rc = anon_seterr(err, errlen, ANON_EIO, "spool %s: %s", path, strerror(errno));
            goto done;
        }
        if (shared_sticky(&st)) {
            ret->uid = geteuid();
            ret->gid = getegid();
        }
    } else {
        ret->exists = 1;
        if (S_ISLNK(fst.st_mode)) {
            char real[PATH_MAX];

            if (realpath(path, real) == NULL)
                snprintf(real, sizeof real, "a path that does not exist");
            rc = anon_seterr(err, errlen, ANON_EPERM,
                             "refusing spool %s: it is a symbolic link (to %s); give the "
                             "path of the file itself (SQLite would keep its -wal and -shm "
                             "beside the file the link points to)",
                             path, real);
            goto done;
        }
        if (!S_ISREG(fst.st_mode)) {
            rc = anon_seterr(err, errlen, ANON_EIO, "spool %s is not a regular file", path);
            goto done;
        }
        if (shared_sticky(&st)) {
            /* in a shared directory the file says whose it is; a user only uses their own */
            ret->uid = fst.st_uid;
            ret->gid = fst.st_gid;
            if (geteuid() != 0 && fst.st_uid != geteuid()) {
                rc = anon_seterr(err, errlen, ANON_EPERM,
                                 "refusing spool %s: it belongs to uid %u in the shared "
                                 "directory %s", path, (unsigned)fst.st_uid, dir);
                goto done;
            }
        } else if (fst.st_uid != st.st_uid) {
            rc = anon_seterr(err, errlen, ANON_EPERM,
                             "refusing spool %s: it belongs to uid %u but its directory %s "
                             "to uid %u; the directory's owner must own the spool",
                             path, (unsigned)fst.st_uid, dir, (unsigned)st.st_uid);
            goto done;
        }
    }
    if ((rc = check_companion(path, "-wal", ret->uid, err, errlen)) != ANON_OK ||
        (rc = check_companion(path, "-shm", ret->uid, err, errlen)) != ANON_OK)
        goto done;
done:
    free(dir);
    return rc;
}

int anon_spool_act_as_owner(const char *path, uid_t *ret_uid, char *err, size_t errlen)
{
    struct anon_spool_place pl;
    struct passwd *pw;
    struct stat st;
    char *dir;
    gid_t gid;
    int rc;

    if (ret_uid != NULL)
        *ret_uid = geteuid();
    if (geteuid() != 0)
        return ANON_OK;
    if ((dir = dir_of(path)) == NULL)
        return anon_seterr(err, errlen, ANON_ENOMEM, "out of memory");
    if (stat(dir, &st) != 0 && errno == ENOENT) {
        /* not made yet: it will belong to the owner of the directory it is made in */
        rc = check_links(dir, err, errlen);
        if (rc == ANON_OK)
            rc = nearest_existing(dir, &st, err, errlen);
        free(dir);
        if (rc != ANON_OK)
            return rc;
        pl.uid = shared_sticky(&st) ? 0 : st.st_uid;
        pl.gid = st.st_gid;
    } else {
        free(dir);
        if ((rc = anon_spool_check_place(path, 0, &pl, err, errlen)) != ANON_OK)
            return rc;
    }
    if (pl.uid == 0)
        return ANON_OK;
    /* the owner's own groups when the system knows the user, else only the file's group */
    pw = getpwuid(pl.uid);
    gid = pw != NULL ? pw->pw_gid : pl.gid;
    if ((pw != NULL ? initgroups(pw->pw_name, gid) : setgroups(1, &gid)) != 0 ||
        setgid(gid) != 0 || setuid(pl.uid) != 0)
        return anon_seterr(err, errlen, ANON_EPERM,
                           "spool %s belongs to uid %u: cannot work as that user: %s", path,
                           (unsigned)pl.uid, strerror(errno));
    if (setuid(0) == 0)
        return anon_seterr(err, errlen, ANON_EPERM,
                           "spool %s: could not give up root to work as uid %u", path,
                           (unsigned)pl.uid);
    if (ret_uid != NULL)
        *ret_uid = pl.uid;
    return ANON_OK;
}

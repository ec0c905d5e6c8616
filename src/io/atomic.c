/*
 * Atomic file replacement: write a temporary file next to the target, make
 * it durable (fflush, fsync), rename it over the target and fsync the
 * directory so that the rename itself survives a crash. The usual POSIX
 * recipe (rename(2) is atomic within a file system); see reliability.md §A4.
 * A reader sees the old file or the new one, never a partial one.
 *
 * A writer killed before its rename leaves its temporary file. Its name
 * "PATH.tmp.<pid>.XXXXXX" says whose it is, and the writer holds an
 * open-file-description lock (F_OFD_SETLK) on it until the rename, so that
 * vidai_atomic_remove_stale can tell a dead writer's file from a live one's:
 * it removes a file of that exact form when the process <pid> no longer
 * exists here (kill(pid, 0) fails with ESRCH) and no one holds a lock on it.
 * The PID alone could be another machine's (a shared file system) or another
 * PID namespace's; the lock covers those, and is released by the kernel when
 * its holder dies (on NFS, when the client's lease runs out). Between creating
 * the file and locking it, only the PID speaks for it, which on another
 * machine means nothing for those microseconds. A reused PID keeps a dead
 * writer's file until that process ends: the safe side. Files of the form
 * "PATH.tmp.XXXXXX", written by versions without the PID, are removed once
 * unmodified for 15 minutes and unlocked. Only regular files are removed,
 * never through a symlink. It costs one readdir of the folder, which is why
 * every write does not do it: a folder of 10^5 videos written one by one
 * would be read 10^5 times.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"

/*
 * The process umask, for giving a new file the mode fopen would have given
 * it (mkstemp makes 0600). umask(2) cannot be read without being set, which
 * races with other threads, so read it from /proc; if that fails, keep the
 * file private.
 */
static mode_t current_umask(void)
{
    char line[128];
    mode_t mask = 077;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return mask;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Umask:", 6) == 0) {
            mask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
            break;
        }
    }
    fclose(f);
    return mask;
}

/* Fault injection for the tests (io.h): the step-th of the steps below fails with err. */
static atomic_int fail_step, fail_errno;

void vidai_io_fail_at(int step, int err)
{
    atomic_store(&fail_errno, err);
    atomic_store(&fail_step, step > 0 ? step : 0);
}

/* 1 (errno set) when this step is the one to fail. */
static int injected(void)
{
    if (atomic_load_explicit(&fail_step, memory_order_relaxed) > 0 && atomic_fetch_sub(&fail_step, 1) == 1) {
        errno = atomic_load(&fail_errno);
        return 1;
    }
    return 0;
}

/* Kill points for the tests (io.h): the next write stops itself (SIGSTOP) at stop_point. */
static atomic_int stop_point;
static atomic_llong stop_bytes;

void vidai_io_stop_at(int point, int64_t after_bytes)
{
    atomic_store(&stop_bytes, after_bytes > 0 ? after_bytes : 0);
    atomic_store(&stop_point, point > 0 ? point : 0);
}

/* Stops the process here when point is the armed one (once). */
static void stop_if(int point)
{
    int want = point;
    if (atomic_load_explicit(&stop_point, memory_order_relaxed) == point &&
        atomic_compare_exchange_strong(&stop_point, &want, 0))
        raise(SIGSTOP);
}

/*
 * The temporary file under VIDAI_IO_STOP_AFTER_BYTES: a stdio stream over fd
 * that counts the bytes written and stops the process once the first
 * stop_bytes of them are in the file, so that a kill lands exactly there.
 */
struct counted {
    int fd;
    int64_t written, stop; /* stop < 0: done */
};

static ssize_t counted_write(void *arg, const char *buf, size_t size)
{
    struct counted *c = arg;
    size_t done = 0;
    while (done < size) {
        size_t n = size - done;
        ssize_t k;
        if (c->stop > c->written && (int64_t)n > c->stop - c->written)
            n = (size_t)(c->stop - c->written);
        k = write(c->fd, buf + done, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
        c->written += k;
        if (c->stop >= 0 && c->written >= c->stop) {
            c->stop = -1;
            stop_if(VIDAI_IO_STOP_AFTER_BYTES);
        }
    }
    return (ssize_t)size;
}

static int counted_seek(void *arg, off64_t *offset, int whence)
{
    struct counted *c = arg;
    off_t at = lseek(c->fd, (off_t)*offset, whence);
    if (at < 0)
        return -1;
    *offset = at;
    return 0;
}

static int counted_close(void *arg)
{
    struct counted *c = arg;
    int rc = close(c->fd);
    vidai_free(c);
    return rc;
}

static FILE *open_counted(int fd, int64_t stop)
{
    static const cookie_io_functions_t io = {NULL, counted_write, counted_seek, counted_close};
    struct counted *c = vidai_malloc(sizeof *c);
    FILE *f;
    if (!c)
        return NULL;
    c->fd = fd;
    c->written = 0;
    c->stop = stop;
    if (!(f = fopencookie(c, "wb", io)))
        vidai_free(c);
    return f;
}

/* A replaced file keeps its mode; a new one gets 0666 less the umask. */
static void set_mode(int fd, const char *path)
{
    struct stat st;
    mode_t mode;
    if (stat(path, &st) == 0)
        mode = st.st_mode & 0777;
    else
        mode = 0666 & ~current_umask();
    /* On failure the file stays 0600, which is safe. */
    if (fchmod(fd, mode) != 0)
        return;
}

/* Writes the folder of path ("." for a bare name) to out, which holds strlen(path) + 1 bytes. */
static void dir_name(char *out, const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash) {
        strcpy(out, ".");
        return;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    memcpy(out, path, n);
    out[n] = '\0';
}

static int sync_dir(const char *path)
{
    char *dir = vidai_malloc(strlen(path) + 1);
    int fd, rc = VIDA_OK;

    if (!dir)
        return VIDA_ENOMEM;
    dir_name(dir, path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = vidai_error(VIDA_EIO, "%s: open directory %s to fsync it: %s", path, dir,
                         strerror(errno));
    } else {
        /* EINVAL: this file system cannot sync directories; nothing more to do. */
        if (injected() || (fsync(fd) != 0 && errno != EINVAL))
            rc = vidai_error(VIDA_EIO, "%s: fsync directory %s: %s", path, dir, strerror(errno));
        close(fd);
    }
    vidai_free(dir);
    return rc;
}

/* ---- temporary files of killed writers ---------------------------------------------- */

/* A temporary file of the older form (no PID) is taken for a dead writer's after this long. */
#define OLD_FORM_AGE_S (15 * 60)

/* 1 when s is exactly six letters or digits: what mkstemp puts in place of XXXXXX. */
static int is_random6(const char *s)
{
    for (int i = 0; i < 6; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return s[6] == '\0';
}

/*
 * Whose temporary file of base name is: 1 with *pid set for "base.tmp.<pid>.XXXXXX" (pid
 * written without leading zeros, > 0), 0 for the older "base.tmp.XXXXXX", -1 for any other
 * name.
 */
static int temp_form(const char *name, const char *base, size_t base_len, pid_t *pid)
{
    const char *s = name + base_len + 5;
    long long v = 0;
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp.", 5) != 0)
        return -1;
    if (is_random6(s))
        return 0;
    if (*s < '1' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((v = v * 10 + (*s - '0')) > INT_MAX)
            return -1;
    if (*s != '.' || !is_random6(s + 1))
        return -1;
    *pid = (pid_t)v;
    return 1;
}

/*
 * 1 when no process holds a lock on the regular file name whose lstat is st (a writer holds
 * one until its rename); 0 when one does, or when that cannot be learnt (the file cannot be
 * opened, was replaced since, or the file system cannot tell): then the file stays.
 */
static int unlocked(int dirfd, const char *name, const struct stat *st)
{
    struct flock lk;
    struct stat now;
    int fd, is_free = 0;
    /* O_NONBLOCK: were it replaced by a FIFO since, opening would wait for a writer */
    fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK; /* whole file; any lock conflicts with a write lock */
    lk.l_whence = SEEK_SET;
    if (fstat(fd, &now) == 0 && S_ISREG(now.st_mode) && now.st_dev == st->st_dev &&
        now.st_ino == st->st_ino && fcntl(fd, F_OFD_GETLK, &lk) == 0)
        is_free = lk.l_type == F_UNLCK;
    close(fd);
    return is_free;
}

int vidai_atomic_remove_stale(const char *path)
{
    const char *slash, *base;
    char dir[PATH_MAX];
    size_t base_len;
    DIR *d;
    struct dirent *e;
    int fd, removed = 0;

    if (!path || strlen(path) >= sizeof dir)
        return 0;
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    base_len = strlen(base);
    if (!base_len)
        return 0;
    dir_name(dir, path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (!(d = fdopendir(fd))) {
        close(fd);
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        pid_t pid = 0;
        int form = temp_form(e->d_name, base, base_len, &pid);
        if (form < 0 || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        /* a live writer here (or one of another user: EPERM), or a file too recent to judge */
        if (form == 1 && !(kill(pid, 0) == -1 && errno == ESRCH))
            continue;
        if (form == 0 && !(time(NULL) - st.st_mtime > OLD_FORM_AGE_S))
            continue;
        if (unlocked(dirfd(d), e->d_name, &st) && unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int vidai_atomic_write(const char *path, vidai_fill_fn fill, void *arg)
{
    size_t n;
    char *tmp;
    FILE *f;
    struct flock lk;
    int fd, hold, counted, rc;

    if (!path || !*path || !fill)
        return vidai_error(VIDA_EINVAL, "vidai_atomic_write: path and fill must be given");
    n = strlen(path) + 64; /* ".tmp.<pid>.XXXXXX" */
    tmp = vidai_malloc(n);
    if (!tmp)
        return VIDA_ENOMEM;
    snprintf(tmp, n, "%s.tmp.%ld.XXXXXX", path, (long)getpid());

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = vidai_error(VIDA_EIO, "%s: create temporary file %s: %s", path, tmp,
                         strerror(errno));
        vidai_free(tmp);
        return rc;
    }
    /*
     * The lock says "being written" to other processes' cleanups until the rename. It belongs
     * to the open file description, which hold keeps open past the close of the stream. Without
     * it (a file system without locks, no descriptor left) the PID in the name still speaks.
     */
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET;
    hold = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (hold >= 0 && fcntl(hold, F_OFD_SETLK, &lk) != 0) {
        close(hold);
        hold = -1;
    }
    set_mode(fd, path);
    counted = atomic_load(&stop_point) == VIDAI_IO_STOP_AFTER_BYTES && atomic_load(&stop_bytes) > 0;
    f = counted ? open_counted(fd, atomic_load(&stop_bytes)) : fdopen(fd, "wb");
    if (!f) {
        rc = vidai_error(VIDA_EIO, "%s: open temporary file %s: %s", path, tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    if (!counted)
        stop_if(VIDAI_IO_STOP_AFTER_BYTES); /* after 0 bytes: the file is there, empty */

    rc = fill(arg, f);
    if (rc != VIDA_OK) {
        if (rc > 0)
            rc = VIDA_EIO;
        vidai_error_prefix(rc, "%s: ", path);
        fclose(f);
        goto fail;
    }
    if (fflush(f) != 0 || ferror(f) || injected()) {
        rc = vidai_error(VIDA_EIO, "%s: write temporary file %s: %s", path, tmp, strerror(errno));
        fclose(f);
        goto fail;
    }
    stop_if(VIDAI_IO_STOP_BEFORE_FSYNC);
    if (injected() || fsync(fd) != 0) {
        rc = vidai_error(VIDA_EIO, "%s: fsync temporary file %s: %s", path, tmp, strerror(errno));
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0 || injected()) {
        rc = vidai_error(VIDA_EIO, "%s: close temporary file %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    stop_if(VIDAI_IO_STOP_BEFORE_RENAME);
    if (injected() || rename(tmp, path) != 0) {
        rc = vidai_error(VIDA_EIO, "%s: rename %s over it: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (hold >= 0)
        close(hold);
    vidai_free(tmp);
    stop_if(VIDAI_IO_STOP_BEFORE_DIR_FSYNC);
    /* The new file is in place; this makes the rename durable. */
    return sync_dir(path);

fail:
    unlink(tmp);
    if (hold >= 0)
        close(hold);
    vidai_free(tmp);
    return rc;
}

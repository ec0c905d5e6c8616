/*
 * Atomic file replacement: write a temporary file next to the target, make
 * it durable (fflush, fsync), rename it over the target and fsync the
 * directory so that the rename itself survives a crash. The usual POSIX
 * recipe (rename(2) is atomic within a file system); see reliability.md §A4.
 * A reader sees the old file or the new one, never a partial one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    size_t n;
    int fd, rc = VIDA_OK;

    if (!slash) {
        dir = vidai_strdup(".");
    } else {
        n = slash == path ? 1 : (size_t)(slash - path);
        dir = vidai_malloc(n + 1);
        if (dir) {
            memcpy(dir, path, n);
            dir[n] = '\0';
        }
    }
    if (!dir)
        return VIDA_ENOMEM;
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

int vidai_atomic_write(const char *path, vidai_fill_fn fill, void *arg)
{
    static const char suffix[] = ".tmp.XXXXXX";
    size_t n;
    char *tmp;
    FILE *f;
    int fd, rc;

    if (!path || !*path || !fill)
        return vidai_error(VIDA_EINVAL, "vidai_atomic_write: path and fill must be given");
    n = strlen(path);
    tmp = vidai_malloc(n + sizeof suffix);
    if (!tmp)
        return VIDA_ENOMEM;
    memcpy(tmp, path, n);
    memcpy(tmp + n, suffix, sizeof suffix);

    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = vidai_error(VIDA_EIO, "%s: create temporary file %s: %s", path, tmp,
                         strerror(errno));
        vidai_free(tmp);
        return rc;
    }
    set_mode(fd, path);
    f = fdopen(fd, "wb");
    if (!f) {
        rc = vidai_error(VIDA_EIO, "%s: open temporary file %s: %s", path, tmp, strerror(errno));
        close(fd);
        goto fail;
    }

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
    if (injected() || fsync(fileno(f)) != 0) {
        rc = vidai_error(VIDA_EIO, "%s: fsync temporary file %s: %s", path, tmp, strerror(errno));
        fclose(f);
        goto fail;
    }
    if (fclose(f) != 0 || injected()) {
        rc = vidai_error(VIDA_EIO, "%s: close temporary file %s: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (injected() || rename(tmp, path) != 0) {
        rc = vidai_error(VIDA_EIO, "%s: rename %s over it: %s", path, tmp, strerror(errno));
        goto fail;
    }
    vidai_free(tmp);
    /* The new file is in place; this makes the rename durable. */
    return sync_dir(path);

fail:
    unlink(tmp);
    vidai_free(tmp);
    return rc;
}

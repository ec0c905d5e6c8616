/* The harness's main: runs registered cases, alone or all, and counts. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

struct vt_case vt_cases[VT_MAX];
int vt_n_cases;
int vt_failed_now;

static char vt_tmp[256];

const char *vt_data_dir(void)
{
    const char *d = getenv("VIDA_TEST_DATA");
    return d && *d ? d : "test";
}

static void vt_rm_tmp(void)
{
    if (vt_tmp[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", vt_tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", vt_tmp);
    }
}

const char *vt_tmp_dir(void)
{
    if (!vt_tmp[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(vt_tmp, sizeof vt_tmp, "%s/vidatest.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(vt_tmp)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(vt_rm_tmp);
    }
    return vt_tmp;
}

char *vt_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *size = (size_t)n;
    }
    return buf;
}

int vt_replay_corpus(const char *name, int (*target)(const uint8_t *data, size_t size))
{
    char dir[512], p[1024];
    DIR *d;
    struct dirent *e;
    int files = 0;
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", vt_data_dir(), name);
    if (!(d = opendir(dir)))
        return -1;
    setenv("TMPDIR", vt_tmp_dir(), 1);
    while ((e = readdir(d)) != NULL) {
        size_t size;
        char *data;
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!(data = vt_read_file(p, &size))) {
            files = -1;
            break;
        }
        target((const uint8_t *)data, size);
        free(data);
        files++;
    }
    closedir(d);
    return files;
}

int vt_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, i, j;
    for (i = 0; i < vt_n_cases; i++) {
        int want = argc < 2;
        for (j = 1; j < argc; j++)
            if (strcmp(argv[j], vt_cases[i].name) == 0)
                want = 1;
        if (!want)
            continue;
        vt_failed_now = 0;
        vt_cases[i].fn();
        printf("%s %s\n", vt_failed_now ? "FAIL" : "ok  ", vt_cases[i].name);
        fflush(stdout);
        if (vt_failed_now)
            failed++;
        else
            passed++;
    }
    if (argc >= 2 && passed + failed == 0) {
        fprintf(stderr, "no test case matched\n");
        return 2;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

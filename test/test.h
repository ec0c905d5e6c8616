/*
 * Minimal test harness. A test file defines cases with TEST(module, case),
 * which registers test_<module>__<case>. The binary runs all cases, or only
 * those named on the command line (`build/test/test_nn test_nn__conv_grad`),
 * and ends with the line "N passed, N failed".
 */
#ifndef VIDA_TEST_H
#define VIDA_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*vt_fn)(void);
struct vt_case {
    const char *name;
    vt_fn fn;
};
#define VT_MAX 512
extern struct vt_case vt_cases[VT_MAX];
extern int vt_n_cases;
extern int vt_failed_now;

#define TEST(mod, cas)                                                         \
    static void test_##mod##__##cas(void);                                     \
    __attribute__((constructor)) static void vt_reg_##mod##__##cas(void)       \
    {                                                                          \
        if (vt_n_cases < VT_MAX) {                                             \
            vt_cases[vt_n_cases].name = "test_" #mod "__" #cas;                \
            vt_cases[vt_n_cases++].fn = test_##mod##__##cas;                   \
        }                                                                      \
    }                                                                          \
    static void test_##mod##__##cas(void)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            vt_failed_now = 1;                                                 \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECKF(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            vt_failed_now = 1;                                                 \
            return;                                                            \
        }                                                                      \
    } while (0)

/* Checks a libvidaction status is VIDA_OK, printing vida_last_error() otherwise. */
#define CHECK_OK(expr)                                                         \
    do {                                                                       \
        int vt_rc_ = (expr);                                                   \
        CHECKF(vt_rc_ == 0, "%s returned %d: %s", #expr, vt_rc_,               \
               vida_last_error());                                             \
    } while (0)

/* Path of the test data folder (VIDA_TEST_DATA or "test"). */
const char *vt_data_dir(void);
/* A fresh temporary directory for this process (removed at exit). */
const char *vt_tmp_dir(void);
/* A whole file in a malloc'd buffer with a NUL after the end; NULL on failure. */
char *vt_read_file(const char *path, size_t *size);
/*
 * Runs every file of test/fuzz/corpus/NAME through a fuzz target (TMPDIR set to vt_tmp_dir()):
 * the number of files, or -1 when the folder or a file cannot be read.
 */
int vt_replay_corpus(const char *name, int (*target)(const uint8_t *data, size_t size));
/* Writes size bytes to path; 0 on success, -1 on failure. */
int vt_write_file(const char *path, const void *data, size_t size);

#endif

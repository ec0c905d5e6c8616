/*
 * Convolution benchmark (not a test): times the CPU conv ops on the layer
 * shapes of R(2+1)D-18 at 16x112x112, batch 1, and prints GFLOP/s (2 FLOPs
 * per multiply-accumulate) per shape and for the whole network's convs.
 *
 *   bench_conv [-t threads] [-r repeats] [-b] [-m]
 *     -b  also time backward data and backward filter
 *     -m  only the model total (skip the per-shape table)
 *
 * Build (after make lib/libvidaction.a):
 *   cc -std=c11 -D_GNU_SOURCE -O2 -Iinclude -Isrc $(pkg-config --cflags openblas) \
 *      test/bench/bench_conv.c lib/libvidaction.a $(pkg-config --libs openblas) -lm -pthread \
 *      -o build/bench_conv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"

typedef struct shape {
    const char *name;
    int t, h, w, cin, cout, kt, kh, kw, st, sh, sw, pt, ph, pw;
    int count; /* how many times R(2+1)D-18 runs it */
} shape;

/* torchvision r2plus1d_18: mid-channels M = Cin*Cout*27 / (9*Cin + 3*Cout), one per block. */
static const shape r2plus1d_18[] = {
    {"stem 1x7x7 3->45 s(1,2,2)", 16, 112, 112, 3, 45, 1, 7, 7, 1, 2, 2, 0, 3, 3, 1},
    {"stem 3x1x1 45->64", 16, 56, 56, 45, 64, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"l1 1x3x3 64->144", 16, 56, 56, 64, 144, 1, 3, 3, 1, 1, 1, 0, 1, 1, 4},
    {"l1 3x1x1 144->64", 16, 56, 56, 144, 64, 3, 1, 1, 1, 1, 1, 1, 0, 0, 4},
    {"l2 1x3x3 64->230 s(1,2,2)", 16, 56, 56, 64, 230, 1, 3, 3, 1, 2, 2, 0, 1, 1, 1},
    {"l2 3x1x1 230->128 s(2,1,1)", 16, 28, 28, 230, 128, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1},
    {"l2 1x1x1 64->128 s2", 16, 56, 56, 64, 128, 1, 1, 1, 2, 2, 2, 0, 0, 0, 1},
    {"l2 1x3x3 128->230", 8, 28, 28, 128, 230, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1},
    {"l2 3x1x1 230->128", 8, 28, 28, 230, 128, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"l2 1x3x3 128->288", 8, 28, 28, 128, 288, 1, 3, 3, 1, 1, 1, 0, 1, 1, 2},
    {"l2 3x1x1 288->128", 8, 28, 28, 288, 128, 3, 1, 1, 1, 1, 1, 1, 0, 0, 2},
    {"l3 1x3x3 128->460 s(1,2,2)", 8, 28, 28, 128, 460, 1, 3, 3, 1, 2, 2, 0, 1, 1, 1},
    {"l3 3x1x1 460->256 s(2,1,1)", 8, 14, 14, 460, 256, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1},
    {"l3 1x1x1 128->256 s2", 8, 28, 28, 128, 256, 1, 1, 1, 2, 2, 2, 0, 0, 0, 1},
    {"l3 1x3x3 256->460", 4, 14, 14, 256, 460, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1},
    {"l3 3x1x1 460->256", 4, 14, 14, 460, 256, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"l3 1x3x3 256->576", 4, 14, 14, 256, 576, 1, 3, 3, 1, 1, 1, 0, 1, 1, 2},
    {"l3 3x1x1 576->256", 4, 14, 14, 576, 256, 3, 1, 1, 1, 1, 1, 1, 0, 0, 2},
    {"l4 1x3x3 256->921 s(1,2,2)", 4, 14, 14, 256, 921, 1, 3, 3, 1, 2, 2, 0, 1, 1, 1},
    {"l4 3x1x1 921->512 s(2,1,1)", 4, 7, 7, 921, 512, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1},
    {"l4 1x1x1 256->512 s2", 4, 14, 14, 256, 512, 1, 1, 1, 2, 2, 2, 0, 0, 0, 1},
    {"l4 1x3x3 512->921", 2, 7, 7, 512, 921, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1},
    {"l4 3x1x1 921->512", 2, 7, 7, 921, 512, 3, 1, 1, 1, 1, 1, 1, 0, 0, 1},
    {"l4 1x3x3 512->1152", 2, 7, 7, 512, 1152, 1, 3, 3, 1, 1, 1, 0, 1, 1, 2},
    {"l4 3x1x1 1152->512", 2, 7, 7, 1152, 512, 3, 1, 1, 1, 1, 1, 1, 0, 0, 2},
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_floats(size_t n, float scale)
{
    float *p = vidai_malloc(n * sizeof *p);
    size_t i;
    uint32_t s = 12345;
    if (!p)
        return NULL;
    for (i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = scale * ((float)(s >> 8) * (1.0f / 8388608.0f) - 1.0f);
    }
    return p;
}

/* Best-of-repeats seconds of forward, backward data, backward filter (the last two if back). */
static int time_shape(vidai_pool *pool, const shape *s, int repeats, int back, double sec[3],
                      double *gflop)
{
    vidai_conv_desc d = {1,     s->t,  s->h,  s->w,  s->cin, s->cout, s->kt, s->kh, s->kw,
                         s->st, s->sh, s->sw, s->pt, s->ph,  s->pw,   0,     0,     0};
    size_t nx, ny, nw;
    float *x, *w, *b, *y, *dx, *dw;
    int r, op, rc = 0;
    if (vidai_conv_desc_init(&d))
        return -1;
    nx = (size_t)d.t * d.h * d.w * d.cin;
    ny = (size_t)d.to * d.ho * d.wo * d.cout;
    nw = (size_t)d.cout * d.kt * d.kh * d.kw * d.cin;
    *gflop = 2e-9 * (double)ny * (double)(nw / (size_t)d.cout);
    x = random_floats(nx, 1.0f);
    w = random_floats(nw, 0.05f);
    b = random_floats((size_t)d.cout, 0.1f);
    y = random_floats(ny, 1.0f);
    dx = random_floats(nx, 0.0f);
    dw = random_floats(nw, 0.0f);
    if (!x || !w || !b || !y || !dx || !dw)
        rc = -1;
    for (op = 0; op < (back ? 3 : 1) && rc == 0; op++) {
        sec[op] = 1e30;
        for (r = 0; r < repeats; r++) {
            double t0 = now();
            if (op == 0)
                rc |= vidai_cpu_conv_forward(pool, &d, x, w, b, 1, y);
            else if (op == 1)
                rc |= vidai_cpu_conv_backward_data(pool, &d, y, w, dx);
            else
                rc |= vidai_cpu_conv_backward_filter(pool, &d, x, y, dw);
            t0 = now() - t0;
            if (t0 < sec[op])
                sec[op] = t0;
        }
    }
    vidai_free(x);
    vidai_free(w);
    vidai_free(b);
    vidai_free(y);
    vidai_free(dx);
    vidai_free(dw);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = 2, repeats = 3, back = 0, model_only = 0, i;
    const int n_shapes = (int)(sizeof r2plus1d_18 / sizeof r2plus1d_18[0]);
    double total[3] = {0, 0, 0}, total_gflop = 0.0;
    vidai_pool *pool = NULL;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "-b") == 0)
            back = 1;
        else if (strcmp(argv[i], "-m") == 0)
            model_only = 1;
        else {
            fprintf(stderr, "usage: %s [-t threads] [-r repeats] [-b] [-m]\n", argv[0]);
            return 2;
        }
    }
    if (vidai_pool_create(&pool, threads) != VIDA_OK) {
        fprintf(stderr, "cannot create a pool of %d threads\n", threads);
        return 1;
    }
    printf("%d pool threads, best of %d; GFLOP/s = 2*MAC/s\n", threads, repeats);
    if (!model_only)
        printf("%-30s %5s %9s %8s%s\n", "shape (batch 1)", "count", "fwd ms", "GFLOP/s",
               back ? "   bwd-data ms GFLOP/s   bwd-filter ms GFLOP/s" : "");
    for (i = 0; i < n_shapes; i++) {
        const shape *s = &r2plus1d_18[i];
        double sec[3] = {0, 0, 0}, gflop;
        int op;
        if (time_shape(pool, s, repeats, back, sec, &gflop) != 0) {
            fprintf(stderr, "%s: failed\n", s->name);
            vidai_pool_free(pool);
            return 1;
        }
        for (op = 0; op < 3; op++)
            total[op] += s->count * sec[op];
        total_gflop += s->count * gflop;
        if (model_only)
            continue;
        printf("%-30s %5d %9.2f %8.1f", s->name, s->count, 1e3 * sec[0], gflop / sec[0]);
        if (back)
            printf("   %11.2f %7.1f   %13.2f %7.1f", 1e3 * sec[1], gflop / sec[1], 1e3 * sec[2],
                   gflop / sec[2]);
        printf("\n");
    }
    printf("R(2+1)D-18 convs (%.2f GFLOP): forward %.1f ms (%.1f GFLOP/s)", total_gflop,
           1e3 * total[0], total_gflop / total[0]);
    if (back)
        printf(", backward data %.1f ms, backward filter %.1f ms", 1e3 * total[1], 1e3 * total[2]);
    printf("\n");
    vidai_pool_free(pool);
    return 0;
}

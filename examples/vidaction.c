/*
 * vidaction: the command-line program, a thin client of the public API.
 *
 *   vidaction --version
 *   vidaction create --arch r2plus1d --depth 18 [--classes N] [--midplanes per-conv|per-block]
 *                    [--pool1] [--width W] [--bn-eps E] [--seed S] -o MODEL.safetensors
 *   vidaction model-info MODEL.safetensors [--json]
 *   vidaction forward MODEL INPUT.safetensors -o OUT.safetensors [--threads N]
 *   vidaction info VIDEO... [--json]
 *   vidaction clip VIDEO [--start-frame F | --time SECONDS] [--frames L] [--stride R]
 *                  [--short-side S] [--crop C] -o OUT.safetensors
 *   vidaction scan MANIFEST [--root DIR] [--bad-list FILE] [--json]
 *   vidaction dataset MANIFEST [--root DIR] [--taxonomy FILE] [--label-space S]
 *                  [--min-count N] [--resample R] [--draws N] [--seed S] [--max-videos N]
 *                  [--max-minutes M] [--clips-per-video K] [--prefer P] [--json]
 *   vidaction train --manifest FILE --out DIR (--steps N | --epochs E) [options]
 *                   [--dist mpi|nccl|none] [--base-batch B] [--frozen-bn]
 *   vidaction eval MODEL --manifest FILE [--root DIR] [--clips K] [--crops 1|3] [--json]
 *   vidaction features MODEL VIDEO... -o OUT.safetensors [--clips K]
 *   vidaction classify MODEL VIDEO... [--clips K] [--top K] [--timeline SECONDS] [--json]
 *   vidaction synth OUTDIR --preset pretrain|target-k|target-ss|target-epic|demo [options]
 *   vidaction demo [--out DIR] [--seed S] [--threads T] [--quick] [--json]
 *   vidaction study NAME [--quick] [--seeds N] [--seed FIRST] [--json] [--out DIR] [--jobs J]
 *                                                                              (study.c)
 *
 * `info` prints what vida_video_open measured (frame count, timestamps, keyframes),
 * not what the container claims. `clip` decodes frames F, F+R, ..., F+(L-1)R with
 * vida_video_read and writes them as tensors 'frames' uint8 [L,H,W,3] and 'indices'
 * int64 [L], the way a clip would reach a model (without the sampler's randomness).
 * `scan` opens every video of a manifest and decodes its first and last frame:
 * each is ok or the reason, and the bad ones are listed in a file. `dataset`
 * shows what a label space, a budget and a resampling make of a manifest:
 * the classes, how many videos carry each, and how often each is drawn.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <vidaction.h>
#include <vidaction/dist.h>
#include "cli.h"

/* "vidaction", or "vidaction[R]" on rank R of a data-parallel run of several ranks */
const char *prog = "vidaction";
static char prog_rank[32];

static int fail(const char *what)
{
    fprintf(stderr, "%s: error: %s%s%s\n", prog, what, *vida_last_error() ? ": " : "",
            vida_last_error());
    return 1;
}

int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "%s: error: %s%s%s (see `%s --help`)\n", prog, msg, arg ? " " : "",
            arg ? arg : "", prog);
    return 2;
}

void usage(FILE *f)
{
    fprintf(f,
            "usage: %s <command> [options]\n"
            "\n"
            "global options (any command): --device auto|cpu|cuda|cuda:N (auto: the GPU when\n"
            "      there is one, or the environment's VIDA_DEVICE), --precision fp32|bf16|fp16\n"
            "      (16-bit convolutions on CUDA; fp16 training scales the loss)\n"
            "\n"
            "commands:\n"
            "  create --arch A --depth D -o MODEL   a model with fresh weights\n"
            "      --classes N (400) --midplanes per-block|per-conv --pool1 --width W\n"
            "      --bn-eps E --dropout P --seed S\n"
            "  model-info MODEL [--json]            architecture, parameters, metadata\n"
            "  forward MODEL INPUT -o OUT           run tensor 'input' [N,3,T,H,W] float32;\n"
            "      writes 'logits' [N,classes] and 'features' [N,C]   (--threads N)\n"
            "  info VIDEO... [--json]               frames, size, codec, timing, keyframes\n"
            "  clip VIDEO -o OUT                    decode one clip: frames F, F+R, ..., F+(L-1)R;\n"
            "      writes 'frames' uint8 [L,H,W,3] and 'indices' int64 [L]\n"
            "      --start-frame F (0) or --time SECONDS, --frames L (16), --stride R (1),\n"
            "      --short-side S (scale), --crop C (centre CxC); default native size\n"
            "  scan MANIFEST [--root DIR]           pre-flight: open every video, decode its\n"
            "      first and last frame; prints ok or the reason per file and writes the\n"
            "      bad ones to --bad-list FILE (default scan-bad.txt); exit 1 if any is bad\n"
            "      --json\n"
            "  dataset MANIFEST                     classes, videos per class and draws per\n"
            "      class of an epoch: --root DIR (the manifest's folder), --taxonomy FILE,\n"
            "      --label-space target|verb|noun|verb+noun, --min-count N, --class-list FILE\n"
            "      (only these classes, one a line, in this order: e.g. a target set's),\n"
            "      --resample none|natural|sqrt|uniform, --draws N (epoch size), --seed S,\n"
            "      --max-videos N, --max-minutes M, --clips-per-video K,\n"
            "      --prefer random|short|long, --no-check-files, --json\n"
            "  train --manifest FILE --out DIR (--steps N | --epochs E)   train from scratch;\n"
            "      writes DIR/model.safetensors (class names and clip geometry in its metadata)\n"
            "      --root DIR, --taxonomy FILE, --label-space S, --resample R, --min-count N,\n"
            "      --class-list FILE, a budget as dataset's: --max-videos N, --max-minutes M,\n"
            "      --clips-per-video K, --prefer random|short|long (the random pick follows\n"
            "      --seed), --clip-choice random|fixed (random: a new clip in each slot's window\n"
            "      at every draw; fixed: always the clip centred in it, so training sees exactly\n"
            "      videos x K clips),\n"
            "      --arch r2plus1d|r3d|mc3|r2d (r2plus1d), --depth D (18), --width W (1),\n"
            "      --clip-len L (8), --stride R (2), --short-side S (128), --crop C (112),\n"
            "      --batch B (8), --lr X (0.01), --momentum M (0.9), --weight-decay W (1e-4),\n"
            "      --nesterov, --warmup N, --schedule constant|step|cosine (step: x0.1 at 1/3\n"
            "      and 2/3 of the steps), --classes N (a check), --threads T (1),\n"
            "      --seed S, --checkpoint-every N (DIR/checkpoint.safetensors),\n"
            "      --resume CHECKPOINT (continues exactly), --init MODEL (start from its weights;\n"
            "      a new classifier when the classes differ), --freeze backbone (with --init:\n"
            "      fc-only, BN on running statistics), --frozen-bn (BN on its running\n"
            "      statistics, which stay; every other tensor learns), --quiet (no line per step)\n"
            "      --dist mpi|nccl|none (none): data-parallel over the ranks of mpirun -np N\n"
            "      (each rank reads 1/N of every epoch, --batch B per rank, gradients averaged\n"
            "      by MPI on the host, or by NCCL on the GPUs; one GPU per rank of a machine;\n"
            "      rank 0 prints and writes), --base-batch B0: --lr is the rate of a total\n"
            "      batch of B0 and is scaled to B x N (linear scaling; docs/distributed.md)\n"
            "  eval MODEL --manifest FILE [--root DIR] [--clips K] [--crops 1|3] [--threads T]\n"
            "      [--json]\n"
            "      K uniform clips (10) x crops per video, mean softmax: clip@1/5, video@1/5,\n"
            "      mean class accuracy, mAP; --json adds the per-class table and confusion matrix\n"
            "  features MODEL VIDEO... -o OUT       pooled features of K uniform clips (--clips 4):\n"
            "      clip_features [clips,F], clip_video [clips], video_features [videos,F] (mean)\n"
            "  classify MODEL VIDEO... [--clips K] [--top K] [--timeline SECONDS] [--json]\n"
            "      top classes of the mean softmax of K uniform clips (10); with --timeline the\n"
            "      best class of each window of SECONDS (its centre clip)\n"
            "  synth OUTDIR --preset pretrain|target-k|target-ss|target-epic|demo   SynthActions:\n"
            "      procedural action videos, manifests, vocabulary, taxonomy, truth (docs/synthactions.md)\n"
            "      --videos N, --seed S (1), --threads T (2), --size WxH (80x64), --fps F (10),\n"
            "      --seconds MIN-MAX (2-4), --long (10-30 s), --action-seconds MIN-MAX (1.5-2.5),\n"
            "      --verbs N (12), --classes N (target-k: 24), --test-fraction F (0.4),\n"
            "      --zipf Z (1), --p-missing P (0.1), --p-wrong P (0.1), --distractors N (2),\n"
            "      --codec auto|h264|mpeg4\n"
            "  demo [--out DIR] [--seed S] [--threads T] [--quick] [--json]   the whole story in a few\n"
            "      minutes (--quick: a tenth of the work, to check it runs; its numbers mean little):\n"
            "      SynthActions data, pre-training on noisy hashtags, fine-tuning and fc-only against\n"
            "      training from scratch, evaluation, a timeline (DIR: vidaction-demo)\n"
            "  study NAME [--quick] [--seeds N] [--seed FIRST] [--json] [--out DIR] [--threads T]\n"
            "      [--jobs J]\n"
            "      the paper's findings in miniature on SynthActions, video@1 mean +- std over N\n"
            "      seeds (3; --quick: 1, smaller sets and 24x24 crops): scale (pre-training on\n"
            "      x1, x4, x16 videos, fine-tuned and fc-only, against scratch), label-space\n"
            "      (target, verb, noun, verb+noun labels -> 4 targets), video-vs-frame (R(2+1)D\n"
            "      against a frame model), budget (videos against minutes, short against long\n"
            "      videos, 1 against 4 clips a video), resampling (natural, sqrt, uniform), all;\n"
            "      runs and their evaluations are kept in DIR/runs and reused when their\n"
            "      arguments match (DIR: vidaction-study); T threads (2) in J runs at a time,\n"
            "      each in its own process on T/J threads (J: T), their logs in DIR/logs;\n"
            "      --smoke: every step on a few videos, for tests (nothing learns)\n"
            "\n"
            "  --version   print the version and build features\n"
            "  --help      this text\n",
            prog);
}

const char *arg_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v;
    if (!s || !*s)
        return -1;
    v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    *out = strtod(s, &end);
    return *end ? -1 : 0;
}

/* Names of enum values, in the order of the values (VIDA_LABELS_*, VIDA_RESAMPLE_*, ...). */
static const char *const LABEL_SPACES[] = {"target", "verb", "noun", "verb+noun", NULL};
static const char *const RESAMPLES[] = {"none", "natural", "sqrt", "uniform", NULL};
static const char *const PREFERS[] = {"random", "short", "long", NULL};
static const char *const SCHEDULES[] = {"constant", "step", "cosine", NULL};
static const char *const ARCHS[] = {"r2plus1d", "r3d", "mc3", "r2d", NULL}; /* from VIDA_ARCH_R2PLUS1D */

/* The index of v in names, or -1. */
static int pick(const char *v, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(v, names[i]))
            return i;
    return -1;
}

/* --device (any command): auto (the GPU when there is one, or what VIDA_DEVICE says), cpu, cuda,
   cuda:N; --precision fp32|bf16|fp16. */
static int g_backend = VIDA_BACKEND_AUTO, g_device = 0, g_precision = VIDA_PRECISION_FP32;
static int g_device_given; /* --device cuda:N named the GPU */

static int parse_device(const char *v)
{
    char *end;
    long n;
    if (!strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda")) {
        g_backend = v[0] == 'a' ? VIDA_BACKEND_AUTO : v[1] == 'p' ? VIDA_BACKEND_CPU : VIDA_BACKEND_CUDA;
        return 0;
    }
    if (strncmp(v, "cuda:", 5) != 0)
        return -1;
    errno = 0;
    n = strtol(v + 5, &end, 10);
    if (errno || end == v + 5 || *end || n < 0 || n > 1023)
        return -1;
    g_backend = VIDA_BACKEND_CUDA;
    g_device = (int)n;
    g_device_given = 1;
    return 0;
}

/* Takes --device X and --precision P out of argv (they apply to every command). */
static int take_global_options(int *argc, char **argv)
{
    int i, j = 1;
    for (i = 1; i < *argc; i++) {
        if ((!strcmp(argv[i], "--device") || !strcmp(argv[i], "--precision")) && i + 1 < *argc) {
            const char *v = argv[i + 1];
            if (argv[i][2] == 'd' && parse_device(v))
                return usage_error("bad --device (auto, cpu, cuda, cuda:N):", v);
            if (argv[i][2] == 'p') {
                if (!strcmp(v, "fp32")) g_precision = VIDA_PRECISION_FP32;
                else if (!strcmp(v, "bf16")) g_precision = VIDA_PRECISION_BF16;
                else if (!strcmp(v, "fp16")) g_precision = VIDA_PRECISION_FP16;
                else return usage_error("bad --precision (fp32, bf16, fp16):", v);
            }
            i++;
            continue;
        }
        argv[j++] = argv[i];
    }
    *argc = j;
    argv[j] = NULL;
    return 0;
}

static int context_create(vida_context **ctx, vida_context_params *cp)
{
    cp->backend = g_backend;
    cp->device = g_device;
    if (vida_context_create(ctx, cp) != VIDA_OK)
        return VIDA_EINVAL;
    if (g_precision != VIDA_PRECISION_FP32 && vida_context_set_precision(*ctx, g_precision) != VIDA_OK) {
        vida_context_free(*ctx);
        *ctx = NULL;
        return VIDA_EINVAL;
    }
    return VIDA_OK;
}

static int make_context(vida_context **ctx, long threads, long seed)
{
    vida_context_params cp;
    vida_context_params_init(&cp);
    cp.n_threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (context_create(ctx, &cp) != VIDA_OK)
        return fail("cannot create context");
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    vida_model_params p;
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    const char *out = NULL, *v;
    long l, seed = 0;
    double d;
    int i, rc;
    vida_model_params_init(&p);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--pool1") == 0) {
            p.pool1 = 1;
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (!v)
            return usage_error("missing value after", a);
        if (strcmp(a, "--arch") == 0) {
            if (pick(v, ARCHS) < 0) return usage_error("unknown --arch (r2plus1d, r3d, mc3, r2d):", v);
            p.arch = VIDA_ARCH_R2PLUS1D + pick(v, ARCHS);
        } else if (strcmp(a, "--depth") == 0) {
            if (parse_long(v, 1, 1000, &l)) return usage_error("bad --depth", v);
            p.depth = (int)l;
        } else if (strcmp(a, "--classes") == 0) {
            if (parse_long(v, 1, 1000000, &l)) return usage_error("bad --classes", v);
            p.num_classes = (int)l;
        } else if (strcmp(a, "--midplanes") == 0) {
            if (strcmp(v, "per-conv") == 0) p.midplanes = VIDA_MIDPLANES_PER_CONV;
            else if (strcmp(v, "per-block") == 0) p.midplanes = VIDA_MIDPLANES_PER_BLOCK;
            else return usage_error("bad --midplanes (per-conv, per-block):", v);
        } else if (strcmp(a, "--width") == 0) {
            if (parse_double(v, &d)) return usage_error("bad --width", v);
            p.width = (float)d;
        } else if (strcmp(a, "--bn-eps") == 0) {
            if (parse_double(v, &d)) return usage_error("bad --bn-eps", v);
            p.bn_eps = (float)d;
        } else if (strcmp(a, "--dropout") == 0) {
            if (parse_double(v, &d)) return usage_error("bad --dropout", v);
            p.dropout = (float)d;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_long(v, 0, 0x7fffffffL, &seed)) return usage_error("bad --seed", v);
        } else if (strcmp(a, "-o") == 0) {
            out = v;
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (!out)
        return usage_error("create needs -o MODEL", NULL);
    if (make_context(&ctx, 1, seed))
        return 1;
    rc = vida_model_create(&m, ctx, &p) != VIDA_OK ? fail("cannot create the model")
         : vida_model_save(m, out) != VIDA_OK     ? fail("cannot save the model")
                                                  : 0;
    vida_model_free(m);
    vida_context_free(ctx);
    return rc;
}

/* s as a JSON string literal on f. */
static void json_write(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void json_string(const char *s)
{
    json_write(stdout, s);
}

static int cmd_model_info(int argc, char **argv)
{
    static const char *keys[] = {"arch", "depth", "midplanes", "pool1", "width", "bn_eps",
                                 "bn_momentum", "num_classes", "dropout", "clip_frames", "frame_stride",
                                 "crop", "short_side", "mean", "std", "labels", "source"};
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    const char *path = NULL;
    int json = 0, i;
    size_t k;
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("unknown option", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return usage_error("unexpected argument", argv[i]);
    }
    if (!path)
        return usage_error("model-info takes one MODEL argument", NULL);
    if (make_context(&ctx, 1, 0))
        return 1;
    if (vida_model_load(&m, ctx, path) != VIDA_OK) {
        vida_context_free(ctx);
        return fail("cannot load the model");
    }
    if (json) {
        printf("{\"file\":");
        json_string(path);
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (!vida_model_get_meta(m, keys[k]))
                continue;
            printf(",\"%s\":", keys[k]);
            json_string(vida_model_get_meta(m, keys[k]));
        }
        printf(",\"parameters\":%lld,\"tensors\":%d,\"feature_dim\":%d}\n",
               (long long)vida_model_num_params(m), vida_model_n_tensors(m),
               vida_model_feature_dim(m));
    } else {
        printf("file: %s\n", path);
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (vida_model_get_meta(m, keys[k]))
                printf("%s: %s\n", keys[k], vida_model_get_meta(m, keys[k]));
        printf("parameters: %lld\n", (long long)vida_model_num_params(m));
        printf("tensors: %d\n", vida_model_n_tensors(m));
        printf("feature_dim: %d\n", vida_model_feature_dim(m));
    }
    vida_model_free(m);
    vida_context_free(ctx);
    return 0;
}

static int cmd_forward(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL}, *out = NULL, *v;
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_tensorfile *in = NULL;
    vida_tensor x, outs[2];
    const char *names[2] = {"logits", "features"};
    float *logits = NULL, *features = NULL;
    int64_t shape[2];
    long threads = 0;
    int i, npos = 0, rc = 1;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--threads") == 0) {
            v = arg_value(argc, argv, &i);
            if (!v)
                return usage_error("missing value after", a);
            if (a[1] == 'o')
                out = v;
            else if (parse_long(v, 0, 1024, &threads))
                return usage_error("bad --threads", v);
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (npos != 2 || !out)
        return usage_error("forward needs MODEL INPUT -o OUT", NULL);
    if (make_context(&ctx, threads, 0))
        return 1;
    if (vida_model_load(&m, ctx, pos[0]) != VIDA_OK) {
        fail("cannot load the model");
        goto done;
    }
    if (vida_tensorfile_read(&in, pos[1]) != VIDA_OK) {
        fail("cannot read the input");
        goto done;
    }
    if (vida_tensorfile_get(in, "input", &x) != VIDA_OK) {
        fail(pos[1]);
        goto done;
    }
    x.layout = VIDA_LAYOUT_NCTHW;
    if (x.dtype != VIDA_DTYPE_F32 || x.ndim != 5) {
        fprintf(stderr, "%s: error: %s: tensor 'input' must be float32 [N,3,T,H,W]\n", prog, pos[1]);
        goto done;
    }
    shape[0] = x.shape[0];
    logits = malloc((size_t)(x.shape[0] > 0 ? x.shape[0] : 1) * (size_t)vida_model_num_classes(m) * sizeof(float));
    features = malloc((size_t)(x.shape[0] > 0 ? x.shape[0] : 1) * (size_t)vida_model_feature_dim(m) * sizeof(float));
    if (!logits || !features) {
        fprintf(stderr, "%s: error: out of memory\n", prog);
        goto done;
    }
    shape[1] = vida_model_num_classes(m);
    vida_tensor_f32(&outs[0], logits, 2, shape);
    shape[1] = vida_model_feature_dim(m);
    vida_tensor_f32(&outs[1], features, 2, shape);
    if (vida_model_forward(m, &x, &outs[0], &outs[1]) != VIDA_OK) {
        fail("forward failed");
        goto done;
    }
    if (vida_tensorfile_write(out, 2, names, outs) != VIDA_OK) {
        fail("cannot write the output");
        goto done;
    }
    rc = 0;
done:
    free(logits);
    free(features);
    vida_tensorfile_free(in);
    vida_model_free(m);
    vida_context_free(ctx);
    return rc;
}

/*
 * An error about one file. The library's messages name the file already, most of
 * the time; the path is put in front only when the message does not have it.
 */
static int fail_file(const char *path)
{
    const char *msg = vida_last_error();
    fflush(stdout);
    if (*msg && strstr(msg, path))
        fprintf(stderr, "%s: error: %s\n", prog, msg);
    else
        fprintf(stderr, "%s: error: %s%s%s\n", prog, path, *msg ? ": " : "", msg);
    return 1;
}

/* A finite double as a JSON number, anything else as null. */
void json_double(double d)
{
    if (d - d == 0)
        printf("%.10g", d);
    else
        printf("null");
}

static const char *yes_no(int b)
{
    return b ? "yes" : "no";
}

static const char *json_bool(int b)
{
    return b ? "true" : "false";
}

static void print_video_info(const char *path, const vida_video_info *in, int json)
{
    if (json) {
        printf("{\"path\":");
        json_string(path);
        printf(",\"format\":");
        json_string(in->format);
        printf(",\"codec\":");
        json_string(in->codec);
        printf(",\"pix_fmt\":");
        json_string(in->pix_fmt);
        printf(",\"bit_depth\":%d,\"full_range\":%s,\"width\":%d,\"height\":%d,"
               "\"coded_width\":%d,\"coded_height\":%d,\"rotation\":%d,\"frames\":%lld,"
               "\"header_frames\":",
               in->bit_depth, json_bool(in->full_range), in->width, in->height,
               in->coded_width, in->coded_height, in->rotation, (long long)in->n_frames);
        if (in->header_frames >= 0)
            printf("%lld", (long long)in->header_frames);
        else
            printf("null");
        printf(",\"duration\":");
        json_double(in->duration);
        printf(",\"avg_fps\":");
        json_double(in->avg_fps);
        printf(",\"real_fps\":");
        if (in->real_fps > 0)
            json_double(in->real_fps);
        else
            printf("null");
        printf(",\"vfr\":%s,\"keyframes\":%lld,\"max_keyframe_gap\":%lld,\"start_time\":",
               json_bool(in->vfr), (long long)in->n_keyframes, (long long)in->max_keyframe_gap);
        json_double(in->start_time);
        printf(",\"sequential\":%s}", json_bool(in->sequential));
        return;
    }
    printf("path: %s\n", path);
    printf("format: %s\n", in->format);
    printf("codec: %s\n", in->codec);
    printf("pix_fmt: %s\n", in->pix_fmt);
    printf("bit_depth: %d\n", in->bit_depth);
    printf("full_range: %s\n", yes_no(in->full_range));
    printf("size: %dx%d\n", in->width, in->height);
    printf("coded_size: %dx%d\n", in->coded_width, in->coded_height);
    printf("rotation: %d\n", in->rotation);
    printf("frames: %lld\n", (long long)in->n_frames);
    if (in->header_frames >= 0)
        printf("header_frames: %lld\n", (long long)in->header_frames);
    else
        printf("header_frames: unknown\n");
    printf("duration: %.6g\n", in->duration);
    printf("avg_fps: %.6g\n", in->avg_fps);
    if (in->real_fps > 0)
        printf("real_fps: %.6g\n", in->real_fps);
    else
        printf("real_fps: unknown\n");
    printf("vfr: %s\n", yes_no(in->vfr));
    printf("keyframes: %lld\n", (long long)in->n_keyframes);
    printf("max_keyframe_gap: %lld\n", (long long)in->max_keyframe_gap);
    printf("start_time: %.6g\n", in->start_time);
    printf("sequential: %s\n", yes_no(in->sequential));
}

static int cmd_info(int argc, char **argv)
{
    int json = 0, npaths = 0, shown = 0, rc = 0, i;
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("unknown option", argv[i]);
        else
            npaths++;
    }
    if (!npaths)
        return usage_error("info takes one or more VIDEO arguments", NULL);
    if (json)
        printf("[");
    /* A file that fails is reported and skipped; the others are still shown. */
    for (i = 2; i < argc; i++) {
        const char *path = argv[i];
        vida_video *v = NULL;
        vida_video_info info;
        if (path[0] == '-' && path[1])
            continue;
        memset(&info, 0, sizeof info);
        info.size = sizeof info;
        if (vida_video_open(&v, NULL, path, NULL) != VIDA_OK ||
            vida_video_get_info(v, &info) != VIDA_OK) {
            rc = fail_file(path);
            vida_video_free(v);
            continue;
        }
        if (json)
            printf("%s\n", shown ? "," : "");
        else if (shown)
            printf("\n");
        print_video_info(path, &info, json);
        shown++;
        vida_video_free(v);
    }
    if (json)
        printf("%s]\n", shown ? "\n" : "");
    return rc;
}

static int cmd_clip(int argc, char **argv)
{
    const char *path = NULL, *out = NULL, *v;
    const char *names[2] = {"frames", "indices"};
    vida_video *vid = NULL;
    vida_video_info info;
    vida_frame_geometry g;
    vida_tensor t[2];
    int64_t *indices = NULL, start, last, k;
    uint8_t *frames = NULL;
    long start_frame = -1, n = 16, stride = 1, short_side = 0, crop = 0;
    double seconds = -1;
    int i, w, h, rc = 1;
    size_t frame_bytes;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--start-frame") == 0 || strcmp(a, "--time") == 0 ||
                   strcmp(a, "--frames") == 0 || strcmp(a, "--stride") == 0 ||
                   strcmp(a, "--short-side") == 0 || strcmp(a, "--crop") == 0 ||
                   strcmp(a, "-o") == 0) {
            v = arg_value(argc, argv, &i);
            if (!v)
                return usage_error("missing value after", a);
            if (strcmp(a, "--start-frame") == 0) {
                if (parse_long(v, 0, 1000000000L, &start_frame))
                    return usage_error("bad --start-frame", v);
            } else if (strcmp(a, "--time") == 0) {
                /* also refuses nan and inf */
                if (parse_double(v, &seconds) || !(seconds >= 0 && seconds < 1e9))
                    return usage_error("bad --time", v);
            } else if (strcmp(a, "--frames") == 0) {
                if (parse_long(v, 1, 65536, &n))
                    return usage_error("bad --frames", v);
            } else if (strcmp(a, "--stride") == 0) {
                if (parse_long(v, 1, 1000000, &stride))
                    return usage_error("bad --stride", v);
            } else if (strcmp(a, "--short-side") == 0) {
                if (parse_long(v, 1, 16384, &short_side))
                    return usage_error("bad --short-side", v);
            } else if (strcmp(a, "--crop") == 0) {
                if (parse_long(v, 1, 16384, &crop))
                    return usage_error("bad --crop", v);
            } else {
                out = v;
            }
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (!path) {
            path = a;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (!path || !out)
        return usage_error("clip needs VIDEO -o OUT", NULL);
    if (start_frame >= 0 && seconds >= 0)
        return usage_error("give --start-frame or --time, not both", NULL);

    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    if (vida_video_open(&vid, NULL, path, NULL) != VIDA_OK ||
        vida_video_get_info(vid, &info) != VIDA_OK) {
        fail_file(path);
        goto done;
    }
    start = start_frame > 0 ? start_frame : 0;
    if (seconds >= 0 && vida_video_frame_at(vid, seconds, &start) != VIDA_OK) {
        fail_file(path);
        goto done;
    }
    last = start + (int64_t)(n - 1) * stride;
    if (last >= info.n_frames) {
        fprintf(stderr,
                "%s: error: %s: clip of %ld frames with stride %ld from frame %lld needs "
                "frame %lld, video has %lld frames\n",
                prog, path, n, stride, (long long)start, (long long)last,
                (long long)info.n_frames);
        goto done;
    }

    vida_frame_geometry_init(&g);
    g.short_side = (int)short_side;
    if (crop) {
        g.crop_width = g.crop_height = (int)crop;
        g.crop_x = g.crop_y = -1;
    }
    if (vida_video_output_size(vid, &g, &w, &h) != VIDA_OK) {
        fail_file(path);
        goto done;
    }
    frame_bytes = (size_t)w * (size_t)h * 3;
    indices = malloc((size_t)n * sizeof *indices);
    frames = frame_bytes <= SIZE_MAX / (size_t)n ? malloc(frame_bytes * (size_t)n) : NULL;
    if (!indices || !frames) {
        fprintf(stderr, "%s: error: out of memory for %ld frames of %dx%d\n", prog, n, w, h);
        goto done;
    }
    for (k = 0; k < n; k++)
        indices[k] = start + k * stride;
    if (vida_video_read(vid, indices, n, &g, frames, frame_bytes * (size_t)n) != VIDA_OK) {
        fail_file(path);
        goto done;
    }

    memset(t, 0, sizeof t);
    t[0].data = frames;
    t[0].dtype = VIDA_DTYPE_U8;
    t[0].layout = VIDA_LAYOUT_ANY;
    t[0].ndim = 4;
    t[0].shape[0] = n;
    t[0].shape[1] = h;
    t[0].shape[2] = w;
    t[0].shape[3] = 3;
    t[1].data = indices;
    t[1].dtype = VIDA_DTYPE_I64;
    t[1].layout = VIDA_LAYOUT_ANY;
    t[1].ndim = 1;
    t[1].shape[0] = n;
    if (vida_tensorfile_write(out, 2, names, t) != VIDA_OK) {
        fail("cannot write the output");
        goto done;
    }
    printf("wrote %s: frames [%ld,%d,%d,3] from frames %lld..%lld", out, n, h, w,
           (long long)start, (long long)last);
    if (stride > 1)
        printf(" (stride %ld)", stride);
    printf(" of %s\n", path);
    rc = 0;
done:
    free(frames);
    free(indices);
    vida_video_free(vid);
    return rc;
}

/* Prints the dataset's open-time problems to stderr. */
static void print_problems(const vida_dataset *ds)
{
    for (int64_t i = 0; i < vida_dataset_n_problems(ds); i++)
        fprintf(stderr, "%s: warning: %s\n", prog, vida_dataset_problem(ds, i));
}

/* Opens v and decodes its first and last frame at 64 pixels short side. */
static int scan_one(const char *path, vida_video_info *info)
{
    vida_video *v = NULL;
    vida_frame_geometry g;
    uint8_t *buf = NULL;
    int w = 0, h = 0, rc;
    int64_t idx[2];
    rc = vida_video_open(&v, NULL, path, NULL);
    if (rc == VIDA_OK) {
        info->size = sizeof *info;
        rc = vida_video_get_info(v, info);
    }
    vida_frame_geometry_init(&g);
    g.short_side = 64;
    if (rc == VIDA_OK)
        rc = vida_video_output_size(v, &g, &w, &h);
    if (rc == VIDA_OK) {
        buf = malloc((size_t)w * h * 3 * 2);
        idx[0] = 0;
        idx[1] = info->n_frames - 1;
        rc = buf ? vida_video_read(v, idx, 2, &g, buf, (size_t)w * h * 3 * 2) : VIDA_ENOMEM;
    }
    free(buf);
    vida_video_free(v);
    return rc;
}

static int cmd_scan(int argc, char **argv)
{
    const char *manifest = NULL, *bad_list = "scan-bad.txt";
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_dataset_stats st;
    FILE *bf;
    int json = 0, first = 1;
    int64_t n_ok = 0, n_bad = 0, i;
    vida_dataset_params_init(&dp);
    dp.check_files = 0; /* scan reports missing files itself, as bad */
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--root") || !strcmp(a, "--bad-list")) {
            int k = (int)i;
            const char *v = arg_value(argc, argv, &k);
            i = k;
            if (!v)
                return usage_error("missing value after", a);
            if (!strcmp(a, "--root"))
                dp.root = v;
            else
                bad_list = v;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option", a);
        } else if (manifest) {
            return usage_error("unexpected argument", a);
        } else {
            manifest = a;
        }
    }
    if (!manifest)
        return usage_error("scan takes one MANIFEST argument", NULL);
    if (vida_dataset_open(&ds, NULL, manifest, &dp) != VIDA_OK)
        return fail("cannot read the manifest");
    print_problems(ds);
    bf = fopen(bad_list, "w");
    if (!bf) {
        fprintf(stderr, "%s: error: cannot write %s\n", prog, bad_list);
        vida_dataset_free(ds);
        return 1;
    }
    if (json)
        printf("{\"files\":[");
    for (i = 0; i < vida_dataset_size(ds); i++) {
        vida_dataset_video dv;
        vida_video_info info;
        int rc;
        dv.size = sizeof dv;
        vida_dataset_get_video(ds, i, &dv);
        rc = scan_one(dv.path, &info);
        if (rc == VIDA_OK)
            n_ok++;
        else {
            n_bad++;
            fprintf(bf, "%s\n", dv.path);
        }
        if (json) {
            printf("%s{\"path\":", first ? "" : ",");
            json_string(dv.path);
            printf(",\"line\":%lld,\"ok\":%s", (long long)dv.line, json_bool(rc == VIDA_OK));
            if (rc == VIDA_OK) {
                printf(",\"frames\":%lld,\"duration\":", (long long)info.n_frames);
                json_double(info.duration);
                printf(",\"width\":%d,\"height\":%d,\"codec\":", info.width, info.height);
                json_string(info.codec);
            } else {
                printf(",\"error\":");
                json_string(vida_last_error());
            }
            printf("}");
            first = 0;
        } else if (rc == VIDA_OK) {
            printf("ok   %s (%lld frames, %dx%d, %s, %.3f s)\n", dv.path, (long long)info.n_frames,
                   info.width, info.height, info.codec, info.duration);
        } else {
            const char *msg = vida_last_error();
            printf("bad  %s: %s\n", dv.path, strstr(msg, dv.path) ? msg + strlen(dv.path) +
                   (strncmp(msg + strlen(dv.path), ": ", 2) ? 0 : 2) : msg);
        }
    }
    fclose(bf);
    st.size = sizeof st;
    vida_dataset_get_stats(ds, &st);
    if (json) {
        printf("],\"ok\":%lld,\"bad\":%lld,\"bad_lines\":%lld,\"unlabelled\":%lld,\"problems\":[",
               (long long)n_ok, (long long)n_bad, (long long)st.bad_lines,
               (long long)st.unlabelled);
        for (i = 0; i < vida_dataset_n_problems(ds); i++) {
            if (i)
                putchar(',');
            json_string(vida_dataset_problem(ds, i));
        }
        printf("],\"bad_list\":");
        json_string(bad_list);
        printf("}\n");
    } else {
        printf("%lld ok, %lld bad, %lld bad lines, %lld without labels; bad files listed in %s\n",
               (long long)n_ok, (long long)n_bad, (long long)st.bad_lines,
               (long long)st.unlabelled, bad_list);
    }
    vida_dataset_free(ds);
    return n_bad || st.bad_lines ? 1 : 0;
}

/*
 * --class-list FILE (dataset, train): a fixed class list, one name a line (blank lines and lines
 * starting with '#' skipped): labels outside it are ignored and their videos dropped when they
 * have no other -- e.g. pre-training on the hashtags that name a target set's classes (the
 * paper's IG-Kinetics). Kept until the next load: `study` runs many trainings in one process.
 */
static struct {
    char *text;
    const char **names;
    int n;
} g_class_list;

int load_class_list(const char *path, vida_dataset_params *dp)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL, *line;
    const char **names = NULL;
    size_t len = 0, cap = 0;
    int n = 0;
    if (!f) {
        fprintf(stderr, "%s: error: cannot read the class list %s: %s\n", prog, path, strerror(errno));
        return 1;
    }
    for (;;) {
        size_t got;
        if (len + 4097 > cap) {
            char *t = cap < (16u << 20) ? realloc(text, cap = cap ? 2 * cap : 8192) : NULL;
            if (!t) {
                fprintf(stderr, "%s: error: the class list %s is too large (16 MiB at most)\n",
                        prog, path);
                free(text);
                fclose(f);
                return 1;
            }
            text = t;
        }
        got = fread(text + len, 1, 4096, f);
        len += got;
        if (got < 4096)
            break;
    }
    fclose(f);
    text[len] = 0;
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    names = malloc(((size_t)n + 1) * sizeof *names);
    if (!names) {
        free(text);
        return fail("out of memory");
    }
    n = 0;
    for (line = text; line && *line;) {
        char *end = strchr(line, '\n'), *next = end ? end + 1 : NULL;
        if (end)
            *end = 0;
        else
            end = line + strlen(line);
        while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        if (*line && *line != '#')
            names[n++] = line;
        line = next;
    }
    if (n == 0) {
        fprintf(stderr, "%s: error: the class list %s names no class\n", prog, path);
        free(names);
        free(text);
        return 1;
    }
    free(g_class_list.names);
    free(g_class_list.text);
    g_class_list.text = text;
    g_class_list.names = names;
    g_class_list.n = n;
    dp->classes = names;
    dp->n_classes = n;
    return 0;
}

static int cmd_dataset(int argc, char **argv)
{
    const char *manifest = NULL;
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_dataset_stats st;
    int64_t draws = -1, *count = NULL, i;
    long seed = 0;
    int json = 0;
    vida_dataset_params_init(&dp);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        int k = (int)i;
        long l;
        double d;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--no-check-files")) {
            dp.check_files = 0;
            continue;
        }
        if (a[0] != '-' || !a[1]) {
            if (manifest)
                return usage_error("unexpected argument", a);
            manifest = a;
            continue;
        }
        v = arg_value(argc, argv, &k);
        i = k;
        if (!v)
            return usage_error("missing value after", a);
        if (!strcmp(a, "--root")) {
            dp.root = v;
        } else if (!strcmp(a, "--class-list")) {
            if (load_class_list(v, &dp))
                return 1;
        } else if (!strcmp(a, "--taxonomy")) {
            dp.taxonomy = v;
        } else if (!strcmp(a, "--label-space")) {
            if ((dp.label_space = pick(v, LABEL_SPACES)) < 0)
                return usage_error("bad --label-space (target, verb, noun, verb+noun):", v);
        } else if (!strcmp(a, "--resample")) {
            if ((dp.resample = pick(v, RESAMPLES)) < 0)
                return usage_error("bad --resample (none, natural, sqrt, uniform):", v);
        } else if (!strcmp(a, "--prefer")) {
            if ((dp.prefer = pick(v, PREFERS)) < 0)
                return usage_error("bad --prefer (random, short, long):", v);
        } else if (!strcmp(a, "--min-count")) {
            if (parse_long(v, 1, 0x7fffffffL, &l)) return usage_error("bad --min-count", v);
            dp.min_count = (int)l;
        } else if (!strcmp(a, "--draws")) {
            if (parse_long(v, 1, 1L << 40, &l)) return usage_error("bad --draws", v);
            draws = l;
        } else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, 0x7fffffffL, &seed)) return usage_error("bad --seed", v);
            dp.seed = (uint64_t)seed;
        } else if (!strcmp(a, "--max-videos")) {
            if (parse_long(v, 1, 1L << 40, &l)) return usage_error("bad --max-videos", v);
            dp.max_videos = l;
        } else if (!strcmp(a, "--max-minutes")) {
            if (parse_double(v, &d) || !(d > 0) || d > 1e12) return usage_error("bad --max-minutes", v);
            dp.max_minutes = d;
        } else if (!strcmp(a, "--clips-per-video")) {
            if (parse_long(v, 1, 65536, &l)) return usage_error("bad --clips-per-video", v);
            dp.clips_per_video = (int)l;
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (!manifest)
        return usage_error("dataset takes one MANIFEST argument", NULL);
    if (draws > 0)
        dp.draws = dp.resample != VIDA_RESAMPLE_NONE ? draws : 0;
    if (vida_dataset_open(&ds, NULL, manifest, &dp) != VIDA_OK)
        return fail("cannot open the dataset");
    print_problems(ds);
    st.size = sizeof st;
    vida_dataset_get_stats(ds, &st);
    if (draws < 0 || dp.resample == VIDA_RESAMPLE_NONE)
        draws = st.epoch_size;
    count = calloc((size_t)st.classes + 1, sizeof *count);
    if (!count) {
        vida_dataset_free(ds);
        return fail("out of memory");
    }
    /* epoch 0 of the seed, as the loader draws it (NONE: draws is one epoch) */
    for (i = 0; i < draws; i++) {
        vida_dataset_sample s;
        s.size = sizeof s;
        if (vida_dataset_draw(ds, (uint64_t)seed, 0, i % st.epoch_size, &s) != VIDA_OK) {
            free(count);
            vida_dataset_free(ds);
            return fail("draw failed");
        }
        count[s.label]++;
    }
    if (json) {
        printf("{\"videos\":%lld,\"dropped\":%lld,\"lines\":%lld,\"bad_lines\":%lld,"
               "\"missing\":%lld,\"unlabelled\":%lld,\"over_budget\":%lld,\"unprobed\":%lld,"
               "\"minutes\":",
               (long long)st.videos, (long long)(st.lines - st.videos), (long long)st.lines,
               (long long)st.bad_lines, (long long)st.missing, (long long)st.unlabelled,
               (long long)st.over_budget, (long long)st.unprobed);
        json_double(st.minutes);
        printf(",\"classes\":%lld,\"epoch_size\":%lld,\"draws\":%lld,\"labels\":[",
               (long long)st.classes, (long long)st.epoch_size, (long long)draws);
        for (i = 0; i < st.classes; i++) {
            printf("%s{\"name\":", i ? "," : "");
            json_string(vida_dataset_label_name(ds, i));
            printf(",\"videos\":%lld,\"draws\":%lld}", (long long)vida_dataset_label_videos(ds, i),
                   (long long)count[i]);
        }
        printf("]}\n");
    } else {
        printf("%lld videos kept of %lld lines (%lld bad lines, %lld missing, %lld without a "
               "label, %lld over the budget, %lld without a duration); %.2f minutes\n",
               (long long)st.videos, (long long)st.lines, (long long)st.bad_lines,
               (long long)st.missing, (long long)st.unlabelled, (long long)st.over_budget,
               (long long)st.unprobed, st.minutes);
        printf("%lld classes, %lld samples per epoch, %lld draws:\n", (long long)st.classes,
               (long long)st.epoch_size, (long long)draws);
        printf("  %-32s %10s %10s\n", "class", "videos", "draws");
        for (i = 0; i < st.classes; i++)
            printf("  %-32s %10lld %10lld\n", vida_dataset_label_name(ds, i),
                   (long long)vida_dataset_label_videos(ds, i), (long long)count[i]);
    }
    free(count);
    vida_dataset_free(ds);
    return 0;
}

/* ---- train / eval ------------------------------------------------------------ */

/*
 * The model's class names (vida_model_label) as a malloc'd array of num_classes
 * pointers into the model (valid while it lives; free() the array alone), or NULL
 * when the model has none (metadata missing, malformed, or not one per class).
 */
static const char **model_labels(const vida_model *m)
{
    int C = vida_model_num_classes(m);
    const char **names;
    if (C < 1 || !vida_model_label(m, 0) || !(names = malloc((size_t)C * sizeof *names)))
        return NULL;
    for (int c = 0; c < C; c++)
        names[c] = vida_model_label(m, c);
    return names;
}

double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/*
 * Rank 0 writes the checkpoint (o and l given) or the model file at path, once every rank has
 * finished the step (a barrier), and all ranks learn whether it worked. Returns 0, or 1 after
 * printing the error (*agreed set when every rank knows it).
 */
static int rank0_writes(vida_dist *dist, int rank, const char *what, const char *path,
                        vida_model *m, vida_optimizer *o, vida_loader *l, int *agreed)
{
    int ok = 1, all = 1;
    if (dist && vida_dist_barrier(dist) != VIDA_OK) {
        fail("cannot reach the other ranks");
        return 1;
    }
    if (rank == 0) {
        if (o) {
            vida_loader_state st;
            st.size = sizeof st;
            ok = vida_loader_get_state(l, &st) == VIDA_OK &&
                 vida_checkpoint_save(path, m, o, &st) == VIDA_OK;
        } else {
            ok = vida_model_save(m, path) == VIDA_OK;
        }
        if (!ok)
            fprintf(stderr, "%s: error: cannot write %s %s: %s\n", prog, what, path,
                    vida_last_error());
    }
    if (dist) {
        if (vida_dist_all_ok(dist, ok, &all) != VIDA_OK) {
            fail("cannot reach the other ranks");
            return 1;
        }
        if (!all) {
            if (rank != 0)
                fprintf(stderr, "%s: error: rank 0 could not write %s; stopping\n", prog, what);
            *agreed = 1;
            return 1;
        }
    }
    return ok ? 0 : 1;
}

/* What the last cmd_train and cmd_eval of this process gave (for `demo`). */
static struct {
    double seconds, loss;
    long steps;
} g_last_train;
vida_eval_result g_last_eval;

int cmd_train(int argc, char **argv)
{
    const char *manifest = NULL, *root = NULL, *taxonomy = NULL, *out = NULL, *init = NULL;
    const char *resume = NULL;
    vida_dataset_params dp;
    vida_model_params mp;
    vida_optimizer_params op;
    vida_sampler_params sp;
    vida_loader_params lp;
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_dataset *ds = NULL;
    vida_sampler *s = NULL;
    vida_loader *l = NULL;
    vida_model *m = NULL;
    vida_optimizer *o = NULL;
    vida_dist *dist = NULL;
    char path[4096], ckpt[4096];
    long steps = 0, epochs = 0, every = 0, threads = 1, seed = 0, clip_len = 8, stride = 2;
    long short_side = 128, crop = 112, batch = 8, classes = 0, base_batch = 0;
    int rc = 1, i, freeze = 0, frozen_bn = 0, dist_backend = 0, rank = 0, world = 1, quiet = 0;
    int arch_given = 0, geom_given = 0; /* with --init: what the command line says, not the model */
    int fixed_clips = 0; /* --clip-choice fixed: the clip centred in each clip slot's window */
    double recent[10] = {0}; /* the last 10 losses, for --quiet's summary */
    int n_recent = 0;
    /* agreed: every rank knows the run stops (vida_dist_all_ok said so), so all of them can
       leave MPI together; a failure on one rank alone ends its process without MPI_Finalize
       (which would wait for the others), and mpirun then ends the job */
    int agreed = 0;
    vida_dataset_params_init(&dp);
    vida_model_params_init(&mp);
    vida_optimizer_params_init(&op);
    mp.depth = 18;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        long lv;
        double d;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--nesterov")) {
            op.nesterov = 1;
            continue;
        }
        if (!strcmp(a, "--frozen-bn")) {
            frozen_bn = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (v && !strcmp(a, "--freeze")) {
            if (strcmp(v, "backbone") != 0)
                return usage_error("bad --freeze (backbone):", v);
            freeze = 1;
            continue;
        }
        if (!v)
            return usage_error("missing value after", a);
        if (!strcmp(a, "--manifest")) manifest = v;
        else if (!strcmp(a, "--root")) root = v;
        else if (!strcmp(a, "--taxonomy")) taxonomy = v;
        else if (!strcmp(a, "--class-list")) {
            if (load_class_list(v, &dp))
                return 1;
        } else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--init")) init = v;
        else if (!strcmp(a, "--resume")) resume = v;
        else if (!strcmp(a, "--dist")) {
            if (!strcmp(v, "mpi")) dist_backend = VIDA_DIST_MPI;
            else if (!strcmp(v, "nccl")) dist_backend = VIDA_DIST_NCCL;
            else if (!strcmp(v, "none")) dist_backend = 0;
            else return usage_error("bad --dist (mpi, nccl, none):", v);
        } else if (!strcmp(a, "--label-space")) {
            if ((dp.label_space = pick(v, LABEL_SPACES)) < 0)
                return usage_error("bad --label-space (target, verb, noun, verb+noun):", v);
        } else if (!strcmp(a, "--resample")) {
            if ((dp.resample = pick(v, RESAMPLES)) < 0)
                return usage_error("bad --resample (none, natural, sqrt, uniform):", v);
        } else if (!strcmp(a, "--prefer")) {
            if ((dp.prefer = pick(v, PREFERS)) < 0)
                return usage_error("bad --prefer (random, short, long):", v);
        } else if (!strcmp(a, "--max-videos")) {
            if (parse_long(v, 1, 1L << 40, &lv)) return usage_error("bad --max-videos", v);
            dp.max_videos = lv;
        } else if (!strcmp(a, "--max-minutes")) {
            if (parse_double(v, &d) || !(d > 0) || d > 1e12) return usage_error("bad --max-minutes", v);
            dp.max_minutes = d;
        } else if (!strcmp(a, "--clips-per-video")) {
            if (parse_long(v, 1, 65536, &lv)) return usage_error("bad --clips-per-video", v);
            dp.clips_per_video = (int)lv;
        } else if (!strcmp(a, "--clip-choice")) {
            if (!strcmp(v, "random")) fixed_clips = 0;
            else if (!strcmp(v, "fixed")) fixed_clips = 1;
            else return usage_error("bad --clip-choice (random, fixed):", v);
        } else if (!strcmp(a, "--arch")) {
            if (pick(v, ARCHS) < 0) return usage_error("bad --arch (r2plus1d, r3d, mc3, r2d):", v);
            mp.arch = VIDA_ARCH_R2PLUS1D + pick(v, ARCHS);
            arch_given |= 1;
        } else if (!strcmp(a, "--schedule")) {
            if ((op.schedule = pick(v, SCHEDULES)) < 0)
                return usage_error("bad --schedule (constant, step, cosine):", v);
        } else if (!strcmp(a, "--depth") || !strcmp(a, "--steps") || !strcmp(a, "--epochs") ||
                   !strcmp(a, "--checkpoint-every") || !strcmp(a, "--threads") ||
                   !strcmp(a, "--seed") || !strcmp(a, "--clip-len") || !strcmp(a, "--stride") ||
                   !strcmp(a, "--short-side") || !strcmp(a, "--crop") || !strcmp(a, "--batch") ||
                   !strcmp(a, "--warmup") || !strcmp(a, "--min-count") || !strcmp(a, "--classes") ||
                   !strcmp(a, "--base-batch")) {
            if (parse_long(v, !strcmp(a, "--seed") || !strcmp(a, "--warmup") ? 0 : 1, 0x7fffffffL, &lv))
                return usage_error("bad value for", a);
            if (!strcmp(a, "--depth")) mp.depth = (int)lv, arch_given |= 2;
            else if (!strcmp(a, "--steps")) steps = lv;
            else if (!strcmp(a, "--epochs")) epochs = lv;
            else if (!strcmp(a, "--checkpoint-every")) every = lv;
            else if (!strcmp(a, "--threads")) threads = lv;
            else if (!strcmp(a, "--seed")) seed = lv;
            else if (!strcmp(a, "--clip-len")) clip_len = lv, geom_given |= 1;
            else if (!strcmp(a, "--stride")) stride = lv, geom_given |= 2;
            else if (!strcmp(a, "--short-side")) short_side = lv, geom_given |= 4;
            else if (!strcmp(a, "--crop")) crop = lv, geom_given |= 8;
            else if (!strcmp(a, "--batch")) batch = lv;
            else if (!strcmp(a, "--warmup")) op.warmup_steps = lv;
            else if (!strcmp(a, "--classes")) classes = lv;
            else if (!strcmp(a, "--base-batch")) base_batch = lv;
            else dp.min_count = (int)lv;
        } else if (!strcmp(a, "--lr") || !strcmp(a, "--momentum") || !strcmp(a, "--weight-decay") ||
                   !strcmp(a, "--width")) {
            if (parse_double(v, &d) || !(d >= 0) || d > 1e6)
                return usage_error("bad value for", a);
            if (!strcmp(a, "--lr")) op.lr = d;
            else if (!strcmp(a, "--momentum")) op.momentum = d;
            else if (!strcmp(a, "--weight-decay")) op.weight_decay = d;
            else mp.width = (float)d, arch_given |= 4;
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (!manifest || !out || (!steps == !epochs))
        return usage_error("train needs --manifest FILE, --out DIR and one of --steps N, --epochs E",
                           NULL);
    if (freeze && !init)
        return usage_error("--freeze backbone needs --init MODEL", NULL);
    if (freeze && dist_backend)
        return usage_error("--freeze backbone is not data-parallel (fc-only training averages no "
                           "gradients over ranks): leave out --dist", NULL);
    if (freeze && frozen_bn)
        return usage_error("--frozen-bn with --freeze backbone: fc-only training keeps BN frozen "
                           "already", NULL);
    if (dist_backend) {
        /* before the context: MPI starts before any thread of ours */
        vida_dist_params dsp;
        vida_dist_params_init(&dsp);
        dsp.backend = dist_backend;
        if (vida_dist_create(&dist, &dsp) != VIDA_OK)
            return fail(dist_backend == VIDA_DIST_NCCL ? "cannot start --dist nccl"
                                                       : "cannot start --dist mpi");
        rank = vida_dist_rank(dist);
        world = vida_dist_world(dist);
        if (world > 1) {
            snprintf(prog_rank, sizeof prog_rank, "vidaction[%d]", rank);
            prog = prog_rank;
        }
        if (g_backend != VIDA_BACKEND_CPU && !g_device_given && vida_device_count() > 1) {
            /* one GPU per rank of a machine, by the launcher's local rank */
            static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                               "SLURM_LOCALID", NULL};
            for (const char *const *k = vars; *k; k++)
                if (getenv(*k)) {
                    g_device = atoi(getenv(*k)) % vida_device_count();
                    break;
                }
        }
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: error: cannot create %s: %s\n", prog, out, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    vida_context_params_init(&cp);
    cp.n_threads = (int)threads;
    cp.seed = (uint64_t)seed;
    if (context_create(&ctx, &cp) != VIDA_OK) {
        fail("cannot create the context");
        goto done;
    }
    dp.root = root;
    dp.taxonomy = taxonomy;
    dp.seed = (uint64_t)seed; /* the budget's random pick of videos (--prefer random) */
    if (vida_dataset_open(&ds, NULL, manifest, &dp) != VIDA_OK) {
        fail("cannot open the dataset");
        goto done;
    }
    if (rank == 0)
        print_problems(ds);
    mp.num_classes = (int)vida_dataset_n_classes(ds);
    if (mp.num_classes < 2) {
        fprintf(stderr, "%s: error: the label space of %s has %d class; training needs two or more\n",
                prog, manifest, mp.num_classes);
        goto done;
    }
    if (classes && classes != mp.num_classes) {
        fprintf(stderr, "%s: error: --classes %ld, but the label space of %s has %d classes\n",
                prog, classes, manifest, mp.num_classes);
        goto done;
    }
    if (init) {
        /* transfer: the trunk from MODEL; a new classifier when the classes differ */
        vida_model *src = NULL;
        if (vida_model_load(&src, ctx, init) != VIDA_OK) {
            fail_file(init);
            goto done;
        }
        {
            /* the architecture is the model's: a command line that says otherwise is a mistake */
            vida_model_params want = mp;
            mp.size = sizeof mp;
            vida_model_get_params(src, &mp);
            if (((arch_given & 1) && want.arch != mp.arch) || ((arch_given & 2) && want.depth != mp.depth) ||
                ((arch_given & 4) && fabsf(want.width - mp.width) > 1e-6f)) {
                fprintf(stderr, "%s: error: --init %s is %s-%d at width %g; --arch, --depth and --width "
                        "must agree with it or be left out\n", prog, init, ARCHS[mp.arch - VIDA_ARCH_R2PLUS1D],
                        mp.depth, (double)mp.width);
                vida_model_free(src);
                goto done;
            }
        }
        {
            /* the clip geometry the model was trained with, unless the command line says otherwise */
            static const char *const keys[4] = {"clip_frames", "frame_stride", "short_side", "crop"};
            long *dst[4] = {&clip_len, &stride, &short_side, &crop};
            for (int k = 0; k < 4; k++) {
                const char *mv = vida_model_get_meta(src, keys[k]);
                long lv;
                if (!(geom_given & (1 << k)) && mv && parse_long(mv, 1, 100000, &lv) == 0)
                    *dst[k] = lv;
            }
        }
        int same = vida_model_num_classes(src) == (int)vida_dataset_n_classes(ds) &&
                   vida_model_label(src, 0) != NULL;
        for (int c = 0; same && c < vida_model_num_classes(src); c++)
            same = !strcmp(vida_model_label(src, c), vida_dataset_label_name(ds, c));
        if (same) {
            m = src;
        } else {
            mp.num_classes = (int)vida_dataset_n_classes(ds);
            if (vida_model_create(&m, ctx, &mp) != VIDA_OK) {
                vida_model_free(src);
                fail("cannot create the model");
                goto done;
            }
            for (int k = 0; k < vida_model_n_tensors(src); k++) {
                const char *name;
                int nd, dt;
                int64_t shp[8], n = 1;
                float *tmp;
                vida_model_tensor_info(src, k, &name, &nd, shp, &dt);
                if (!strncmp(name, "fc.", 3))
                    continue;
                for (int q = 0; q < nd; q++)
                    n *= shp[q];
                tmp = malloc((size_t)n * sizeof *tmp);
                if (!tmp || vida_model_get_tensor(src, name, tmp, n) != VIDA_OK ||
                    vida_model_set_tensor(m, name, tmp, n) != VIDA_OK) {
                    free(tmp);
                    vida_model_free(src);
                    fail("cannot copy the trunk");
                    goto done;
                }
                free(tmp);
            }
            for (const char *const *k = (const char *const[]){"mean", "std", "source", NULL}; *k; k++)
                if (vida_model_get_meta(src, *k))
                    vida_model_set_meta(m, *k, vida_model_get_meta(src, *k));
            if (rank == 0 && !quiet)
                printf("init from %s: trunk copied, new classifier for %d classes (was %d%s)\n", init,
                       mp.num_classes, vida_model_num_classes(src),
                       vida_model_num_classes(src) == mp.num_classes ? ", with other names" : "");
            vida_model_free(src);
        }
    } else if (vida_model_create(&m, ctx, &mp) != VIDA_OK) {
        fail("cannot create the model");
        goto done;
    }
    {
        /* the class names and clip geometry go with the weights */
        char *labels = NULL, num[32];
        size_t used = 0;
        FILE *mem = open_memstream(&labels, &used);
        if (!mem) {
            fail("out of memory");
            goto done;
        }
        fputc('[', mem);
        for (int64_t c = 0; c < vida_dataset_n_classes(ds); c++) {
            if (c)
                fputc(',', mem);
            json_write(mem, vida_dataset_label_name(ds, c));
        }
        fputc(']', mem);
        if (fclose(mem) != 0 || vida_model_set_meta(m, "labels", labels) != VIDA_OK) {
            free(labels);
            fail("cannot record the class names");
            goto done;
        }
        free(labels);
        snprintf(num, sizeof num, "%ld", clip_len);
        vida_model_set_meta(m, "clip_frames", num);
        snprintf(num, sizeof num, "%ld", stride);
        vida_model_set_meta(m, "frame_stride", num);
        snprintf(num, sizeof num, "%ld", crop);
        vida_model_set_meta(m, "crop", num);
        snprintf(num, sizeof num, "%ld", short_side);
        vida_model_set_meta(m, "short_side", num);
    }
    vida_sampler_params_init(&sp);
    sp.frames = (int)clip_len;
    sp.stride = (int)stride;
    sp.short_side_min = sp.short_side_max = (int)short_side;
    sp.crop = (int)crop;
    sp.crop_mode = VIDA_CROP_RANDOM;
    sp.clip_mode = fixed_clips ? VIDA_CLIPS_CENTER : VIDA_CLIPS_RANDOM;
    sp.output = VIDA_SAMPLE_F32;
    vida_loader_params_init(&lp);
    lp.batch = (int)batch;
    lp.threads = (int)threads;
    lp.seed = (uint64_t)seed;
    lp.rank = rank;
    lp.world = world;
    if (epochs) {
        /* the loader ends after `epochs` epochs; steps only sizes the schedule. Each rank reads
           floor(epoch_size / world) samples of an epoch. */
        int64_t mine = vida_dataset_epoch_size(ds) / world;
        int64_t per_epoch = mine / lp.batch + (mine % lp.batch != 0);
        steps = (long)(per_epoch * epochs);
        lp.epochs = epochs;
    }
    op.total_steps = steps;
    if (base_batch) {
        /* linear scaling (Goyal et al. 2017): --lr is the rate of a total batch of base_batch */
        op.batch = (int)(batch * world);
        op.base_batch = (int)base_batch;
    }
    if (op.schedule == VIDA_SCHEDULE_STEP && steps >= 3) {
        /* x0.1 at 1/3 and 2/3 of the run */
        op.n_milestones = 2;
        op.milestones[0] = steps / 3;
        op.milestones[1] = 2 * steps / 3;
    }
    if (vida_sampler_create(&s, ctx, &sp) != VIDA_OK || vida_loader_create(&l, ctx, ds, s, &lp) != VIDA_OK ||
        vida_optimizer_create(&o, m, &op) != VIDA_OK ||
        (freeze && (vida_optimizer_set_group(o, "", 0, 1) != VIDA_OK ||
                    vida_optimizer_set_group(o, "fc.", 1, 1) != VIDA_OK))) {
        fail("cannot set up training");
        goto done;
    }
    if (resume) {
        /* every rank loads the same checkpoint (rank 0's loader state: the epoch and batch
           number are those of every rank, which reads its own shard from there on) */
        vida_loader_state st;
        st.size = sizeof st;
        if (vida_checkpoint_load(resume, m, o, &st) != VIDA_OK) {
            fail("cannot resume");
            goto done;
        }
        if (st.world == world)
            st.rank = rank;
        if (vida_loader_set_state(l, &st) != VIDA_OK) {
            fail("cannot resume (a checkpoint continues with as many ranks as wrote it)");
            goto done;
        }
        if (rank == 0)
            printf("resumed from %s at step %lld (epoch %lld, batch %lld)\n", resume,
                   (long long)vida_optimizer_step_count(o), (long long)st.epoch,
                   (long long)st.number);
    }
    if (frozen_bn && vida_model_set_mode(m, VIDA_MODE_TRAIN_FROZEN_BN) != VIDA_OK) {
        fail("cannot freeze BN");
        goto done;
    }
    if (dist) {
        /* rank 0's weights and BN statistics to every rank; gradients averaged from now on */
        if (vida_dist_attach(dist, m) != VIDA_OK) {
            fail("cannot attach the model to the ranks");
            goto done;
        }
        if (rank == 0 && world > 1)
            printf("data-parallel: %d ranks x batch %ld = %ld clips per step, lr %.6g%s\n", world,
                   batch, batch * world, vida_optimizer_lr(o, -1),
                   base_batch ? " (linear scaling from --base-batch)" : "");
    }
    /* a progress bar on a terminal; not under mpirun, which gives the ranks a terminal of its
       own whatever its output is */
    int tty = isatty(1) && !dist;
    double t_start = wall_seconds();
    int64_t first_step = vida_optimizer_step_count(o), clips_done = 0;
    while (vida_optimizer_step_count(o) < steps) {
        vida_batch b;
        vida_optimizer_stats ost;
        float loss = 0;
        int r, got;
        b.size = sizeof b;
        r = vida_loader_next(l, &b);
        if (r != VIDA_OK)
            fail("the loader stopped");
        /* 0: a batch to learn from, 1: every sample of it failed, 2: the end, 3: an error */
        got = r != VIDA_OK ? 3 : b.end ? 2 : b.n == 0 ? 1 : 0;
        if (dist) {
            /* every rank steps, or none does: a rank missing from a step's all-reduce would
               leave the others waiting in it */
            int all, none_failed, none_ended;
            if (vida_dist_all_ok(dist, got == 0, &all) != VIDA_OK) {
                fail("cannot reach the other ranks");
                goto done;
            }
            if (!all) {
                if (vida_dist_all_ok(dist, got != 3, &none_failed) != VIDA_OK ||
                    vida_dist_all_ok(dist, got != 2, &none_ended) != VIDA_OK) {
                    fail("cannot reach the other ranks");
                    goto done;
                }
                if (!none_failed) {
                    if (got != 3)
                        fprintf(stderr, "%s: error: another rank's loader stopped; stopping\n", prog);
                    agreed = 1;
                    goto done;
                }
                if (!none_ended)
                    break;
                continue; /* a rank's whole batch failed: every rank leaves this batch out */
            }
        } else {
            if (got == 3)
                goto done;
            if (got == 2)
                break;
            if (got == 1)
                continue;
        }
        r = freeze ? vida_train_step_fc(m, o, &b, VIDA_TARGET_SINGLE, &loss)
                   : vida_train_step(m, o, &b, VIDA_TARGET_SINGLE, &loss);
        ost.size = sizeof ost;
        vida_optimizer_get_stats(o, &ost);
        if (r == VIDA_ENONFINITE) {
            /* with --dist every rank skips the same steps (vida_train_step agrees on them) */
            if (rank == 0)
                fprintf(stderr, "%s: warning: %s\n", prog, vida_last_error());
            if (ost.consecutive_skips >= 5) {
                fail("5 steps in a row were skipped");
                agreed = 1;
                goto done;
            }
            continue;
        }
        if (r != VIDA_OK) {
            fail("training step failed");
            goto done;
        }
        clips_done += b.n * b.views * world; /* all ranks' clips, taking this rank's as typical */
        recent[n_recent++ % 10] = loss;
        if (rank == 0 && !quiet) {
            /* a progress bar on a terminal, plain lines otherwise */
            double el = wall_seconds() - t_start, rate = el > 0 ? (double)clips_done / el : 0;
            double eta = ost.steps > first_step ? el / (double)(ost.steps - first_step) *
                                                      (double)(steps - ost.steps)
                                                : 0;
            if (tty) {
                int w = (int)(30 * ost.steps / steps);
                printf("\r[%.*s%*s] %lld/%ld loss %.4f %.1f clips/s ETA %.0f s ", w,
                       "##############################", 30 - w, "", (long long)ost.steps, steps,
                       (double)loss, rate, eta);
                if (ost.steps == steps)
                    printf("\n");
            } else {
                printf("step %lld/%ld epoch %lld loss %.4f lr %.5g clips/s %.1f eta %.0f s\n",
                       (long long)ost.steps, steps, (long long)b.epoch, (double)loss, ost.last_lr,
                       rate, eta);
            }
            fflush(stdout);
        }
        if (every && ost.steps % every == 0 &&
            rank0_writes(dist, rank, "the checkpoint", ckpt, m, o, l, &agreed) != 0)
            goto done;
    }
    {
        vida_loader_stats ls;
        ls.size = sizeof ls;
        if (vida_loader_get_stats(l, &ls) == VIDA_OK && ls.failures > 0) {
            /* each rank lists the failures of its own shard */
            fprintf(stderr, "%s: warning: %lld of %lld samples failed to decode and were left out:\n",
                    prog, (long long)ls.failures, (long long)ls.samples);
            for (int64_t k = 0; k < ls.failed_videos; k++) {
                const char *msg;
                if (vida_loader_failure(l, k, NULL, &msg) == VIDA_OK)
                    fprintf(stderr, "  %s\n", msg);
            }
        }
    }
    if (rank0_writes(dist, rank, "the model", path, m, NULL, NULL, &agreed) != 0)
        goto done;
    {
        double el = wall_seconds() - t_start, mean = 0;
        int k = n_recent < 10 ? n_recent : 10;
        for (int q = 0; q < k; q++)
            mean += recent[q] / k;
        g_last_train.seconds = el;
        g_last_train.loss = k ? mean : NAN;
        g_last_train.steps = (long)vida_optimizer_step_count(o);
        if (rank == 0 && quiet)
            printf("%lld steps in %.0f s (%.1f clips/s), loss %.4f (mean of the last %d)\n",
                   (long long)(vida_optimizer_step_count(o) - first_step), el,
                   el > 0 ? (double)clips_done / el : 0, k ? mean : NAN, k);
    }
    if (rank == 0)
        printf("wrote %s\n", path);
    rc = 0;
done:
    vida_loader_free(l);
    vida_optimizer_free(o);
    vida_sampler_free(s);
    vida_model_free(m);
    vida_dataset_free(ds);
    vida_context_free(ctx);
    if (rc == 0 || agreed || world == 1)
        vida_dist_free(dist);
    fflush(NULL);
    return rc;
}

/*
 * Runs n views x [n, 3, T, H, W] (shape[0] = n) through m in chunks of 16,
 * writing logits [n, C] and, when features is not NULL, features [n, F]:
 * the activations of 16 views at a time, however many views a video has.
 */
static int forward_chunks(vida_model *m, float *x, const int64_t shape[5], float *logits,
                          float *features)
{
    int64_t n = shape[0], per = shape[1] * shape[2] * shape[3] * shape[4];
    int64_t C = vida_model_num_classes(m), F = vida_model_feature_dim(m);
    for (int64_t a = 0; a < n; a += 16) {
        int64_t k = n - a < 16 ? n - a : 16;
        int64_t xs[5] = {k, shape[1], shape[2], shape[3], shape[4]}, ls[2] = {k, C}, fs[2] = {k, F};
        vida_tensor tx, tl, tf;
        int rc;
        vida_tensor_f32(&tx, x + a * per, 5, xs);
        vida_tensor_f32(&tl, logits + a * C, 2, ls);
        if (features)
            vida_tensor_f32(&tf, features + a * F, 2, fs);
        rc = vida_model_forward(m, &tx, &tl, features ? &tf : NULL);
        if (rc != VIDA_OK)
            return rc;
    }
    return VIDA_OK;
}

/*
 * Runs the views a sampler gives for [t0, t1) of path (t1 < 0: the whole video)
 * through m in eval mode: *nv views, logits [nv, C] and features [nv, F] in
 * malloc'd buffers (features may be NULL). 0 on success, else the error is in
 * vida_last_error().
 */
static int run_views(vida_context *ctx, vida_model *m, const vida_sampler *s, const char *path,
                     double t0, double t1, int64_t *nv, float **logits, float **features)
{
    vida_video *v = NULL;
    vida_sampler_params sp;
    int64_t shape[5];
    float *buf = NULL;
    size_t n;
    int rc;
    sp.size = sizeof sp;
    *logits = NULL;
    if (features)
        *features = NULL;
    rc = vida_sampler_get_params(s, &sp);
    rc = rc ? rc : vida_video_open(&v, ctx, path, NULL);
    rc = rc ? rc : vida_sampler_plan(s, v, nv, shape);
    if (rc != VIDA_OK)
        goto out;
    n = (size_t)shape[0] * (size_t)shape[1] * (size_t)shape[2] * (size_t)shape[3] * (size_t)shape[4];
    buf = malloc(n * sizeof *buf);
    *logits = malloc((size_t)*nv * (size_t)vida_model_num_classes(m) * sizeof **logits);
    if (features)
        *features = malloc((size_t)*nv * (size_t)vida_model_feature_dim(m) * sizeof **features);
    if (!buf || !*logits || (features && !*features)) {
        rc = VIDA_ENOMEM;
        goto out;
    }
    rc = vida_sampler_sample_window(s, v, 0, t0, t1, buf, n * sizeof *buf, NULL, 0);
    if (rc != VIDA_OK)
        goto out;
    rc = vida_model_set_mode(m, VIDA_MODE_EVAL);
    rc = rc ? rc : forward_chunks(m, buf, shape, *logits, features ? *features : NULL);
out:
    free(buf);
    vida_video_free(v);
    if (rc != VIDA_OK) {
        free(*logits);
        *logits = NULL;
        if (features) {
            free(*features);
            *features = NULL;
        }
    }
    return rc;
}

/* The model's clip geometry and normalisation into sp (its metadata), K clips placed by mode,
   centre crop, float32. 0, or 1 after the error is printed (metadata that is not a number). */
static int model_sampler_params(const vida_model *m, const char *path, vida_sampler_params *sp,
                                int clips, int mode)
{
    if (vida_sampler_params_from_model(sp, m, clips) != VIDA_OK)
        return fail_file(path);
    sp->clip_mode = mode;
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *manifest = NULL, *root = NULL;
    long clips = 10, crops = 1, threads = 1;
    int json = 0, rc = 1, i;
    const char **names = NULL;
    vida_context_params cp;
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    vida_sampler_params sp;
    vida_sampler *s = NULL;
    vida_eval *e = NULL;
    vida_eval_result r;
    int64_t failed = 0, C;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (a[0] != '-') {
            if (model_path)
                return usage_error("unexpected argument", a);
            model_path = a;
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (!v)
            return usage_error("missing value after", a);
        if (!strcmp(a, "--manifest")) manifest = v;
        else if (!strcmp(a, "--root")) root = v;
        else if (!strcmp(a, "--clips")) {
            if (parse_long(v, 1, 100, &clips)) return usage_error("bad --clips (1..100)", v);
        } else if (!strcmp(a, "--crops")) {
            if (parse_long(v, 1, 3, &crops) || crops == 2) return usage_error("bad --crops (1 or 3)", v);
        } else if (!strcmp(a, "--threads")) {
            if (parse_long(v, 1, 1024, &threads)) return usage_error("bad --threads", v);
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (!model_path || !manifest)
        return usage_error("eval takes MODEL and --manifest FILE", NULL);
    vida_context_params_init(&cp);
    cp.n_threads = (int)threads;
    if (context_create(&ctx, &cp) != VIDA_OK)
        return fail("cannot create the context");
    if (vida_model_load(&m, ctx, model_path) != VIDA_OK) {
        fail_file(model_path);
        goto done;
    }
    C = vida_model_num_classes(m);
    vida_dataset_params_init(&dp);
    dp.root = root;
    if ((names = model_labels(m)) != NULL) {
        dp.classes = names;
        dp.n_classes = (int)C;
    } else {
        fprintf(stderr, "%s: warning: %s has no usable class names (labels metadata missing, "
                "malformed or not %lld long); the manifest's labels are taken in byte order\n",
                prog, model_path, (long long)C);
    }
    if (vida_dataset_open(&ds, NULL, manifest, &dp) != VIDA_OK) {
        fail("cannot open the dataset");
        goto done;
    }
    print_problems(ds);
    {
        vida_dataset_stats dst;
        dst.size = sizeof dst;
        if (vida_dataset_get_stats(ds, &dst) == VIDA_OK && dst.unlabelled + dst.missing > 0)
            fprintf(stderr, "%s: warning: %lld videos left out: %lld with no class of the model, %lld "
                    "missing files\n", prog, (long long)(dst.unlabelled + dst.missing),
                    (long long)dst.unlabelled, (long long)dst.missing);
    }
    if (vida_dataset_n_classes(ds) != C) {
        fprintf(stderr, "%s: error: the manifest has %lld classes, the model %lld\n", prog,
                (long long)vida_dataset_n_classes(ds), (long long)C);
        goto done;
    }
    if (model_sampler_params(m, model_path, &sp, (int)clips, VIDA_CLIPS_UNIFORM))
        goto done;
    if (crops == 3)
        sp.crop_mode = VIDA_CROP_THREE;
    if (vida_sampler_create(&s, ctx, &sp) != VIDA_OK || vida_eval_create(&e, C, VIDA_EVAL_SOFTMAX) != VIDA_OK ||
        vida_model_set_mode(m, VIDA_MODE_EVAL) != VIDA_OK) {
        fail("cannot set up the evaluation");
        goto done;
    }
    for (int64_t k = 0; k < vida_dataset_size(ds); k++) {
        vida_dataset_video dv;
        int64_t nv = 0;
        float *logits = NULL;
        int r2;
        dv.size = sizeof dv;
        vida_dataset_get_video(ds, k, &dv);
        if (run_views(ctx, m, s, dv.path, dv.start, dv.end, &nv, &logits, NULL) != VIDA_OK) {
            fprintf(stderr, "%s: warning: %s (left out)\n", prog, vida_last_error());
            failed++;
            continue;
        }
        r2 = vida_eval_add_video(e, logits, nv, dv.labels, dv.n_labels);
        free(logits);
        if (r2 != VIDA_OK) {
            fail("evaluation failed");
            goto done;
        }
    }
    r.size = sizeof r;
    if (vida_eval_get_result(e, &r) != VIDA_OK) {
        fail("evaluation failed");
        goto done;
    }
    if (r.videos == 0) {
        fprintf(stderr, "%s: error: no video could be evaluated (%lld left out)\n", prog,
                (long long)failed);
        goto done;
    }
    g_last_eval = r;
    if (json) {
        int64_t *conf = malloc((size_t)(C * C) * sizeof *conf);
        printf("{\"videos\":%lld,\"failed\":%lld,\"clips\":%lld,\"clip_top1\":", (long long)r.videos,
               (long long)failed, (long long)r.clips);
        json_double(r.clip_top1);
        printf(",\"clip_top5\":");
        json_double(r.clip_top5);
        printf(",\"video_top1\":");
        json_double(r.video_top1);
        printf(",\"video_top5\":");
        json_double(r.video_top5);
        printf(",\"mean_class_accuracy\":");
        json_double(r.mean_class_accuracy);
        printf(",\"map\":");
        json_double(r.map);
        printf(",\"classes\":[");
        for (int64_t c = 0; c < C; c++) {
            int64_t nvid;
            double acc, ap;
            vida_eval_class(e, c, &nvid, &acc, &ap);
            printf("%s{\"name\":", c ? "," : "");
            json_string(vida_dataset_label_name(ds, c));
            printf(",\"videos\":%lld,\"accuracy\":", (long long)nvid);
            json_double(nvid ? acc : NAN);
            printf(",\"ap\":");
            json_double(nvid ? ap : NAN);
            printf("}");
        }
        printf("],\"confusion\":[");
        if (conf && vida_eval_confusion(e, conf, (size_t)(C * C)) == VIDA_OK)
            for (int64_t a = 0; a < C; a++) {
                printf("%s[", a ? "," : "");
                for (int64_t b2 = 0; b2 < C; b2++)
                    printf("%s%lld", b2 ? "," : "", (long long)conf[a * C + b2]);
                printf("]");
            }
        printf("]}\n");
        free(conf);
    } else {
        printf("%lld videos (%lld failed to decode), %lld clips: clip@1 %.4f clip@5 %.4f video@1 %.4f "
               "video@5 %.4f mean class accuracy %.4f mAP %.4f\n",
               (long long)r.videos, (long long)failed, (long long)r.clips, r.clip_top1, r.clip_top5,
               r.video_top1, r.video_top5, r.mean_class_accuracy, r.map);
    }
    rc = 0;
done:
    vida_eval_free(e);
    vida_sampler_free(s);
    vida_dataset_free(ds);
    vida_model_free(m);
    vida_context_free(ctx);
    free(names);
    return rc;
}

static int cmd_features(int argc, char **argv)
{
    const char *model_path = NULL, *out = NULL;
    const char **videos = calloc((size_t)argc, sizeof *videos);
    long clips = 4;
    int n_videos = 0, rc = 1, F;
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_sampler_params sp;
    vida_sampler *s = NULL;
    float *clip_f = NULL, *video_f = NULL;
    int64_t *clip_v = NULL, total = 0;
    if (!videos)
        return fail("out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage(stdout);
            free(videos);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--clips")) {
            const char *v = arg_value(argc, argv, &i);
            if (!v) {
                free(videos);
                return usage_error("missing value after", a);
            }
            if (!strcmp(a, "-o"))
                out = v;
            else if (parse_long(v, 1, 100, &clips)) {
                free(videos);
                return usage_error("bad --clips (1..100)", v);
            }
        } else if (a[0] == '-') {
            free(videos);
            return usage_error("unknown option", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            videos[n_videos++] = a;
        }
    }
    if (!model_path || !n_videos || !out) {
        free(videos);
        return usage_error("features takes MODEL VIDEO... -o OUT.safetensors", NULL);
    }
    if (make_context(&ctx, 1, 0) || vida_model_load(&m, ctx, model_path) != VIDA_OK) {
        rc = ctx ? fail_file(model_path) : 1;
        goto done;
    }
    F = vida_model_feature_dim(m);
    if (model_sampler_params(m, model_path, &sp, (int)clips, VIDA_CLIPS_UNIFORM))
        goto done;
    if (vida_sampler_create(&s, ctx, &sp) != VIDA_OK) {
        fail("cannot create the sampler");
        goto done;
    }
    clip_f = malloc((size_t)n_videos * (size_t)clips * (size_t)F * sizeof *clip_f);
    clip_v = malloc((size_t)n_videos * (size_t)clips * sizeof *clip_v);
    video_f = calloc((size_t)n_videos * (size_t)F, sizeof *video_f);
    if (!clip_f || !clip_v || !video_f) {
        fail("out of memory");
        goto done;
    }
    for (int k = 0; k < n_videos; k++) {
        int64_t nv = 0;
        float *logits = NULL, *f = NULL;
        if (run_views(ctx, m, s, videos[k], 0, -1, &nv, &logits, &f) != VIDA_OK) {
            rc = fail_file(videos[k]);
            goto done;
        }
        for (int64_t c = 0; c < nv; c++) {
            memcpy(clip_f + (total + c) * F, f + c * F, (size_t)F * sizeof *f);
            clip_v[total + c] = k;
            for (int j = 0; j < F; j++)
                video_f[(size_t)k * F + j] += f[c * F + j] / (float)nv;
        }
        total += nv;
        free(logits);
        free(f);
    }
    {
        const char *names[3] = {"clip_features", "clip_video", "video_features"};
        vida_tensor t[3];
        int64_t s0[2] = {total, F}, s1[1] = {total}, s2[2] = {n_videos, F};
        vida_tensor_f32(&t[0], clip_f, 2, s0);
        memset(&t[1], 0, sizeof t[1]);
        t[1].data = clip_v;
        t[1].dtype = VIDA_DTYPE_I64;
        t[1].ndim = 1;
        t[1].shape[0] = s1[0];
        vida_tensor_f32(&t[2], video_f, 2, s2);
        if (vida_tensorfile_write(out, 3, names, t) != VIDA_OK) {
            rc = fail_file(out);
            goto done;
        }
    }
    printf("wrote %s: clip_features [%lld,%d], clip_video [%lld], video_features [%d,%d]\n", out,
           (long long)total, F, (long long)total, n_videos, F);
    rc = 0;
done:
    free(clip_f);
    free(clip_v);
    free(video_f);
    free(videos);
    vida_sampler_free(s);
    vida_model_free(m);
    vida_context_free(ctx);
    return rc;
}

static void softmax_mean(const float *logits, int64_t nv, int64_t C, double *p)
{
    for (int64_t j = 0; j < C; j++)
        p[j] = 0;
    for (int64_t v = 0; v < nv; v++) {
        const float *x = logits + v * C;
        double mx = x[0], sum = 0;
        for (int64_t j = 1; j < C; j++)
            mx = x[j] > mx ? x[j] : mx;
        for (int64_t j = 0; j < C; j++)
            sum += exp(x[j] - mx);
        for (int64_t j = 0; j < C; j++)
            p[j] += exp(x[j] - mx) / sum / (double)nv;
    }
}

static int cmd_classify(int argc, char **argv)
{
    const char *model_path = NULL;
    const char **videos = calloc((size_t)argc, sizeof *videos);
    long clips = 10, top = 5;
    double timeline = 0;
    int n_videos = 0, rc = 1, json = 0;
    const char **names = NULL;
    vida_context *ctx = NULL;
    vida_model *m = NULL;
    vida_sampler_params sp;
    vida_sampler *s = NULL, *ws = NULL;
    double *p = NULL;
    int64_t C;
    if (!videos)
        return fail("out of memory");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            free(videos);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (a[0] != '-') {
            if (!model_path)
                model_path = a;
            else
                videos[n_videos++] = a;
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (!v || (!strcmp(a, "--clips") && parse_long(v, 1, 100, &clips)) ||
            (!strcmp(a, "--top") && parse_long(v, 1, 1000000, &top)) ||
            (!strcmp(a, "--timeline") && (parse_double(v, &timeline) || !(timeline >= 0.05))) ||
            (strcmp(a, "--clips") && strcmp(a, "--top") && strcmp(a, "--timeline"))) {
            free(videos);
            return usage_error("bad option or value:", a);
        }
    }
    if (!model_path || !n_videos) {
        free(videos);
        return usage_error("classify takes MODEL VIDEO...", NULL);
    }
    if (make_context(&ctx, 1, 0) || vida_model_load(&m, ctx, model_path) != VIDA_OK) {
        rc = ctx ? fail_file(model_path) : 1;
        goto done;
    }
    C = vida_model_num_classes(m);
    if (top > C)
        top = C;
    names = model_labels(m);
    if (model_sampler_params(m, model_path, &sp, (int)clips, VIDA_CLIPS_UNIFORM))
        goto done;
    if (vida_sampler_create(&s, ctx, &sp) != VIDA_OK) {
        fail("cannot create the sampler");
        goto done;
    }
    model_sampler_params(m, model_path, &sp, 1, VIDA_CLIPS_CENTER);
    if (vida_sampler_create(&ws, ctx, &sp) != VIDA_OK || !(p = malloc((size_t)C * sizeof *p))) {
        fail("cannot create the sampler");
        goto done;
    }
    if (json)
        printf("[");
    for (int k = 0; k < n_videos; k++) {
        int64_t nv = 0;
        float *logits = NULL;
        int *best = malloc((size_t)top * sizeof *best);
        if (!best || run_views(ctx, m, s, videos[k], 0, -1, &nv, &logits, NULL) != VIDA_OK) {
            free(best);
            if (json)
                printf("]\n");
            rc = fail_file(videos[k]);
            goto done;
        }
        softmax_mean(logits, nv, C, p);
        free(logits);
        for (int r = 0; r < top; r++) { /* the top classes, ties to the lower number */
            int b = -1;
            for (int64_t j = 0; j < C; j++) {
                int used = 0;
                for (int q = 0; q < r; q++)
                    used |= best[q] == j;
                if (!used && (b < 0 || p[j] > p[b]))
                    b = (int)j;
            }
            best[r] = b;
        }
        if (json) {
            printf("%s{\"video\":", k ? "," : "");
            json_string(videos[k]);
            printf(",\"clips\":%lld,\"top\":[", (long long)nv);
            for (int r = 0; r < top; r++) {
                printf("%s{\"class\":%d,\"name\":", r ? "," : "", best[r]);
                json_string(names ? names[best[r]] : "");
                printf(",\"p\":%.6f}", p[best[r]]);
            }
            printf("]");
        } else {
            printf("%s (%lld clips):", videos[k], (long long)nv);
            for (int r = 0; r < top; r++)
                if (names)
                    printf(" %s%s %.4f", r ? "| " : "", names[best[r]], p[best[r]]);
                else
                    printf(" %sclass %d %.4f", r ? "| " : "", best[r], p[best[r]]);
            printf("\n");
        }
        free(best);
        if (timeline > 0) {
            /* one centre clip per window of `timeline` seconds */
            vida_video *v = NULL;
            vida_video_info info;
            int nw = 0;
            info.size = sizeof info;
            if (vida_video_open(&v, ctx, videos[k], NULL) != VIDA_OK ||
                vida_video_get_info(v, &info) != VIDA_OK) {
                vida_video_free(v);
                if (json)
                    printf("}]\n");
                rc = fail_file(videos[k]);
                goto done;
            }
            vida_video_free(v);
            if (json)
                printf(",\"timeline\":[");
            for (double t0 = 0; t0 < info.duration - 1e-9; t0 += timeline) {
                double t1 = t0 + timeline < info.duration ? t0 + timeline : -1;
                int b = 0;
                if (run_views(ctx, m, ws, videos[k], t0, t1, &nv, &logits, NULL) != VIDA_OK) {
                    if (json)
                        printf("]}]\n");
                    rc = fail_file(videos[k]);
                    goto done;
                }
                softmax_mean(logits, nv, C, p);
                free(logits);
                for (int64_t j = 1; j < C; j++)
                    if (p[j] > p[b])
                        b = (int)j;
                if (json) {
                    printf("%s{\"start\":%.3f,\"end\":%.3f,\"class\":%d,\"name\":", nw ? "," : "", t0,
                           t1 < 0 ? info.duration : t1, b);
                    json_string(names ? names[b] : "");
                    printf(",\"p\":%.6f}", p[b]);
                } else {
                    if (names)
                        printf("  %8.3f - %8.3f s: %s %.4f\n", t0, t1 < 0 ? info.duration : t1, names[b],
                               p[b]);
                    else
                        printf("  %8.3f - %8.3f s: class %d %.4f\n", t0, t1 < 0 ? info.duration : t1, b,
                               p[b]);
                }
                nw++;
            }
            if (json)
                printf("]");
        }
        if (json)
            printf("}");
    }
    if (json)
        printf("]\n");
    rc = 0;
done:
    free(p);
    free(videos);
    free(names);
    vida_sampler_free(s);
    vida_sampler_free(ws);
    vida_model_free(m);
    vida_context_free(ctx);
    return rc;
}

static const char *const SYNTH_PRESETS[] = {"pretrain", "target-k", "target-ss", "target-epic", "demo",
                                            NULL}; /* from VIDA_SYNTH_PRETRAIN */

/* "A-B" or "A" (both ends A) into lo, hi. */
static int parse_range(const char *v, double *lo, double *hi)
{
    char buf[64], *dash;
    if (!v || strlen(v) >= sizeof buf)
        return -1;
    strcpy(buf, v);
    dash = strchr(buf + 1, '-');
    if (dash)
        *dash = 0;
    if (parse_double(buf, lo) || (dash ? parse_double(dash + 1, hi) : (*hi = *lo, 0)))
        return -1;
    return 0;
}

int cmd_synth(int argc, char **argv)
{
    const char *out = NULL, *preset_name = NULL;
    vida_synth_params p;
    vida_context *ctx = NULL;
    long threads = 2, lv;
    double d, lo, hi;
    int rc = 1, preset = 0;
    /* the preset first: the other options change its defaults */
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--preset") && i + 1 < argc)
            preset_name = argv[i + 1];
    if (preset_name && (preset = pick(preset_name, SYNTH_PRESETS)) < 0)
        return usage_error("bad --preset (pretrain, target-k, target-ss, target-epic, demo):",
                           preset_name);
    vida_synth_params_init(&p, VIDA_SYNTH_PRETRAIN + (preset < 0 ? 0 : preset));
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--long")) {
            p.min_seconds = 10;
            p.max_seconds = 30;
            continue;
        }
        if (a[0] != '-') {
            if (out)
                return usage_error("unexpected argument", a);
            out = a;
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (!v)
            return usage_error("missing value after", a);
        if (!strcmp(a, "--preset")) {
            continue;
        } else if (!strcmp(a, "--videos")) {
            if (parse_long(v, 1, 10000000, &lv)) return usage_error("bad --videos (1..10^7)", v);
            p.videos = lv;
        } else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, 0x7fffffffL, &lv)) return usage_error("bad --seed", v);
            p.seed = (uint64_t)lv;
        } else if (!strcmp(a, "--threads")) {
            if (parse_long(v, 1, 1024, &threads)) return usage_error("bad --threads", v);
        } else if (!strcmp(a, "--size")) {
            int w, h;
            char x;
            if (sscanf(v, "%d%c%d", &w, &x, &h) != 3 || x != 'x') return usage_error("bad --size (WxH)", v);
            p.width = w;
            p.height = h;
        } else if (!strcmp(a, "--fps")) {
            if (parse_long(v, 1, 120, &lv)) return usage_error("bad --fps (1..120)", v);
            p.fps = (int)lv;
        } else if (!strcmp(a, "--seconds")) {
            if (parse_range(v, &lo, &hi)) return usage_error("bad --seconds (MIN-MAX)", v);
            p.min_seconds = lo;
            p.max_seconds = hi;
        } else if (!strcmp(a, "--action-seconds")) {
            if (parse_range(v, &lo, &hi)) return usage_error("bad --action-seconds (MIN-MAX)", v);
            p.action_min_seconds = lo;
            p.action_max_seconds = hi;
        } else if (!strcmp(a, "--classes")) {
            if (parse_long(v, 2, 96, &lv)) return usage_error("bad --classes (2..96)", v);
            p.classes = (int)lv;
        } else if (!strcmp(a, "--verbs")) {
            if (parse_long(v, 2, 12, &lv)) return usage_error("bad --verbs (2..12)", v);
            p.verbs = (int)lv;
        } else if (!strcmp(a, "--distractors")) {
            if (parse_long(v, 0, 8, &lv)) return usage_error("bad --distractors (0..8)", v);
            p.max_distractors = (int)lv;
        } else if (!strcmp(a, "--codec")) {
            if (!strcmp(v, "auto")) p.codec = VIDA_SYNTH_CODEC_AUTO;
            else if (!strcmp(v, "h264")) p.codec = VIDA_SYNTH_CODEC_H264;
            else if (!strcmp(v, "mpeg4")) p.codec = VIDA_SYNTH_CODEC_MPEG4;
            else return usage_error("bad --codec (auto, h264, mpeg4):", v);
        } else if (!strcmp(a, "--test-fraction") || !strcmp(a, "--zipf") || !strcmp(a, "--p-missing") ||
                   !strcmp(a, "--p-wrong")) {
            if (parse_double(v, &d)) return usage_error("bad value for", a);
            if (!strcmp(a, "--test-fraction")) p.test_fraction = d;
            else if (!strcmp(a, "--zipf")) p.zipf = d;
            else if (!strcmp(a, "--p-missing")) p.p_missing = d;
            else p.p_wrong = d;
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (!out || !preset_name)
        return usage_error("synth takes OUTDIR and --preset pretrain|target-k|target-ss|target-epic|demo",
                           NULL);
    if (make_context(&ctx, threads, 0))
        return 1;
    if (vida_synth_generate(ctx, out, &p) != VIDA_OK) {
        fail("cannot generate the data set");
        goto done;
    }
    printf("wrote %s: SynthActions preset %s, seed %llu, %lld videos%s, %dx%d at %d fps\n", out,
           preset_name, (unsigned long long)p.seed, (long long)p.videos,
           p.preset == VIDA_SYNTH_DEMO ? " to pre-train on (and target/, long/)" : "", p.width, p.height,
           p.fps);
    rc = 0;
done:
    vida_context_free(ctx);
    return rc;
}

/* Runs command fn with the arguments given (NULL-terminated; argv[0] and argv[1] are names). */
int run_cmd(int (*fn)(int, char **), const char *name, ...)
{
    char *argv[64];
    int argc = 0;
    va_list ap;
    argv[argc++] = (char *)"vidaction";
    argv[argc++] = (char *)name;
    va_start(ap, name);
    for (const char *a; argc < 63 && (a = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    return fn(argc, argv);
}

/*
 * --json of the long commands (demo, study): their stages print to stderr and stdout gets only
 * the JSON. Returns the saved stdout (>= 0), or -1 with a message when it cannot be redirected.
 */
int stdout_to_stderr(void)
{
    return stdout_to(2);
}

/* stdout into fd (still open after) until stdout_back; returns the saved stdout, or -1 */
int stdout_to(int fd)
{
    int saved;
    fflush(stdout);
    saved = dup(1);
    if (saved < 0 || dup2(fd, 1) < 0) {
        fprintf(stderr, "%s: error: cannot redirect the output: %s\n", prog, strerror(errno));
        if (saved >= 0)
            close(saved);
        return -1;
    }
    /* line by line, so that the stages and any error on stderr come in order */
    setvbuf(stdout, NULL, _IOLBF, 0);
    return saved;
}

/* Gives stdout back (*saved from stdout_to_stderr; nothing when it is < 0). */
void stdout_back(int *saved)
{
    if (*saved < 0)
        return;
    fflush(stdout);
    dup2(*saved, 1);
    close(*saved);
    *saved = -1;
}

/*
 * demo: the whole story on SynthActions in a few minutes on a CPU -- data, pre-training on noisy
 * hashtags, transfer to a small clean target set (full fine-tuning and fc-only) against training
 * from scratch on the target alone, multi-clip evaluation, and a timeline over a long video.
 * The model and schedule are small on purpose (docs/quickstart.md, docs/synthactions.md): the
 * whole run fits in about four minutes on two cores.
 */

static int cmd_demo(int argc, char **argv)
{
    const char *out = "vidaction-demo";
    long seed = 1, threads = 2;
    int json = 0, rc = 1, saved_stdout = -1, quick = 0;
    /* --quick: the same story on a tenth of the work, to check the plumbing (its numbers mean
       little) */
    const char *pre_videos = "900", *pre_steps = "500", *pre_warmup = "40", *tgt_steps = "80";
    char data[4096], pre[4096], tax[4096], tgt[4096], test[4096], runs[4][4096], model[4][4096];
    char longv[4096], longt[4096], seed_s[32], threads_s[32];
    static const char *const run_names[4] = {"pretrain", "scratch", "finetuned", "fc-only"};
    double t0 = wall_seconds(), stage_s[5] = {0};
    vida_eval_result res[3];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--quick")) {
            quick = 1;
            pre_videos = "120";
            pre_steps = "40";
            pre_warmup = "10"; /* below its 40 steps */
            tgt_steps = "10";
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (!v)
            return usage_error("missing value after", a);
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, 0x7fffffffL, &seed)) return usage_error("bad --seed", v);
        } else if (!strcmp(a, "--threads")) {
            if (parse_long(v, 1, 1024, &threads)) return usage_error("bad --threads", v);
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (strlen(out) > 3000)
        return usage_error("--out is too long", NULL);
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: error: cannot create %s: %s\n", prog, out, strerror(errno));
        return 1;
    }
    snprintf(data, sizeof data, "%s/data", out);
    snprintf(pre, sizeof pre, "%s/data/pretrain/train.tsv", out);
    snprintf(tax, sizeof tax, "%s/data/pretrain/taxonomy.tsv", out);
    snprintf(tgt, sizeof tgt, "%s/data/target/train.tsv", out);
    snprintf(test, sizeof test, "%s/data/target/test.tsv", out);
    snprintf(longv, sizeof longv, "%s/data/long/videos/000000.mp4", out);
    snprintf(longt, sizeof longt, "%s/data/long/truth.jsonl", out);
    for (int k = 0; k < 4; k++) {
        snprintf(runs[k], sizeof runs[k], "%s/%s", out, run_names[k]);
        snprintf(model[k], sizeof model[k], "%s/%s/model.safetensors", out, run_names[k]);
    }
    snprintf(seed_s, sizeof seed_s, "%ld", seed);
    snprintf(threads_s, sizeof threads_s, "%ld", threads);
    if (json && (saved_stdout = stdout_to_stderr()) < 0)
        return 1;
    printf("== libvidaction %s demo (seed %ld, %ld threads, output in %s)\n\n", vida_version_string(),
           seed, threads, out);
    if (quick)
        printf("== --quick: a tenth of the work, to check that everything runs; the numbers mean little\n\n");
    printf("== 1. SynthActions data: %s pre-training videos of 8 verbs on 8 shapes, labelled only by\n"
           "      noisy hashtags; a clean target set of the same 8 verbs on 4 shapes pre-training never\n"
           "      shows (5 videos per verb to train on, 7 to test); 2 long videos\n", pre_videos);
    if (run_cmd(cmd_synth, "synth", data, "--preset", "demo", "--seed", seed_s, "--threads", threads_s,
                "--videos", pre_videos, NULL))
        goto done;
    stage_s[0] = wall_seconds() - t0;
    printf("\n== 2. pre-training R(2+1)D-10 (1/4 width, 8x32x32 clips) on the hashtags' verbs (through\n"
           "      the taxonomy), square-root resampling of the long tail, %s steps of 16 clips\n",
           pre_steps);
    if (run_cmd(cmd_train, "train", "--manifest", pre, "--taxonomy", tax, "--label-space", "verb",
                "--resample", "sqrt", DEMO_ARCH, DEMO_GEOMETRY, "--steps", pre_steps, "--lr", "0.02",
                "--warmup", pre_warmup, "--schedule", "cosine", "--threads", threads_s, "--seed", seed_s,
                "--out", runs[0], "--quiet", NULL))
        goto done;
    stage_s[1] = g_last_train.seconds;
    printf("\n== 3. the target set, three ways (%s steps each)\n", tgt_steps);
    printf("   from scratch:\n");
    if (run_cmd(cmd_train, "train", "--manifest", tgt, DEMO_ARCH, DEMO_GEOMETRY, "--steps", tgt_steps,
                "--lr", "0.05", "--warmup", "5", "--schedule", "cosine", "--threads", threads_s,
                "--seed", seed_s, "--out", runs[1], "--quiet", NULL))
        goto done;
    stage_s[2] = g_last_train.seconds;
    printf("   pre-trained, fine-tuned (every layer):\n");
    if (run_cmd(cmd_train, "train", "--manifest", tgt, "--init", model[0], DEMO_GEOMETRY, "--steps",
                tgt_steps, "--lr", "0.01", "--warmup", "5", "--schedule", "cosine",
                "--threads", threads_s, "--seed", seed_s, "--out", runs[2], "--quiet", NULL))
        goto done;
    stage_s[3] = g_last_train.seconds;
    printf("   pre-trained, fc-only (the trunk frozen):\n");
    if (run_cmd(cmd_train, "train", "--manifest", tgt, "--init", model[0], "--freeze", "backbone",
                DEMO_GEOMETRY, "--steps", tgt_steps, "--lr", "0.05", "--schedule", "cosine",
                "--threads", threads_s, "--seed", seed_s, "--out", runs[3], "--quiet", NULL))
        goto done;
    stage_s[4] = g_last_train.seconds;
    printf("\n== 4. evaluation on the target's test videos: 4 uniform clips per video, mean softmax\n");
    for (int k = 0; k < 3; k++) {
        printf("   %s: ", run_names[k + 1]);
        if (run_cmd(cmd_eval, "eval", model[k + 1], "--manifest", test, "--clips", "4", "--threads",
                    threads_s, NULL))
            goto done;
        res[k] = g_last_eval;
    }
    printf("\n== 5. a long video (five actions in a row), the fine-tuned model's best verb every 2 s\n");
    if (run_cmd(cmd_classify, "classify", model[2], longv, "--clips", "4", "--top", "3", "--timeline",
                "2", NULL))
        goto done;
    {
        /* what really happens in it: the scenes of truth.jsonl's first line */
        FILE *f = fopen(longt, "r");
        char line[8192];
        if (f && fgets(line, sizeof line, f)) {
            const char *p = line;
            printf("   truth:\n");
            while ((p = strstr(p, "{\"start\": ")) != NULL) {
                double a, b, a0, a1;
                char verb[64], noun[64];
                const char *act = strstr(p, "\"action\": [");
                if (sscanf(p, "{\"start\": %lf, \"end\": %lf, \"verb\": \"%63[^\"]\", \"noun\": \"%63[^\"]\"",
                           &a, &b, verb, noun) == 4 &&
                    act && sscanf(act, "\"action\": [%lf, %lf]", &a0, &a1) == 2)
                    printf("  %8.3f - %8.3f s: %s (a %s, in motion %.1f - %.1f s)\n", a, b, verb, noun, a0,
                           a1);
                p++;
            }
        }
        if (f)
            fclose(f);
    }
    {
        double total = wall_seconds() - t0;
        printf("\n== results (seed %ld): video@1 on %lld test videos of %d classes (chance %.3f)\n\n",
               seed, (long long)res[0].videos, DEMO_CLASSES, 1.0 / DEMO_CLASSES);
        printf("   %-28s %8s %8s %8s\n", "", "video@1", "clip@1", "mAP");
        printf("   %-28s %8.3f %8.3f %8.3f\n", "from scratch", res[0].video_top1, res[0].clip_top1,
               res[0].map);
        printf("   %-28s %8.3f %8.3f %8.3f\n", "pre-trained + fine-tuned", res[1].video_top1,
               res[1].clip_top1, res[1].map);
        printf("   %-28s %8.3f %8.3f %8.3f\n", "pre-trained + fc-only", res[2].video_top1,
               res[2].clip_top1, res[2].map);
        printf("\n   %.0f s in all (data %.0f s, pre-training %.0f s, target runs %.0f + %.0f + %.0f s)\n",
               total, stage_s[0], stage_s[1], stage_s[2], stage_s[3], stage_s[4]);
        printf("   data in %s, models in %s/{pretrain,scratch,finetuned,fc-only}/model.safetensors\n",
               data, out);
        if (res[1].video_top1 > res[0].video_top1)
            printf("   pre-training on the noisy hashtags beat training from scratch by %.1f points\n",
                   100 * (res[1].video_top1 - res[0].video_top1));
        else
            printf("   pre-training did NOT beat training from scratch with this seed\n");
        if (json) {
            stdout_back(&saved_stdout);
            printf("{\"seed\":%ld,\"quick\":%s,\"test_videos\":%lld,\"classes\":%d", seed,
                   quick ? "true" : "false", (long long)res[0].videos, DEMO_CLASSES);
            for (int k = 0; k < 3; k++) {
                static const char *const keys[3] = {"scratch", "pretrained_finetuned", "pretrained_fc_only"};
                printf(",\"%s\":{\"video_top1\":", keys[k]);
                json_double(res[k].video_top1);
                printf(",\"clip_top1\":");
                json_double(res[k].clip_top1);
                printf(",\"map\":");
                json_double(res[k].map);
                printf("}");
            }
            printf(",\"seconds\":%.1f,\"out\":", total);
            json_string(out);
            printf("}\n");
        }
    }
    rc = 0;
done:
    stdout_back(&saved_stdout);
    return rc;
}


int main(int argc, char **argv)
{
    if (take_global_options(&argc, argv))
        return 2;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("vidaction %s (%s)\n", vida_version_string(), vida_features_string());
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "create") == 0)
        return cmd_create(argc, argv);
    if (strcmp(argv[1], "model-info") == 0)
        return cmd_model_info(argc, argv);
    if (strcmp(argv[1], "forward") == 0)
        return cmd_forward(argc, argv);
    if (strcmp(argv[1], "info") == 0)
        return cmd_info(argc, argv);
    if (strcmp(argv[1], "clip") == 0)
        return cmd_clip(argc, argv);
    if (strcmp(argv[1], "scan") == 0)
        return cmd_scan(argc, argv);
    if (strcmp(argv[1], "dataset") == 0)
        return cmd_dataset(argc, argv);
    if (strcmp(argv[1], "train") == 0)
        return cmd_train(argc, argv);
    if (strcmp(argv[1], "eval") == 0)
        return cmd_eval(argc, argv);
    if (strcmp(argv[1], "features") == 0)
        return cmd_features(argc, argv);
    if (strcmp(argv[1], "classify") == 0)
        return cmd_classify(argc, argv);
    if (strcmp(argv[1], "synth") == 0)
        return cmd_synth(argc, argv);
    if (strcmp(argv[1], "demo") == 0)
        return cmd_demo(argc, argv);
    if (strcmp(argv[1], "study") == 0)
        return cmd_study(argc, argv);
    return usage_error("unknown command", argv[1]);
}

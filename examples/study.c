/*
 * vidaction study NAME: the paper's findings in miniature on SynthActions (issue 8, docs/
 * reproduction.md), with the real pipeline -- generated H.264 videos, the dataset and its
 * taxonomy, the loader, training, multi-clip evaluation -- run in this process through the
 * CLI's own commands, over fixed seeds. Each point is a target's video@1 over the seeds, mean
 * and sample standard deviation.
 *
 *   scale           pre-training on x1, x4, x16 videos of a noisier pool at the same compute,
 *                   fine-tuned and fc-only, vs scratch; epic nouns from noun pre-training on
 *                   as many videos of the other studies' pool
 *   label-space     pre-training on target labels, verbs, nouns, verb+noun (the same number of
 *                   videos), fc-only on target-k, target-ss, epic verbs, epic nouns
 *   video-vs-frame  R(2+1)D against a frame model (ResNet-18 on single frames), both
 *                   pre-trained as scale's x4 (--quick: x16), on target-ss and target-k
 *   budget          a number of videos against a number of minutes, short against long
 *                   videos, one against four clips per video
 *   resampling      natural, square-root and uniform sampling of the long tail
 *   all             every study; runs they share are trained once
 *
 * Every training run is kept in OUT/runs/NAME-HASH with the arguments it was trained with
 * (args.txt); a later run with the same arguments reuses its model, so studies share their
 * pre-trained networks and an interrupted study goes on where it stopped. Data sets are
 * generated once into OUT/data/ under names that carry their parameters. An evaluation's
 * video@1 is kept beside the model it measured (eval-HASH.txt) and reused while that model file
 * is the same.
 *
 * --jobs J (J > 1): each study is first planned (its code run with every training and
 * evaluation recorded, not done), the planned runs are then done J at a time, each in a child
 * process on T/J threads, a transfer after the pre-training it starts from; then the study's
 * code runs again and finds every run and evaluation done.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vidaction.h>
#include "cli.h"

#define STUDY_MAX_SEEDS 16
#define STUDY_MAX_POINTS 128

/* The recipes. Pre-training: 300 steps of 16 clips, lr 0.02 after 40 warm-up steps, cosine
   (0.05 after 10 diverged on some subsets: loss back to ln 8 and no transfer). Transfer: 80
   steps; full fine-tuning at lr 0.01, fc-only (trunk frozen, BN on its statistics) at 0.05;
   scratch: the network trained on the target alone at 0.05. */
#define PRE_STEPS "300"
/* scale (and video-vs-frame, which shares its pre-trainings) asks whether more noisy data helps at
   the same compute: its pool has 4 wrong hashtags in 10 (the others' 1 in 10; with 1 in 10, 250
   videos trained for 600 steps did as well as 4000), and every size trains 600 steps. --quick
   keeps the others' pool and 300 steps for scale (at 24x24 the noisier pool learned little;
   there 120 videos against 1920 shows the larger set winning at the same compute). Its rate is
   0.01: at 0.02 the larger sets of that pool hardly learned (loss 1.86-2.02 after 600 steps, ln 8 =
   2.08) and two of nine pre-trainings transferred little more than chance */
#define SCALE_STEPS "600"
#define SCALE_P_WRONG "0.4"
#define SCALE_LR "0.01"
#define PRE_P_WRONG "0.1" /* the synth default, for the messages */
#define PRE_LR "0.02"
#define PRE_WARMUP "40"
/* scale's epic-nouns rows pre-train on nouns: the verb pre-trainings teach no shapes (their
   transfers stayed at or below scratch on epic nouns in every run), the noisier pool and
   verb+noun pairs learned none in 3000 steps either. On the others' pool (1 hashtag in 10 wrong)
   nouns, uniform over the 8 shapes, 3000 steps at lr 0.05 after 5 warm-up steps did learn them
   at 4000 videos (x16): 0.29-0.38 on epic nouns with their own classifier, transfers above
   scratch in 3 of 3 seeds; 250 and 1000 videos transfer below scratch (docs/reproduction.md).
   Each is about 10 minutes on one core (two at a time); --quick has no time for them. */
#define NOUN_STEPS "3000"
#define NOUN_LR "0.05"
#define NOUN_WARMUP "5"
#define TGT_STEPS "80"
/* The frame model: ResNet-18 at 1/4 width on single frames, 64 frames a step (the R(2+1)D
   step sees 16 clips of 8), evaluated on 32 frames a video (R(2+1)D: 4 clips of 8). */
#define FRAME_ARCH "--arch", "r2d", "--depth", "18", "--width", "0.25"
/* Both networks see frames scaled to a short side of 40 and cropped to 32x32 (DEMO_GEOMETRY);
   --quick: 30 and 24x24, which makes a step about 1.5x faster and kept every large effect of
   scale --quick (docs/reproduction.md). */

typedef struct study_point {
    char study[24], name[40], target[16], transfer[12];
    double v[STUDY_MAX_SEEDS];
    int n;
} study_point;

/* a target set: its manifests and its chance level */
typedef struct tset {
    const char *name;
    char train[4400], test[4400];
    double chance;
} tset;

typedef struct study {
    const char *out, *threads;
    long first_seed;
    int n_seeds, quick;
    long base;                /* scale's x1 (videos); the pool has 16 x base */
    long budget_videos, budget_minutes; /* the budget study's N videos and M minutes */
    long space_videos;        /* label-space's and resampling's videos a pre-training */
    long vvf_videos;          /* video-vs-frame's pre-training videos */
    long long_videos;         /* videos in the pool of long videos */
    const char *pre_steps, *tgt_steps; /* PRE_STEPS and TGT_STEPS; --smoke: a few */
    const char *scale_steps;           /* SCALE_STEPS; --smoke: a few */
    const char *noun_steps;            /* NOUN_STEPS; --smoke: a few */
    const char *pre_warmup, *tgt_warmup, *noun_warmup;
    const char *clips_video, *clips_frame; /* evaluation: clips of R(2+1)D, frames of the frame model */
    const char *short_side, *crop;   /* the frames: scaled to short_side, crop x crop */
    int smoke;
    char pool[4400], tax[4400]; /* the demo set's noisy pre-training manifest and taxonomy */
    char npool[4400], ntax[4400]; /* scale's noisier pool (SCALE_P_WRONG) */
    char longpool[4400], longtax[4400];
    tset ss, k, epic_verb, epic_noun;
    int have_demo, have_noisy, have_k, have_epic, have_long;
    study_point pts[STUDY_MAX_POINTS];
    int n_pts;
    long reused, trained;
    /* --jobs: the planning pass (plan), its runs (jobq), stdout while it is quiet */
    int jobs, plan, quiet_fd, cur_study;
    const char *data_threads; /* --threads, for generating data: jobs share it */
    struct job *jobq;
    int n_jobs, jobs_trained;
} study;

/* an argument list that owns its strings */
typedef struct argl {
    char *v[96];
    int n;
    char buf[8192];
    size_t used;
} argl;

static void al_add(argl *a, ...)
{
    va_list ap;
    va_start(ap, a);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        size_t len = strlen(s) + 1;
        if (a->n >= 94 || a->used + len > sizeof a->buf) {
            fprintf(stderr, "%s: error: study: argument list too long\n", prog);
            abort();
        }
        a->v[a->n++] = memcpy(a->buf + a->used, s, len);
        a->used += len;
    }
    va_end(ap);
}

static void al_addf(argl *a, const char *opt, const char *fmt, ...)
{
    char tmp[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (opt)
        al_add(a, opt, tmp, NULL);
    else
        al_add(a, tmp, NULL);
}

/* dst = src, its pointers moved into dst's own buffer */
static void al_copy(argl *dst, const argl *src)
{
    *dst = *src;
    for (int i = 0; i < src->n; i++)
        dst->v[i] = dst->buf + (src->v[i] - src->buf);
}

/*
 * A planned run (--jobs): a training run (a.n > 0) and the evaluation of its model on test
 * (test[0] != 0), or an evaluation alone. model: the model's path, or "plan:N" while it is a
 * transfer whose pre-trained model job N has still to make (its folder's name hashes that
 * model's time stamp); dep: that job, else -1.
 */
#define STUDY_MAX_JOBS 1024
typedef struct job {
    char name[128], model[4300], test[4400], clips[16];
    argl a;
    int dep, state, needed; /* state: 0 to do, 1 running, 2 done; needed: other jobs wait on it
                               (set by run_jobs) */
    int study;  /* the study (index in studies[]) that planned it first */
    int stopped; /* sent SIGTERM by stop_jobs */
    pid_t pid;
    double started, seconds;
} job;

static int make_dir(const char *d)
{
    if (mkdir(d, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: error: cannot create %s: %s\n", prog, d, strerror(errno));
        return 1;
    }
    return 0;
}

static int file_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The whole of a small file into buf (NUL-terminated); -1 when it cannot be read. */
static long read_small(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got;
    if (!f)
        return -1;
    got = fread(buf, 1, n - 1, f);
    buf[got] = 0;
    fclose(f);
    return (long)got;
}

/* Writes text to path through a temporary file and a rename: a killed study leaves the old
   file or the new one. */
static int write_small(const char *path, const char *text)
{
    char tmp[4200];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "%s: error: cannot write %s: %s\n", prog, path, strerror(errno));
        remove(tmp);
        return 1;
    }
    return 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

/* removes the evaluations kept in a run's folder (its model is about to be trained again) */
static void remove_evals(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4600];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        if (!strncmp(e->d_name, "eval-", 5) && strstr(e->d_name, ".txt")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            remove(path);
        }
    closedir(d);
}

/* the stamp of a model file (time and size): the key of a transfer from it holds it, and so
   does an evaluation kept for it */
static int model_stamp(const char *model, char *stamp, size_t n)
{
    struct stat sb;
    if (stat(model, &sb) != 0)
        return -1;
    snprintf(stamp, n, "%lld.%09lld %lld", (long long)sb.st_mtim.tv_sec,
             (long long)sb.st_mtim.tv_nsec, (long long)sb.st_size);
    return 0;
}

/* the planned training whose model is at path, or -1 */
static int job_of_model(const study *st, const char *path)
{
    for (int i = 0; i < st->n_jobs; i++)
        if (st->jobq[i].a.n > 0 && !strcmp(st->jobq[i].model, path))
            return i;
    return -1;
}

static job *add_job(study *st, const char *name)
{
    job *j;
    if (st->n_jobs == STUDY_MAX_JOBS) {
        fprintf(stderr, "%s: error: study: more than %d runs to plan\n", prog, STUDY_MAX_JOBS);
        return NULL;
    }
    j = memset(&st->jobq[st->n_jobs++], 0, sizeof *j);
    snprintf(j->name, sizeof j->name, "%s", name);
    j->dep = -1;
    return j;
}

/*
 * vidaction train ARGS --threads T --out OUT/runs/NAME-HASH --quiet, unless that folder holds
 * the model of the same arguments (args.txt, written after the model). *model: its model.
 * Planning (--jobs): the run is recorded instead, unless it is done; *model is then its path,
 * or "plan:N" (job_of_model).
 */
static int st_train(study *st, const char *name, argl *a, char *model, size_t model_n)
{
    static char key[32768], old[32768];
    char dir[4200], keyfile[4300], *argv[100];
    size_t used = 0;
    int argc = 0, rc, dep = -1;
    key[0] = 0;
    for (int i = 0; i <= a->n && used < sizeof key; i++) {
        char stamp[128];
        if (i == a->n) {
            used += (size_t)snprintf(key + used, sizeof key - used, "--threads\n%s\n", st->threads);
            break;
        }
        used += (size_t)snprintf(key + used, sizeof key - used, "%s\n", a->v[i]);
        if (i > 0 && !strcmp(a->v[i - 1], "--init") && st->plan &&
            (dep = job_of_model(st, a->v[i])) >= 0)
            break; /* its model is still to be made: so is the key */
        /* a model trained again (deleted, or its arguments changed) is a new start: its
           transfers are trained again too */
        if (i > 0 && !strcmp(a->v[i - 1], "--init") && model_stamp(a->v[i], stamp, sizeof stamp) == 0 &&
            used < sizeof key)
            used += (size_t)snprintf(key + used, sizeof key - used, "init %s\n", stamp);
    }
    if (used >= sizeof key) { /* never with --out's 3000 characters at most; a cut key could match */
        fprintf(stderr, "%s: error: study: the arguments of %s are too long\n", prog, name);
        return 1;
    }
    if (dep < 0) {
        snprintf(dir, sizeof dir, "%s/runs/%s-%08x", st->out, name, (unsigned)(fnv1a(key) >> 32));
        snprintf(keyfile, sizeof keyfile, "%s/args.txt", dir);
        snprintf(model, model_n, "%s/model.safetensors", dir);
        if (read_small(keyfile, old, sizeof old) >= 0 && !strcmp(old, key) && file_exists(model)) {
            int k;
            /* trained in this study's jobs, or before */
            for (k = 0; k < st->n_jobs && strcmp(st->jobq[k].name, name); k++)
                ;
            printf("   %-34s %s %s\n", name, k < st->n_jobs ? "trained" : "reused", dir);
            if (!st->plan && k == st->n_jobs)
                st->reused++;
            return 0;
        }
    }
    if (st->plan) {
        job *j;
        for (int i = 0; i < a->n; i++)
            if (!strncmp(a->v[i], "plan:", 5)) { /* a transfer from a transfer: not planned */
                fprintf(stderr, "%s: error: study: %s starts from a model still to be made by "
                        "a transfer\n", prog, name);
                return 1;
            }
        /* planned before (by another study): the same run */
        for (int k = 0; k < st->n_jobs; k++) {
            const job *o = &st->jobq[k];
            if (o->a.n > 0 && !strcmp(o->name, name) &&
                (dep >= 0 ? o->dep == dep : !strcmp(o->model, model))) {
                snprintf(model, model_n, "%s", o->model);
                return 0;
            }
        }
        if (!(j = add_job(st, name)))
            return 1;
        j->study = st->cur_study;
        al_copy(&j->a, a);
        j->dep = dep;
        if (dep >= 0)
            snprintf(model, model_n, "plan:%d", st->n_jobs - 1);
        snprintf(j->model, sizeof j->model, "%s", model);
        return 0;
    }
    if (make_dir(dir))
        return 1;
    remove(keyfile);
    remove_evals(dir);
    argv[argc++] = (char *)"vidaction";
    argv[argc++] = (char *)"train";
    for (int i = 0; i < a->n; i++)
        argv[argc++] = a->v[i];
    argv[argc++] = (char *)"--threads";
    argv[argc++] = (char *)st->threads;
    argv[argc++] = (char *)"--out";
    argv[argc++] = dir;
    argv[argc++] = (char *)"--quiet";
    argv[argc] = NULL;
    printf("   %-34s ", name);
    fflush(stdout);
    rc = cmd_train(argc, argv);
    if (rc)
        return 1;
    st->trained++;
    return write_small(keyfile, key);
}

/* where the video@1 of model on test with `clips` clips is kept: beside the model */
static void eval_file(const study *st, const char *model, const char *test, const char *clips,
                      char *path, size_t n)
{
    char key[9000];
    const char *slash = strrchr(model, '/');
    snprintf(key, sizeof key, "%s\n%s\n%s\n", test, clips, st->threads);
    snprintf(path, n, "%.*s/eval-%08x.txt", slash ? (int)(slash - model) : 1, slash ? model : ".",
             (unsigned)(fnv1a(key) >> 32));
}

/*
 * video@1 of model on the test manifest, `clips` uniform clips a video: kept in eval_file, and
 * read from there while the model file has the stamp it was measured on. Planning: recorded as
 * the evaluation of model's job, or as a job of its own, unless it is kept.
 */
static int st_eval(study *st, const char *model, const char *test, const char *clips, double *acc)
{
    char path[4400], stamp[128], text[512], want[600];
    *acc = 0;
    if (!strncmp(model, "plan:", 5)) { /* planning: the model is job N's */
        job *j = &st->jobq[atoi(model + 5)];
        if (j->test[0] && (strcmp(j->test, test) || strcmp(j->clips, clips))) {
            /* the studies evaluate a transfer once; a second evaluation is not planned */
            fprintf(stderr, "%s: error: study: %s is evaluated twice\n", prog, j->name);
            return 1;
        }
        snprintf(j->test, sizeof j->test, "%s", test);
        snprintf(j->clips, sizeof j->clips, "%s", clips);
        return 0;
    }
    eval_file(st, model, test, clips, path, sizeof path);
    /* a model whose run is planned is made again: what is kept for the old one is not it */
    if (!(st->plan && job_of_model(st, model) >= 0) && model_stamp(model, stamp, sizeof stamp) == 0 &&
        read_small(path, text, sizeof text) > 0) {
        char *nl = strchr(text, '\n');
        if (nl && !strcmp(nl + 1, (snprintf(want, sizeof want, "%s\n", stamp), want))) {
            *acc = strtod(text, NULL);
            printf("   video@1 %.4f on %s (kept in %s)\n", *acc, test, path);
            return 0;
        }
    }
    if (st->plan) {
        /* with the training of the model when that is planned, else a job of its own (after
           the training when that already has an evaluation) */
        int k = job_of_model(st, model);
        job *j;
        for (int i = 0; i < st->n_jobs; i++) /* planned before, by another study */
            if (!strcmp(st->jobq[i].model, model) && !strcmp(st->jobq[i].test, test) &&
                !strcmp(st->jobq[i].clips, clips))
                return 0;
        if (k >= 0 && !st->jobq[k].test[0]) {
            j = &st->jobq[k];
        } else {
            char name[128];
            const char *run = strrchr(model, '/'), *end = run, *f = strrchr(path, '/');
            while (run && run > model && run[-1] != '/')
                run--;
            snprintf(name, sizeof name, "%.*s-%.13s", run ? (int)(end - run) : 5,
                     run ? run : "model", f ? f + 1 : path);
            if (!(j = add_job(st, name)))
                return 1;
            j->study = st->cur_study;
            j->dep = k;
        }
        snprintf(j->model, sizeof j->model, "%s", model);
        snprintf(j->test, sizeof j->test, "%s", test);
        snprintf(j->clips, sizeof j->clips, "%s", clips);
        return 0;
    }
    if (run_cmd(cmd_eval, "eval", model, "--manifest", test, "--clips", clips, "--threads",
                st->threads, NULL))
        return 1;
    *acc = g_last_eval.video_top1;
    if (model_stamp(model, stamp, sizeof stamp) == 0) {
        snprintf(text, sizeof text, "%.17g\n%s\n", *acc, stamp);
        if (write_small(path, text)) /* not kept: measured again next time */
            remove(path);
    }
    return 0;
}

/* stdout to /dev/null while planning (on), and back (off) */
static void quiet(study *st, int on)
{
    if (on && st->quiet_fd < 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            st->quiet_fd = stdout_to(null);
            close(null);
        }
    } else if (!on) {
        stdout_back(&st->quiet_fd);
    }
}

/* job j in this child process, its output to OUT/logs/NAME.log; never returns */
static void run_job_child(study *st, job *j)
{
    char log[4400], model[4300];
    int fd, rc = 0;
    double acc;
    snprintf(log, sizeof log, "%s/logs/%s.log", st->out, j->name);
    fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        fprintf(stderr, "%s: error: cannot write %s: %s\n", prog, log, strerror(errno));
        _exit(1);
    }
    close(fd);
    st->plan = 0;
    snprintf(model, sizeof model, "%s", j->model);
    if (j->a.n > 0)
        rc = st_train(st, j->name, &j->a, model, sizeof model);
    if (rc == 0 && j->test[0])
        rc = st_eval(st, model, j->test, j->clips, &acc);
    fflush(NULL);
    _exit(rc ? 1 : 0);
}

/* the line of a job's log that says how the training went, or what the evaluation measured */
static void job_summary(const study *st, const job *j, char *out, size_t n)
{
    char log[4400], line[1024];
    FILE *f;
    out[0] = 0;
    snprintf(log, sizeof log, "%s/logs/%s.log", st->out, j->name);
    if (!(f = fopen(log, "r")))
        return;
    while (fgets(line, sizeof line, f)) {
        char *p;
        line[strcspn(line, "\n")] = 0;
        if ((p = strstr(line, " steps in ")) != NULL) {
            char *cut = strstr(p, ", loss");
            while (p > line && p[-1] != ' ')
                p--;
            if (cut)
                *cut = 0;
            snprintf(out, n, "%.200s", p);
        } else if ((p = strstr(line, "video@1 ")) != NULL && strlen(out) + 20 < n) {
            size_t len = strlen(out);
            snprintf(out + len, n - len, "%s%.14s", len ? ", " : "", p);
        }
    }
    fclose(f);
}

/* SIGTERM to every running job (after a failure: their runs are not kept, args.txt comes last) */
static void stop_jobs(study *st)
{
    for (int i = 0; i < st->n_jobs; i++)
        if (st->jobq[i].state == 1 && !st->jobq[i].stopped) {
            kill(st->jobq[i].pid, SIGTERM);
            st->jobq[i].stopped = 1;
        }
}

/*
 * Does the planned jobs, st->jobs at a time, each in a child process; a job starts when the
 * job it depends on is done, those that others wait on first. On a failure no new job starts,
 * the running ones are stopped (SIGTERM) and reaped, and the failed one's log is shown. A child
 * gets SIGTERM too when this process dies.
 */
static int run_jobs(study *st)
{
    char logs[4200];
    int done = 0, running = 0, failed = -1, forked = 1;
    if (st->n_jobs == 0)
        return 0;
    snprintf(logs, sizeof logs, "%s/logs", st->out);
    if (make_dir(logs))
        return 1;
    for (int i = 0; i < st->n_jobs; i++)
        if (st->jobq[i].dep >= 0)
            st->jobq[st->jobq[i].dep].needed = 1;
    printf("   %d runs to do, %d at a time on %s thread%s each (logs in %s)\n", st->n_jobs,
           st->jobs, st->threads, strcmp(st->threads, "1") ? "s" : "", logs);
    while (done < st->n_jobs && (running > 0 || failed < 0)) {
        while (failed < 0 && running < st->jobs) {
            int pick = -1;
            for (int i = 0; i < st->n_jobs; i++) {
                const job *j = &st->jobq[i];
                if (j->state != 0 || (j->dep >= 0 && st->jobq[j->dep].state != 2))
                    continue;
                if (pick < 0 || (j->needed && !st->jobq[pick].needed))
                    pick = i;
            }
            if (pick < 0)
                break;
            fflush(NULL);
            st->jobq[pick].pid = fork();
            if (st->jobq[pick].pid < 0) {
                fprintf(stderr, "%s: error: study: cannot start a process for %s: %s\n", prog,
                        st->jobq[pick].name, strerror(errno));
                failed = pick;
                forked = 0;
                stop_jobs(st);
                break;
            }
            if (st->jobq[pick].pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() == 1) /* the study died before prctl */
                    _exit(1);
                run_job_child(st, &st->jobq[pick]);
            }
            st->jobq[pick].state = 1;
            st->jobq[pick].started = wall_seconds();
            running++;
        }
        if (running == 0)
            break;
        {
            int status, k;
            pid_t pid = waitpid(-1, &status, 0);
            if (pid < 0) {
                if (errno == EINTR)
                    continue;
                fprintf(stderr, "%s: error: study: waitpid: %s\n", prog, strerror(errno));
                stop_jobs(st);
                return 1;
            }
            for (k = 0; k < st->n_jobs && st->jobq[k].pid != pid; k++)
                ;
            if (k == st->n_jobs)
                continue;
            running--;
            st->jobq[k].state = 2;
            st->jobq[k].seconds = wall_seconds() - st->jobq[k].started;
            done++;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                char sum[512];
                job_summary(st, &st->jobq[k], sum, sizeof sum);
                printf("   [%d/%d] %-34s %s\n", done, st->n_jobs, st->jobq[k].name, sum);
                st->jobs_trained += st->jobq[k].a.n > 0;
            } else if (st->jobq[k].stopped) {
                fprintf(stderr, "%s: study: %s stopped\n", prog, st->jobq[k].name);
            } else {
                fprintf(stderr, "%s: error: study: %s failed (%s %d); its log: %s/%s.log\n", prog,
                        st->jobq[k].name, WIFEXITED(status) ? "exit status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), logs,
                        st->jobq[k].name);
                if (failed < 0) {
                    failed = k;
                    stop_jobs(st);
                }
            }
        }
    }
    if (failed >= 0) {
        char log[4400], line[1024];
        FILE *f;
        snprintf(log, sizeof log, "%s/%s.log", logs, st->jobq[failed].name);
        if (forked && (f = fopen(log, "r")) != NULL) {
            while (fgets(line, sizeof line, f))
                fputs(line, stderr);
            fclose(f);
        }
        return 1;
    }
    return 0;
}

static const study_point *find_point(const study *st, const char *sname, const char *name,
                                     const char *target, const char *transfer);

static study_point *st_point(study *st, const char *sname, const char *name, const char *target,
                             const char *transfer)
{
    study_point *p = (study_point *)find_point(st, sname, name, target, transfer);
    if (p)
        return p;
    if (st->n_pts == STUDY_MAX_POINTS) {
        fprintf(stderr, "%s: error: study: more than %d points\n", prog, STUDY_MAX_POINTS);
        abort();
    }
    p = memset(&st->pts[st->n_pts++], 0, sizeof st->pts[0]);
    snprintf(p->study, sizeof p->study, "%s", sname);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->target, sizeof p->target, "%s", target);
    snprintf(p->transfer, sizeof p->transfer, "%s", transfer);
    return p;
}

static void st_add(study *st, const char *sname, const char *name, const char *target,
                   const char *transfer, double acc)
{
    study_point *p;
    if (st->plan) /* nothing measured yet */
        return;
    p = st_point(st, sname, name, target, transfer);
    if (p->n < STUDY_MAX_SEEDS)
        p->v[p->n++] = acc;
}

static void point_stats(const study_point *p, double *mean, double *std)
{
    double s = 0, q = 0;
    for (int i = 0; i < p->n; i++)
        s += p->v[i];
    *mean = p->n ? s / p->n : NAN;
    for (int i = 0; i < p->n; i++)
        q += (p->v[i] - *mean) * (p->v[i] - *mean);
    *std = p->n > 1 ? sqrt(q / (p->n - 1)) : 0;
}

/* ---- data: generated once, in folders named by their parameters ---- */

static int st_synth(study *st, const char *dir, int *have, ...)
{
    char stamp[4300], *argv[64];
    int argc = 0, rc;
    va_list ap;
    if (*have)
        return 0;
    snprintf(stamp, sizeof stamp, "%s/.study-complete", dir);
    if (file_exists(stamp)) {
        printf("   data: %s (generated before)\n", dir);
        *have = 1;
        return 0;
    }
    argv[argc++] = (char *)"vidaction";
    argv[argc++] = (char *)"synth";
    argv[argc++] = (char *)dir;
    va_start(ap, have);
    for (const char *a; argc < 58 && (a = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc++] = (char *)"--threads";
    argv[argc++] = (char *)st->data_threads; /* all of them: the videos do not depend on it */
    argv[argc] = NULL;
    if (st->plan) /* data is made while planning, and said */
        quiet(st, 0);
    fflush(stdout);
    rc = cmd_synth(argc, argv) || write_small(stamp, "complete\n");
    if (st->plan)
        quiet(st, 1);
    if (rc)
        return 1;
    *have = 1;
    return 0;
}

/* The demo preset at 16 x base noisy videos in DATA/demo-N-sS (wrong: in DATA/demo-N-sS-wrongW,
   with that share of the hashtags wrong; NULL: the generator's); pool and tax (4400 bytes
   each) get its pre-training manifest and taxonomy, dir (4200) its folder. */
static int need_demo_set(study *st, const char *wrong, int *have, char *dir, char *pool, char *tax)
{
    char videos[32], seed[32];
    snprintf(dir, 4200, "%s/data/demo-%ld-s%ld%s%s", st->out, 16 * st->base, st->first_seed,
             wrong ? "-wrong" : "", wrong ? wrong : "");
    snprintf(videos, sizeof videos, "%ld", 16 * st->base);
    snprintf(seed, sizeof seed, "%ld", st->first_seed);
    snprintf(pool, 4400, "%s/pretrain/train.tsv", dir);
    snprintf(tax, 4400, "%s/pretrain/taxonomy.tsv", dir);
    return st_synth(st, dir, have, "--preset", "demo", "--videos", videos, "--seed", seed,
                    wrong ? "--p-wrong" : NULL, wrong, NULL);
}

/* the demo set, and its target-ss-like target (8 verbs on 4 shapes pre-training never shows, 5
   training and 7 test videos a verb) */
static int need_demo(study *st)
{
    char dir[4200];
    int rc = need_demo_set(st, NULL, &st->have_demo, dir, st->pool, st->tax);
    st->ss.name = "target-ss";
    snprintf(st->ss.train, sizeof st->ss.train, "%s/target/train.tsv", dir);
    snprintf(st->ss.test, sizeof st->ss.test, "%s/target/test.tsv", dir);
    st->ss.chance = 1.0 / 8;
    return rc;
}

/* scale's pool: the demo set with SCALE_P_WRONG of the hashtags wrong (its own target/ and
   long/ are not used); --quick: none */
static int need_noisy(study *st)
{
    char dir[4200];
    if (st->quick)
        return 0;
    return need_demo_set(st, SCALE_P_WRONG, &st->have_noisy, dir, st->npool, st->ntax);
}

/* target-k: 16 (verb, noun) classes of the 8 verbs and the 8 pre-training shapes, 5 training
   and 7 test videos a class */
static int need_k(study *st)
{
    char dir[4200], seed[32];
    snprintf(dir, sizeof dir, "%s/data/target-k-s%ld", st->out, st->first_seed);
    snprintf(seed, sizeof seed, "%ld", st->first_seed);
    st->k.name = "target-k";
    snprintf(st->k.train, sizeof st->k.train, "%s/train.tsv", dir);
    snprintf(st->k.test, sizeof st->k.test, "%s/test.tsv", dir);
    st->k.chance = 1.0 / 16;
    return st_synth(st, dir, &st->have_k, "--preset", "target-k", "--verbs", "8", "--classes", "16",
                    "--videos", "192", "--test-fraction", "0.5833", "--seconds", "2-3", "--seed",
                    seed, NULL);
}

/* target-epic: 8 verbs and, separately, the 8 pre-training shapes, 160 videos, half to test */
static int need_epic(study *st)
{
    char dir[4200], seed[32];
    snprintf(dir, sizeof dir, "%s/data/target-epic-s%ld", st->out, st->first_seed);
    snprintf(seed, sizeof seed, "%ld", st->first_seed);
    st->epic_verb.name = "epic-verbs";
    st->epic_noun.name = "epic-nouns";
    snprintf(st->epic_verb.train, sizeof st->epic_verb.train, "%s/verb-train.tsv", dir);
    snprintf(st->epic_verb.test, sizeof st->epic_verb.test, "%s/verb-test.tsv", dir);
    snprintf(st->epic_noun.train, sizeof st->epic_noun.train, "%s/noun-train.tsv", dir);
    snprintf(st->epic_noun.test, sizeof st->epic_noun.test, "%s/noun-test.tsv", dir);
    st->epic_verb.chance = st->epic_noun.chance = 1.0 / 8;
    return st_synth(st, dir, &st->have_epic, "--preset", "target-epic", "--verbs", "8", "--videos",
                    "160", "--test-fraction", "0.5", "--seconds", "2-3", "--seed", seed, NULL);
}

/* long videos: noisy pre-training videos of the same verbs and shapes, 8-16 s, the action still
   1.5-2.5 s (its own seed, so they are other videos than the pool's) */
static int need_long(study *st)
{
    char dir[4200], videos[32], seed[32];
    long n = st->long_videos;
    snprintf(dir, sizeof dir, "%s/data/long-%ld-s%ld", st->out, n, st->first_seed);
    snprintf(videos, sizeof videos, "%ld", n);
    snprintf(seed, sizeof seed, "%ld", st->first_seed + 1000);
    snprintf(st->longpool, sizeof st->longpool, "%s/train.tsv", dir);
    snprintf(st->longtax, sizeof st->longtax, "%s/taxonomy.tsv", dir);
    return st_synth(st, dir, &st->have_long, "--preset", "pretrain", "--verbs", "8", "--seconds",
                    "8-16", "--videos", videos, "--seed", seed, NULL);
}

/* ---- the runs ---- */

/* the clip geometry and batch of R(2+1)D (8 frames, every second one, 16 clips a step) or of
   the frame model (single frames, 64 a step) */
static void add_geometry(const study *st, argl *a, int frame)
{
    al_add(a, "--clip-len", frame ? "1" : "8", "--stride", frame ? "1" : "2", "--short-side",
           st->short_side, "--crop", st->crop, "--batch", frame ? "64" : "16", NULL);
}

/* the pre-training recipes: the studies' (pre_steps at PRE_LR after pre_warmup), scale's on its
   noisier pool (scale_steps at SCALE_LR), scale's nouns (noun_steps at NOUN_LR after
   noun_warmup) */
enum { RECIPE_PRE, RECIPE_SCALE, RECIPE_NOUN };

/* Pre-trains R(2+1)D-10 (or the frame model) on manifest with the given label space,
   resampling and budget (extra: NULL-terminated further train options) by recipe. */
static int pretrain(study *st, int recipe, long seed, int frame, const char *manifest,
                    const char *tax, const char *space, const char *resample, const char *name,
                    char *model, size_t n, ...)
{
    argl a = {0};
    va_list ap;
    char tag[256];
    al_add(&a, "--manifest", manifest, "--taxonomy", tax, "--label-space", space, "--resample",
           resample, NULL);
    va_start(ap, n);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
        al_add(&a, s, NULL);
    va_end(ap);
    if (frame)
        al_add(&a, FRAME_ARCH, NULL);
    else
        al_add(&a, DEMO_ARCH, NULL);
    add_geometry(st, &a, frame);
    if (recipe == RECIPE_NOUN)
        al_add(&a, "--steps", st->noun_steps, "--lr", NOUN_LR, "--warmup", st->noun_warmup, NULL);
    else
        al_add(&a, "--steps", recipe == RECIPE_SCALE ? st->scale_steps : st->pre_steps, "--lr",
               recipe == RECIPE_SCALE ? SCALE_LR : PRE_LR, "--warmup", st->pre_warmup, NULL);
    al_add(&a, "--schedule", "cosine", NULL);
    al_addf(&a, "--seed", "%ld", seed);
    snprintf(tag, sizeof tag, "s%ld-pre-%s", seed, name);
    return st_train(st, tag, &a, model, n);
}

/* Transfers a pre-trained model to t (fc: fc-only, else every layer) and evaluates it. */
static int transfer(study *st, long seed, int frame, const char *pre_model, const char *pre_name,
                    const tset *t, int fc, double *acc)
{
    argl a = {0};
    char tag[256], model[4300];
    al_add(&a, "--manifest", t->train, "--init", pre_model, NULL);
    if (fc)
        al_add(&a, "--freeze", "backbone", NULL);
    add_geometry(st, &a, frame);
    al_add(&a, "--steps", st->tgt_steps, "--lr", fc ? "0.05" : "0.01", "--warmup", fc ? "0" : st->tgt_warmup,
           "--schedule", "cosine", NULL);
    al_addf(&a, "--seed", "%ld", seed);
    snprintf(tag, sizeof tag, "s%ld-%s-%s-%s", seed, pre_name, t->name, fc ? "fc" : "ft");
    return st_train(st, tag, &a, model, sizeof model) ||
           st_eval(st, model, t->test, frame ? st->clips_frame : st->clips_video, acc);
}

static int scratch(study *st, long seed, const tset *t, double *acc)
{
    argl a = {0};
    char tag[256], model[4300];
    al_add(&a, "--manifest", t->train, DEMO_ARCH, NULL);
    add_geometry(st, &a, 0);
    al_add(&a, "--steps", st->tgt_steps, "--lr", "0.05", "--warmup", st->tgt_warmup, "--schedule",
           "cosine", NULL);
    al_addf(&a, "--seed", "%ld", seed);
    snprintf(tag, sizeof tag, "s%ld-scratch-%s", seed, t->name);
    return st_train(st, tag, &a, model, sizeof model) ||
           st_eval(st, model, t->test, st->clips_video, acc);
}

/* Verbs, square-root resampling, `videos` random videos of the pool for pre_steps, or (noisy) of
   scale's noisier pool for scale_steps; named [frame-][noisy-]verb-sqrt-N. */
static int pretrain_random(study *st, long seed, int frame, int noisy, long videos, char *name,
                           size_t name_n, char *model, size_t model_n)
{
    char budget[32];
    snprintf(budget, sizeof budget, "%ld", videos);
    snprintf(name, name_n, "%s%sverb-sqrt-%ld", frame ? "frame-" : "", noisy ? "noisy-" : "",
             videos);
    return pretrain(st, noisy ? RECIPE_SCALE : RECIPE_PRE, seed, frame,
                    noisy ? st->npool : st->pool, noisy ? st->ntax : st->tax, "verb", "sqrt", name,
                    model, model_n, "--max-videos", budget, "--prefer", "random", NULL);
}

/* scale's epic-nouns pre-training: nouns, uniform over them, `videos` random videos of the pool
   that carry a noun, noun_steps at NOUN_LR; named noun-uniform-N */
static int pretrain_nouns(study *st, long seed, long videos, char *name, size_t name_n,
                          char *model, size_t model_n)
{
    char budget[32];
    snprintf(budget, sizeof budget, "%ld", videos);
    snprintf(name, name_n, "noun-uniform-%ld", videos);
    return pretrain(st, RECIPE_NOUN, seed, 0, st->pool, st->tax, "noun", "uniform", name, model,
                    model_n, "--max-videos", budget, "--prefer", "random", NULL);
}

/* the shared pre-training: R(2+1)D on `videos` random videos of the pool */
static int pretrain_verbs(study *st, long seed, long videos, char *name, size_t name_n, char *model,
                          size_t model_n)
{
    return pretrain_random(st, seed, 0, 0, videos, name, name_n, model, model_n);
}

/* scale's pre-training (and video-vs-frame's): on the noisier pool; --quick: on the pool, so its
   x1 is the shared one */
static int pretrain_scale(study *st, long seed, int frame, long videos, char *name, size_t name_n,
                          char *model, size_t model_n)
{
    return pretrain_random(st, seed, frame, !st->quick, videos, name, name_n, model, model_n);
}

/* ---- the studies ---- */

static int study_scale(study *st)
{
    static const int mult[3] = {1, 4, 16};
    static const char *const names[3] = {"pretrain-1x", "pretrain-4x", "pretrain-16x"};
    static const char *const fc_names[3] = {"pretrain-1x-fc", "pretrain-4x-fc", "pretrain-16x-fc"};
    tset *ts[4] = {&st->ss, &st->k, &st->epic_verb, &st->epic_noun};
    printf("\n== scale: pre-training on %ld, %ld and %ld noisy videos (random subsets of %ld with "
           "%s of their hashtags wrong), %s steps at lr %s for every size; full fine-tuning and "
           "fc-only on target-ss, target-k, epic verbs and epic nouns, against training from "
           "scratch on each%s",
           st->base, 4 * st->base, 16 * st->base, 16 * st->base,
           st->quick ? PRE_P_WRONG : SCALE_P_WRONG, st->quick ? st->pre_steps : st->scale_steps,
           st->quick ? PRE_LR : SCALE_LR,
           st->quick ? " (--quick: x1 and x16 only, the other studies' pool and steps, and "
                       "epic nouns from the same verb pre-training)" : "");
    if (!st->quick)
        printf("; epic nouns from nouns of as many videos of the other studies' pool (%s of the "
               "hashtags wrong), uniform over the shapes, %s steps at lr %s",
               PRE_P_WRONG, st->noun_steps, NOUN_LR);
    printf("\n");
    if (need_demo(st) || need_noisy(st) || need_k(st) || need_epic(st))
        return 1;
    for (int s = 0; s < st->n_seeds; s++) {
        long seed = st->first_seed + s;
        double acc;
        printf("-- scale, seed %ld\n", seed);
        for (int t = 0; t < 4; t++) {
            if (scratch(st, seed, ts[t], &acc))
                return 1;
            st_add(st, "scale", "scratch", ts[t]->name, "none", acc);
        }
        for (int k = 0; k < 3; k++) {
            char name[64], model[4300], nname[64], nmodel[4300];
            if (st->quick && k == 1)
                continue;
            if (pretrain_scale(st, seed, 0, mult[k] * st->base, name, sizeof name, model,
                               sizeof model))
                return 1;
            /* epic nouns: from nouns of as many videos of the pool (--quick: the verbs) */
            if (!st->quick && pretrain_nouns(st, seed, mult[k] * st->base, nname, sizeof nname,
                                             nmodel, sizeof nmodel))
                return 1;
            for (int t = 0; t < 4; t++) {
                const int nouns = !st->quick && ts[t] == &st->epic_noun;
                const char *m = nouns ? nmodel : model, *mn = nouns ? nname : name;
                if (transfer(st, seed, 0, m, mn, ts[t], 0, &acc))
                    return 1;
                st_add(st, "scale", names[k], ts[t]->name, "full", acc);
                if (transfer(st, seed, 0, m, mn, ts[t], 1, &acc))
                    return 1;
                st_add(st, "scale", fc_names[k], ts[t]->name, "fc-only", acc);
            }
        }
    }
    return 0;
}

/* prints what a label space and budget keep of a manifest (videos, minutes) */
static void budget_line(const char *name, const char *manifest, const char *tax, const char *space,
                        const char *class_list, long seed, long videos, double minutes)
{
    vida_dataset_params p;
    vida_dataset *ds = NULL;
    vida_dataset_stats s = {.size = sizeof s};
    vida_dataset_params_init(&p);
    p.taxonomy = tax;
    p.label_space = !strcmp(space, "target") ? VIDA_LABELS_TARGET
                    : !strcmp(space, "verb") ? VIDA_LABELS_VERB
                    : !strcmp(space, "noun") ? VIDA_LABELS_NOUN
                                             : VIDA_LABELS_VERB_NOUN;
    p.max_videos = videos;
    p.max_minutes = minutes;
    p.prefer = VIDA_PREFER_RANDOM;
    p.seed = (uint64_t)seed;
    p.check_files = 0;
    if (class_list && load_class_list(class_list, &p))
        return;
    if (vida_dataset_open(&ds, NULL, manifest, &p) == VIDA_OK &&
        vida_dataset_get_stats(ds, &s) == VIDA_OK)
        printf("   %-22s %5lld videos, %6.1f minutes, %lld classes\n", name, (long long)s.videos,
               s.minutes, (long long)s.classes);
    vida_dataset_free(ds);
}

static int study_label_space(study *st)
{
    static const char *const spaces[4] = {"target", "verb", "noun", "verb+noun"};
    const long videos = st->space_videos;
    tset *ts[4] = {&st->k, &st->ss, &st->epic_verb, &st->epic_noun};
    char budget[32], klist[4400];
    snprintf(budget, sizeof budget, "%ld", videos);
    printf("\n== label-space: pre-training on the hashtags that name target-k's 16 classes (its "
           "'target' labels, as IG-Kinetics took Kinetics' class names), on verbs, on nouns and on "
           "the observed verb+noun pairs: each %ld random videos that carry a label of the space, "
           "square-root resampling, %s steps; fc-only on target-k, target-ss, epic verbs and epic "
           "nouns\n", videos, st->pre_steps);
    if (need_demo(st) || need_k(st) || need_epic(st))
        return 1;
    /* target-k's vocabulary: its class names, "verb noun", as the taxonomy's targets name them */
    snprintf(klist, sizeof klist, "%.*s/vocab.txt", (int)(strrchr(st->k.train, '/') - st->k.train),
             st->k.train);
    for (int s = 0; s < st->n_seeds; s++) {
        long seed = st->first_seed + s;
        printf("-- label-space, seed %ld\n", seed);
        for (int k = 0; k < 4; k++)
            budget_line(spaces[k], st->pool, st->tax, spaces[k], k ? NULL : klist, seed, videos, 0);
        for (int k = 0; k < 4; k++) {
            char name[64], model[4300];
            snprintf(name, sizeof name, "%s-sqrt-%ld", spaces[k], videos);
            if (pretrain(st, RECIPE_PRE, seed, 0, st->pool, st->tax, spaces[k], "sqrt", name,
                         model, sizeof model, "--max-videos", budget, "--prefer", "random",
                         k ? NULL : "--class-list", k ? NULL : klist, NULL))
                return 1;
            for (int t = 0; t < 4; t++) {
                double acc;
                if (transfer(st, seed, 0, model, name, ts[t], 1, &acc))
                    return 1;
                st_add(st, "label-space", spaces[k], ts[t]->name, "fc-only", acc);
            }
        }
    }
    return 0;
}

static int study_video_vs_frame(study *st)
{
    const long videos = st->vvf_videos;
    tset *ts[2] = {&st->ss, &st->k};
    printf("\n== video-vs-frame: R(2+1)D-10 against a frame model (ResNet-18 on single frames, "
           "its scores averaged over 32 frames a video), both pre-trained as scale's x%d on the "
           "same %ld videos (verbs, square-root resampling, %s steps); target-ss and target-k, "
           "full fine-tuning and fc-only\n", st->quick ? 16 : 4, videos,
           st->quick ? st->pre_steps : st->scale_steps);
    if (need_demo(st) || need_noisy(st) || need_k(st))
        return 1;
    for (int s = 0; s < st->n_seeds; s++) {
        long seed = st->first_seed + s;
        char vname[64], vmodel[4300], fname[64], fmodel[4300];
        printf("-- video-vs-frame, seed %ld\n", seed);
        if (pretrain_scale(st, seed, 0, videos, vname, sizeof vname, vmodel, sizeof vmodel) ||
            pretrain_scale(st, seed, 1, videos, fname, sizeof fname, fmodel, sizeof fmodel))
            return 1;
        for (int t = 0; t < 2; t++)
            for (int fc = 0; fc < 2; fc++) {
                double acc;
                if (transfer(st, seed, 0, vmodel, vname, ts[t], fc, &acc))
                    return 1;
                st_add(st, "video-vs-frame", "r2plus1d", ts[t]->name, fc ? "fc-only" : "full", acc);
                if (transfer(st, seed, 1, fmodel, fname, ts[t], fc, &acc))
                    return 1;
                st_add(st, "video-vs-frame", "frame", ts[t]->name, fc ? "fc-only" : "full", acc);
            }
    }
    return 0;
}

/* the budget study's point names: N short videos, N long, M minutes of short, N long 1 clip, 4 */
static void budget_names(const study *st, char names[5][64])
{
    snprintf(names[0], 64, "%ld-short-videos", st->budget_videos);
    snprintf(names[1], 64, "%ld-long-videos", st->budget_videos);
    snprintf(names[2], 64, "%ld-minutes-short", st->budget_minutes);
    snprintf(names[3], 64, "%ld-long-1-clip", st->budget_videos);
    snprintf(names[4], 64, "%ld-long-4-clips", st->budget_videos);
}

static int study_budget(study *st)
{
    const long nv = st->budget_videos, minutes = st->budget_minutes;
    tset *ts[2] = {&st->ss, &st->k};
    char nv_s[32], min_s[32], names[5][64];
    snprintf(nv_s, sizeof nv_s, "%ld", nv);
    snprintf(min_s, sizeof min_s, "%ld", minutes);
    budget_names(st, names);
    printf("\n== budget: %ld short videos (2-3 s) against %ld long ones (8-16 s, the action still "
           "1.5-2.5 s): the same number of videos; %ld minutes of short videos against the %ld "
           "long ones (about as many minutes): more videos or longer ones; the long videos with "
           "one fixed clip (the centre) against four (the centres of four quarters); pre-training "
           "on verbs, square-root resampling, %s steps; fc-only on target-ss and target-k%s\n",
           nv, nv, minutes, nv, st->pre_steps,
           st->quick ? " (--quick: not 1 against 4 clips, which changed nothing in the full "
                       "study)" : "");
    if (need_demo(st) || need_long(st) || need_k(st))
        return 1;
    for (int s = 0; s < st->n_seeds; s++) {
        long seed = st->first_seed + s;
        printf("-- budget, seed %ld\n", seed);
        budget_line(names[0], st->pool, st->tax, "verb", NULL, seed, nv, 0);
        budget_line(names[1], st->longpool, st->longtax, "verb", NULL, seed, nv, 0);
        budget_line(names[2], st->pool, st->tax, "verb", NULL, seed, 0, (double)minutes);
        for (int k = 0; k < (st->quick ? 3 : 5); k++) {
            char model[4300], run[64];
            const int is_long = k != 0 && k != 2;
            const char *man = is_long ? st->longpool : st->pool, *tax = is_long ? st->longtax : st->tax;
            int rc;
            snprintf(run, sizeof run, "%s", names[k]);
            if (k == 0) /* N short videos: the shared pre-training (scale's x1 under --quick) */
                rc = pretrain_verbs(st, seed, nv, run, sizeof run, model, sizeof model);
            else if (k == 2)
                rc = pretrain(st, RECIPE_PRE, seed, 0, man, tax, "verb", "sqrt", names[k], model,
                              sizeof model, "--max-minutes", min_s, "--prefer", "random", NULL);
            else if (k == 1)
                rc = pretrain(st, RECIPE_PRE, seed, 0, man, tax, "verb", "sqrt", names[k], model,
                              sizeof model, "--max-videos", nv_s, "--prefer", "random", NULL);
            else
                rc = pretrain(st, RECIPE_PRE, seed, 0, man, tax, "verb", "sqrt", names[k], model,
                              sizeof model, "--max-videos", nv_s, "--prefer", "random",
                              "--clips-per-video", k == 3 ? "1" : "4", "--clip-choice", "fixed",
                              NULL);
            if (rc)
                return 1;
            for (int t = 0; t < 2; t++) {
                double acc;
                if (transfer(st, seed, 0, model, run, ts[t], 1, &acc))
                    return 1;
                st_add(st, "budget", names[k], ts[t]->name, "fc-only", acc);
            }
        }
    }
    return 0;
}

static int study_resampling(study *st)
{
    static const char *const modes[3] = {"natural", "sqrt", "uniform"};
    const long videos = st->space_videos;
    tset *ts[2] = {&st->k, &st->ss};
    char budget[32];
    snprintf(budget, sizeof budget, "%ld", videos);
    printf("\n== resampling: pre-training on the observed verb+noun pairs (Zipf-tailed) of %ld "
           "random videos, classes drawn natural (as often as they occur), square-root or "
           "uniform; fc-only on target-k and target-ss\n", videos);
    if (need_demo(st) || need_k(st))
        return 1;
    for (int s = 0; s < st->n_seeds; s++) {
        long seed = st->first_seed + s;
        printf("-- resampling, seed %ld\n", seed);
        for (int k = 0; k < 3; k++) {
            char name[64], model[4300];
            snprintf(name, sizeof name, "verb+noun-%s-%ld", modes[k], videos);
            if (pretrain(st, RECIPE_PRE, seed, 0, st->pool, st->tax, "verb+noun", modes[k], name,
                         model, sizeof model, "--max-videos", budget, "--prefer", "random", NULL))
                return 1;
            for (int t = 0; t < 2; t++) {
                double acc;
                if (transfer(st, seed, 0, model, name, ts[t], 1, &acc))
                    return 1;
                st_add(st, "resampling", modes[k], ts[t]->name, "fc-only", acc);
            }
        }
    }
    return 0;
}

/* ---- results ---- */

static const study_point *find_point(const study *st, const char *sname, const char *name,
                                     const char *target, const char *transfer)
{
    for (int i = 0; i < st->n_pts; i++) {
        const study_point *p = &st->pts[i];
        if (!strcmp(p->study, sname) && !strcmp(p->name, name) && !strcmp(p->target, target) &&
            !strcmp(p->transfer, transfer))
            return p;
    }
    return NULL;
}

/* the chance level of the target set named name (its tset's, set with its manifests) */
static double target_chance(const study *st, const char *name)
{
    const tset *ts[4] = {&st->ss, &st->k, &st->epic_verb, &st->epic_noun};
    for (int t = 0; t < 4; t++)
        if (ts[t]->name && !strcmp(ts[t]->name, name))
            return ts[t]->chance;
    return NAN;
}

/* "A - B = +0.123 (A above B in k of n seeds)" */
static void compare(const study *st, const char *sname, const char *a, const char *b,
                    const char *target, const char *transfer, const char *what)
{
    const study_point *pa = find_point(st, sname, a, target, transfer);
    /* scratch has no transfer: it is compared with either */
    const study_point *pb = find_point(st, sname, b, target, strcmp(b, "scratch") ? transfer : "none");
    double ma, sa, mb, sb;
    int above = 0, n;
    if (!pa || !pb)
        return;
    point_stats(pa, &ma, &sa);
    point_stats(pb, &mb, &sb);
    n = pa->n < pb->n ? pa->n : pb->n;
    for (int i = 0; i < n; i++)
        above += pa->v[i] > pb->v[i];
    printf("   %-10s %-8s %s: %s - %s = %+.3f (above in %d of %d seeds)\n", target, transfer, what,
           a, b, ma - mb, above, n);
}

static void conclusions(const study *st, const char *sname)
{
    if (!strcmp(sname, "scale")) {
        static const char *const ts[4] = {"target-ss", "target-k", "epic-verbs", "epic-nouns"};
        for (int t = 0; t < 4; t++) {
            compare(st, "scale", "pretrain-16x", "scratch", ts[t], "full", "pre-training");
            compare(st, "scale", "pretrain-16x-fc", "scratch", ts[t], "fc-only", "pre-training");
            compare(st, "scale", "pretrain-16x", "pretrain-1x", ts[t], "full", "more data");
            compare(st, "scale", "pretrain-16x-fc", "pretrain-1x-fc", ts[t], "fc-only", "more data");
        }
    } else if (!strcmp(sname, "label-space")) {
        static const char *const ts[4] = {"target-k", "target-ss", "epic-verbs", "epic-nouns"};
        static const char *const sp[4] = {"target", "verb", "noun", "verb+noun"};
        for (int t = 0; t < 4; t++) {
            const char *best = NULL;
            double bm = -1, m, sd;
            for (int k = 0; k < 4; k++) {
                const study_point *p = find_point(st, sname, sp[k], ts[t], "fc-only");
                if (!p)
                    continue;
                point_stats(p, &m, &sd);
                if (m > bm)
                    bm = m, best = sp[k];
            }
            if (best)
                printf("   %-10s fc-only  best label space: %s (%.3f; chance %.3f)\n", ts[t], best,
                       bm, target_chance(st, ts[t]));
        }
    } else if (!strcmp(sname, "video-vs-frame")) {
        compare(st, sname, "r2plus1d", "frame", "target-ss", "full", "video over frames");
        compare(st, sname, "r2plus1d", "frame", "target-ss", "fc-only", "video over frames");
        compare(st, sname, "r2plus1d", "frame", "target-k", "full", "video over frames");
        compare(st, sname, "r2plus1d", "frame", "target-k", "fc-only", "video over frames");
    } else if (!strcmp(sname, "budget")) {
        char names[5][64];
        budget_names(st, names);
        for (int t = 0; t < 2; t++) {
            const char *tg = t ? "target-k" : "target-ss";
            compare(st, sname, names[1], names[0], tg, "fc-only", "same videos, longer");
            compare(st, sname, names[2], names[1], tg, "fc-only", "same minutes, more videos");
            compare(st, sname, names[4], names[3], tg, "fc-only", "4 clips over 1");
        }
    } else if (!strcmp(sname, "resampling")) {
        for (int t = 0; t < 2; t++) {
            const char *tg = t ? "target-ss" : "target-k";
            compare(st, sname, "sqrt", "natural", tg, "fc-only", "resampling");
            compare(st, sname, "uniform", "natural", tg, "fc-only", "resampling");
        }
    }
}

static void print_table(const study *st, const char *sname)
{
    printf("\n== %s: video@1 on the target's test videos, mean +- sample std over %d seed(s)\n\n"
           "   %-20s %-11s %-8s %16s   per seed\n", sname, st->n_seeds, "point", "target",
           "transfer", "video@1");
    for (int k = 0; k < st->n_pts; k++) {
        const study_point *p = &st->pts[k];
        double m, sd;
        if (strcmp(p->study, sname) != 0)
            continue;
        point_stats(p, &m, &sd);
        printf("   %-20s %-11s %-8s %7.3f +- %5.3f  ", p->name, p->target, p->transfer, m, sd);
        for (int i = 0; i < p->n; i++)
            printf(" %.3f", p->v[i]);
        printf("\n");
    }
    printf("\n");
    conclusions(st, sname);
}

/* the JSON of the points of one study (sname) or of all (NULL) */
static void print_json(FILE *f, const study *st, const char *name, const char *sname, double seconds)
{
    int first = 1;
    fprintf(f, "{\"study\":\"%s\",\"quick\":%s,%s\"first_seed\":%ld,\"n_seeds\":%d,"
               "\"seconds\":%.1f,\"points\":[", name, st->quick ? "true" : "false",
            st->smoke ? "\"smoke\":true," : "", st->first_seed, st->n_seeds, seconds);
    for (int k = 0; k < st->n_pts; k++) {
        const study_point *p = &st->pts[k];
        double m, sd;
        if (sname && strcmp(p->study, sname) != 0)
            continue;
        point_stats(p, &m, &sd);
        /* names are the study's own ASCII words: no escaping needed */
        fprintf(f, "%s{\"study\":\"%s\",\"name\":\"%s\",\"target\":\"%s\",\"transfer\":\"%s\","
                   "\"metric\":\"video_top1\",\"mean\":%.6g,\"std\":%.6g,\"seeds\":[",
                first ? "" : ",", p->study, p->name, p->target, p->transfer, m, sd);
        for (int i = 0; i < p->n; i++)
            fprintf(f, "%s%.6g", i ? "," : "", p->v[i]);
        fprintf(f, "]}");
        first = 0;
    }
    fprintf(f, "]}\n");
}

static int save_json(const study *st, const char *sname, double seconds)
{
    char path[4200], *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    int rc;
    if (!m)
        return 1;
    print_json(m, st, sname, sname, seconds);
    fclose(m);
    snprintf(path, sizeof path, "%s/%s.json", st->out, sname);
    rc = write_small(path, text);
    if (!rc)
        printf("   wrote %s\n", path);
    free(text);
    return rc;
}

typedef int (*study_fn)(study *);
static const struct {
    const char *name;
    study_fn fn;
} studies[] = {
    {"scale", study_scale},
    {"label-space", study_label_space},
    {"video-vs-frame", study_video_vs_frame},
    {"budget", study_budget},
    {"resampling", study_resampling},
};
#define N_STUDIES ((int)(sizeof studies / sizeof studies[0]))

/* whether `study NAME` runs studies[k] */
static int selected(const char *name, int k)
{
    return !strcmp(name, "all") || !strcmp(name, studies[k].name);
}

int cmd_study(int argc, char **argv)
{
    const char *name = NULL;
    long n_seeds = -1, threads = 2, jobs = -1;
    int json = 0, rc = 1, saved_stdout = -1, known = 0;
    char threads_s[32], job_threads_s[32], runs[4200];
    double t0 = wall_seconds(), took[N_STUDIES] = {0};
    study *st = calloc(1, sizeof *st);
    if (!st) {
        fprintf(stderr, "%s: error: out of memory\n", prog);
        return 1;
    }
    st->out = "vidaction-study";
    st->first_seed = 1;
    st->quiet_fd = -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            rc = 0;
            goto done;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--quick")) {
            st->quick = 1;
            continue;
        }
        if (!strcmp(a, "--smoke")) {
            st->smoke = 1;
            continue;
        }
        if (a[0] != '-') {
            if (name) {
                rc = usage_error("study takes one NAME; also", a);
                goto done;
            }
            name = a;
            continue;
        }
        v = arg_value(argc, argv, &i);
        if (!v) {
            rc = usage_error("missing value after", a);
            goto done;
        }
        if (!strcmp(a, "--out")) st->out = v;
        else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, 0x7fff0000L, &st->first_seed)) {
                rc = usage_error("bad --seed", v);
                goto done;
            }
        } else if (!strcmp(a, "--seeds")) {
            if (parse_long(v, 1, STUDY_MAX_SEEDS, &n_seeds)) {
                rc = usage_error("bad --seeds (1-16)", v);
                goto done;
            }
        } else if (!strcmp(a, "--threads")) {
            if (parse_long(v, 1, 1024, &threads)) {
                rc = usage_error("bad --threads", v);
                goto done;
            }
        } else if (!strcmp(a, "--jobs")) {
            if (parse_long(v, 1, 64, &jobs)) {
                rc = usage_error("bad --jobs (1-64)", v);
                goto done;
            }
        } else {
            rc = usage_error("unknown option", a);
            goto done;
        }
    }
    if (!name) {
        rc = usage_error("study needs a NAME: scale, label-space, video-vs-frame, budget, "
                         "resampling or all", NULL);
        goto done;
    }
    for (int k = 0; k < N_STUDIES; k++)
        known |= !strcmp(name, studies[k].name);
    if (!known && strcmp(name, "all") != 0) {
        rc = usage_error("unknown study (scale, label-space, video-vs-frame, budget, "
                         "resampling, all):", name);
        goto done;
    }
    if (strlen(st->out) > 3000) {
        rc = usage_error("--out is too long", NULL);
        goto done;
    }
    st->n_seeds = (int)(n_seeds > 0 ? n_seeds : st->quick ? 1 : 3);
    /* --quick: one seed and every run that can be is one run: label-space's verbs, budget's N
       short videos and scale's x1 are the same pre-training; video-vs-frame's R(2+1)D is
       scale's x16 (the full study: its x4); resampling's sqrt is label-space's verb+noun */
    st->base = st->quick ? 120 : 250;
    st->budget_videos = st->quick ? st->base : 100;
    st->budget_minutes = st->quick ? 24 : 20; /* about the minutes of the N long videos */
    st->long_videos = st->quick ? 150 : 400;
    st->pre_steps = PRE_STEPS;
    st->scale_steps = SCALE_STEPS;
    st->noun_steps = NOUN_STEPS;
    st->tgt_steps = TGT_STEPS;
    st->pre_warmup = PRE_WARMUP;
    st->noun_warmup = NOUN_WARMUP;
    st->tgt_warmup = "5";
    st->clips_video = "4";
    st->clips_frame = "32";
    st->short_side = st->quick ? "30" : "40";
    st->crop = st->quick ? "24" : "32";
    if (st->smoke) {
        /* every study's pipeline on a few videos and steps, for the tests: nothing learns */
        st->base = 8;
        st->budget_videos = st->quick ? st->base : 4;
        st->budget_minutes = 1;
        st->long_videos = 8;
        st->pre_steps = "3";
        st->scale_steps = "4";
        st->noun_steps = "5";
        st->tgt_steps = "2";
        st->pre_warmup = "1";
        st->noun_warmup = "1";
        st->tgt_warmup = "1";
        st->clips_video = "1";
        st->clips_frame = "2";
    }
    st->space_videos = st->quick ? st->base : 2 * st->base;
    st->vvf_videos = (st->quick ? 16 : 4) * st->base;
    /* --jobs: as many runs at once as threads, each on one thread, by default; on 2 cores two
       1-thread runs do 1.36x the work of one 2-thread run (docs/reproduction.md) */
    if (jobs < 0)
        jobs = threads < 64 ? threads : 64;
    if (jobs > threads) {
        rc = usage_error("--jobs is more than --threads (each job has at least one thread)", NULL);
        goto done;
    }
    snprintf(threads_s, sizeof threads_s, "%ld", threads);
    snprintf(job_threads_s, sizeof job_threads_s, "%ld", threads / jobs);
    st->data_threads = threads_s;
    st->threads = job_threads_s;
    st->jobs = (int)jobs;
    if (jobs > 1 && !(st->jobq = malloc(STUDY_MAX_JOBS * sizeof *st->jobq))) {
        fprintf(stderr, "%s: error: out of memory\n", prog);
        goto done;
    }
    snprintf(runs, sizeof runs, "%s/runs", st->out);
    {
        char data[4200];
        snprintf(data, sizeof data, "%s/data", st->out);
        if (make_dir(st->out) || make_dir(runs) || make_dir(data))
            goto done;
    }
    if (json && (saved_stdout = stdout_to_stderr()) < 0)
        goto done;
    printf("== libvidaction %s study %s%s (seeds %ld-%ld, %ld threads: %ld run%s at a time on "
           "%ld each; output in %s)\n",
           vida_version_string(), name, st->quick ? " --quick" : "", st->first_seed,
           st->first_seed + st->n_seeds - 1, threads, jobs, jobs > 1 ? "s" : "", threads / jobs,
           st->out);
    if (st->jobs > 1) {
        /* plan every study named (a run two studies share is planned once), do the runs J at a
           time, then each study finds its runs done */
        double tj = wall_seconds();
        int prc = 0;
        st->plan = 1;
        quiet(st, 1);
        for (int k = 0; k < N_STUDIES && !prc; k++) {
            if (!selected(name, k))
                continue;
            double tp = wall_seconds();
            st->cur_study = k;
            prc = studies[k].fn(st);
            took[k] += wall_seconds() - tp; /* the data it was first to need is made here */
        }
        quiet(st, 0);
        st->plan = 0;
        if (prc)
            goto done;
        printf("\n== the runs\n");
        if (run_jobs(st))
            goto done;
        printf("   %.0f s\n", wall_seconds() - tj);
        /* a study's time: its runs' (a shared run is the first study's), J at a time */
        for (int i = 0; i < st->n_jobs; i++)
            took[st->jobq[i].study] += st->jobq[i].seconds / st->jobs;
    }
    for (int k = 0; k < N_STUDIES; k++) {
        double ts = wall_seconds();
        if (!selected(name, k))
            continue;
        if (studies[k].fn(st))
            goto done;
        took[k] += wall_seconds() - ts;
        print_table(st, studies[k].name);
        printf("   %.0f s\n", took[k]);
        if (save_json(st, studies[k].name, took[k]))
            goto done;
    }
    {
        const double total = wall_seconds() - t0;
        if (!strcmp(name, "all")) {
            printf("\n== all: ");
            for (int k = 0; k < N_STUDIES; k++)
                printf("%s%s %.0f s", k ? ", " : "", studies[k].name, took[k]);
            printf("\n");
        }
        printf("   %.0f s in all; %ld training runs, %ld reused\n", total,
               st->trained + st->jobs_trained, st->reused);
        if (json) {
            stdout_back(&saved_stdout);
            print_json(stdout, st, name, strcmp(name, "all") ? name : NULL, total);
        }
    }
    rc = 0;
done:
    quiet(st, 0);
    stdout_back(&saved_stdout);
    free(st->jobq);
    free(st);
    return rc;
}

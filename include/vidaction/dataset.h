/*
 * vida_dataset: a manifest of labelled videos, its label space, and the order
 * in which an epoch draws from it.
 *
 * Manifest: one video per line, either TSV
 *
 *     path<TAB>labels[<TAB>duration[<TAB>start<TAB>end]]
 *
 * (labels separated by ',', empty fields allowed) or a JSON object
 *
 *     {"path": "a.mp4", "labels": ["#RollingDice", "dice"], "duration": 12.5,
 *      "segment": [2.0, 7.5]}
 *
 * (the format is chosen per line by its first character; blank lines are
 * skipped). Relative paths are taken from the root directory. A line that
 * cannot be read is reported (vida_dataset_problem: "line N: why") and
 * skipped, or fails the open with params.strict.
 *
 * Labels are matched after normalisation: leading '#' removed, ASCII letters
 * lowercased, separators (space, '_', '-', '.') removed -- "#Rolling_Dice",
 * "rolling dice" and "RollingDice" are one label. A label is shown as first
 * written (in the taxonomy, else in the manifest).
 *
 * Taxonomy (TSV, one hashtag per line): hashtag<TAB>verb<TAB>noun<TAB>targets,
 * empty fields for none, targets separated by ','. Label spaces:
 *   TARGET     the taxonomy's target labels of a video's hashtags; without a
 *              taxonomy, the manifest's labels as they are
 *   VERB/NOUN  the verbs / nouns of the hashtags (a taxonomy is required)
 *   VERB_NOUN  "verb+noun" for each hashtag that has both (observed pairs)
 * Labels carried by fewer than min_count videos are cut; videos left with no
 * label are dropped and counted. Classes are numbered in byte order of their
 * normalised names, or in the order of params.classes when given.
 *
 * Epochs: with VIDA_RESAMPLE_NONE an epoch visits every (video, clip slot)
 * once, in an order that is a function of (seed, epoch) only. With
 * NATURAL / SQRT / UNIFORM an epoch is `draws` draws; each picks a label with
 * probability proportional to freq^p (p = 1, 0.5, 0; freq = videos carrying
 * the label) and then one of the videos carrying it uniformly. Draw i of
 * epoch e depends only on (seed, e, i).
 *
 * Budgets choose the videos once, at open: at most max_videos videos and at
 * most max_minutes minutes, taken in random order (by seed), shortest first
 * or longest first. clips_per_video K splits each video (or its segment) into
 * K equal windows; slot k's clip lies inside window k.
 *
 * A dataset is read-only after open and may be used from several threads.
 */
#ifndef VIDACTION_DATASET_H
#define VIDACTION_DATASET_H

#include "common.h"
#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_dataset vida_dataset;

/* Label spaces. */
enum {
    VIDA_LABELS_TARGET = 0,
    VIDA_LABELS_VERB = 1,
    VIDA_LABELS_NOUN = 2,
    VIDA_LABELS_VERB_NOUN = 3
};

/* What a sample's target row holds (vida_dataset_target). */
enum {
    VIDA_TARGET_SINGLE = 0,  /* one-hot of the sample's label (the drawn one, else the first) */
    VIDA_TARGET_SOFT = 1,    /* 1/k on each of the video's k labels (softmax, soft targets) */
    VIDA_TARGET_MULTIHOT = 2 /* 1 on each of the video's labels (sigmoid) */
};

/* How an epoch draws. */
enum {
    VIDA_RESAMPLE_NONE = 0,    /* each (video, slot) once per epoch, shuffled */
    VIDA_RESAMPLE_NATURAL = 1, /* label by freq^1, then a video carrying it */
    VIDA_RESAMPLE_SQRT = 2,    /* label by freq^0.5 */
    VIDA_RESAMPLE_UNIFORM = 3  /* label by freq^0 */
};

/* Which videos a budget keeps first. */
enum {
    VIDA_PREFER_RANDOM = 0,
    VIDA_PREFER_SHORT = 1,
    VIDA_PREFER_LONG = 2
};

typedef struct vida_dataset_params {
    size_t size;          /* sizeof(vida_dataset_params), set by _params_init */
    const char *root;     /* directory of relative paths; NULL = the manifest's directory */
    const char *taxonomy; /* taxonomy file; NULL = none */
    int label_space;      /* VIDA_LABELS_*; default TARGET */
    int min_count;        /* labels on fewer videos are cut; default 1 */
    int target;           /* VIDA_TARGET_*; default SINGLE */
    int resample;         /* VIDA_RESAMPLE_*; default NONE */
    int64_t draws;        /* draws per epoch when resampling; 0 = videos x clips_per_video */
    int64_t max_videos;   /* budget: at most this many videos; 0 = all */
    double max_minutes;   /* budget: at most this many minutes of video; 0 = no limit */
    int clips_per_video;  /* K clip slots per video; default 1 */
    int prefer;           /* VIDA_PREFER_*, order in which a budget takes videos */
    uint64_t seed;        /* for PREFER_RANDOM; default 0 */
    const char *const *classes; /* a fixed class list (e.g. a model's); labels */
    int n_classes;              /*   outside it are ignored; NULL/0 = from the data */
    int check_files;      /* 1: stat each file at open, missing ones are problems; default 1 */
    int strict;           /* 1: the first bad line or missing file fails the open; default 0 */
    int probe_durations;  /* 1: open videos without a duration to measure it (needed by
                             max_minutes and PREFER_SHORT/LONG); default 1 */
} vida_dataset_params;

/* Fills *p with defaults. */
VIDA_API void vida_dataset_params_init(vida_dataset_params *p);

/*
 * Reads the manifest (and the taxonomy), builds the label space, applies the
 * budget. ctx may be NULL. Returns VIDA_OK, VIDA_EIO (a file cannot be read),
 * VIDA_EFORMAT (strict and a bad line, or a bad taxonomy line), VIDA_EINVAL
 * (bad params, or a space that needs a taxonomy), VIDA_EMISMATCH (no video
 * is left), VIDA_ENOMEM.
 */
VIDA_API int vida_dataset_open(vida_dataset **out, vida_context *ctx, const char *manifest,
                               const vida_dataset_params *p);
VIDA_API void vida_dataset_free(vida_dataset *ds);

typedef struct vida_dataset_stats {
    size_t size;            /* set by the caller to sizeof(vida_dataset_stats) */
    int64_t lines;          /* non-blank manifest lines */
    int64_t bad_lines;      /* lines that could not be read */
    int64_t missing;        /* files that do not exist (check_files) */
    int64_t unlabelled;     /* videos dropped: no label in the space (after min_count) */
    int64_t over_budget;    /* videos left out by the budget */
    int64_t unprobed;       /* videos whose duration could not be measured (dropped) */
    int64_t videos;         /* videos kept */
    int64_t classes;        /* classes of the label space */
    int64_t epoch_size;     /* samples per epoch (all ranks together) */
    double minutes;         /* total minutes of the kept videos (known durations) */
} vida_dataset_stats;

/* Fills *st (st->size must be set). Returns VIDA_OK or VIDA_EINVAL. */
VIDA_API int vida_dataset_get_stats(const vida_dataset *ds, vida_dataset_stats *st);

/* Kept videos, classes, samples per epoch; -1 for NULL. */
VIDA_API int64_t vida_dataset_size(const vida_dataset *ds);
VIDA_API int64_t vida_dataset_n_classes(const vida_dataset *ds);
VIDA_API int64_t vida_dataset_epoch_size(const vida_dataset *ds);

/* Class c's name (static until free); NULL when out of range. */
VIDA_API const char *vida_dataset_label_name(const vida_dataset *ds, int64_t c);
/* How many kept videos carry class c; -1 when out of range. */
VIDA_API int64_t vida_dataset_label_videos(const vida_dataset *ds, int64_t c);

/* Problems found at open, "line N: why" or "PATH: why"; NULL past the end. */
VIDA_API int64_t vida_dataset_n_problems(const vida_dataset *ds);
VIDA_API const char *vida_dataset_problem(const vida_dataset *ds, int64_t i);

typedef struct vida_dataset_video {
    size_t size;           /* set by the caller to sizeof(vida_dataset_video) */
    const char *path;      /* the path to open (root applied); valid until free */
    int64_t line;          /* manifest line number (1-based) */
    double duration;       /* seconds; -1 when unknown */
    double start, end;     /* segment in seconds; end < 0 = to the end */
    int n_labels;          /* classes the video carries */
    const int32_t *labels; /* their numbers, ascending; valid until free */
} vida_dataset_video;

/* Kept video i (0 <= i < size). */
VIDA_API int vida_dataset_get_video(const vida_dataset *ds, int64_t i, vida_dataset_video *v);

typedef struct vida_dataset_sample {
    size_t size;   /* set by the caller to sizeof(vida_dataset_sample) */
    int64_t video; /* kept video index */
    int32_t label; /* the drawn class (resampling) or the video's first class */
    int32_t slot;  /* clip slot k, 0 <= k < clips_per_video */
} vida_dataset_sample;

/* Sample `index` (0 <= index < epoch_size) of epoch `epoch` under `seed`. */
VIDA_API int vida_dataset_draw(const vida_dataset *ds, uint64_t seed, int64_t epoch,
                               int64_t index, vida_dataset_sample *s);

/* Writes the target row (n_classes floats) of a sample, per params.target. */
VIDA_API int vida_dataset_target(const vida_dataset *ds, const vida_dataset_sample *s,
                                 float *row, size_t n);

#ifdef __cplusplus
}
#endif
#endif

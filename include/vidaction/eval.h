/*
 * vida_eval: the evaluation protocol of the paper (multi-clip testing),
 * accumulated video by video from clip scores.
 *
 * For each video the caller adds the logits of its K clips (x crops; every
 * view is a "clip" here) and its classes. Then:
 *   clip@k   the share of clips whose k highest scores hold one of the
 *            video's classes
 *   video@k  the same for the video's score: the mean over its clips of
 *            softmax(logits) (VIDA_EVAL_SOFTMAX) or sigmoid(logits)
 *            (VIDA_EVAL_SIGMOID)
 *   mean class accuracy  the mean over classes that have videos of the
 *            share of their videos whose video@1 is that class
 *   mAP      the mean over classes that have videos of the average precision
 *            of ranking all videos by their video score for the class
 *            (precision at each positive, in descending score order; ties
 *            keep the order videos were added)
 *   confusion  C x C counts: row = the video's first class, column = its
 *            video@1 prediction
 * Ties in top-k are broken by the lower class number.
 */
#ifndef VIDACTION_EVAL_H
#define VIDACTION_EVAL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vida_eval vida_eval;

enum {
    VIDA_EVAL_SOFTMAX = 0,
    VIDA_EVAL_SIGMOID = 1
};

/* Returns VIDA_OK, VIDA_EINVAL (n_classes < 1, bad kind), VIDA_ENOMEM. */
VIDA_API int vida_eval_create(vida_eval **out, int64_t n_classes, int kind);
VIDA_API void vida_eval_free(vida_eval *e);

/*
 * Adds one video: logits float32 [n_clips, n_classes] of its clips, and its
 * classes (n_labels >= 1; the first is its class for the confusion matrix).
 * Returns VIDA_OK, VIDA_EINVAL (NULL, n_clips < 1, a class out of range),
 * VIDA_ENONFINITE (a logit is NaN or infinite; nothing is added), VIDA_ENOMEM.
 */
VIDA_API int vida_eval_add_video(vida_eval *e, const float *logits, int64_t n_clips,
                                 const int32_t *labels, int n_labels);

typedef struct vida_eval_result {
    size_t size;          /* set by the caller to sizeof(vida_eval_result) */
    int64_t videos, clips;
    double clip_top1, clip_top5;
    double video_top1, video_top5;
    double mean_class_accuracy;
    double map;           /* mean average precision over classes with videos */
} vida_eval_result;

/* Fills *r (r->size must be set). Returns VIDA_OK, VIDA_EINVAL or VIDA_ENOMEM. */
VIDA_API int vida_eval_get_result(const vida_eval *e, vida_eval_result *r);

/* Class c: its videos (whose class list holds c), accuracy and average precision (-1: no videos). */
VIDA_API int vida_eval_class(const vida_eval *e, int64_t c, int64_t *videos, double *accuracy,
                             double *ap);

/* The confusion matrix into out[n_classes * n_classes] (row-major, n elements). */
VIDA_API int vida_eval_confusion(const vida_eval *e, int64_t *out, size_t n);

/* The video score (mean softmax or sigmoid over its clips) of video i, n_classes floats. */
VIDA_API int vida_eval_video_scores(const vida_eval *e, int64_t i, float *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif

/*
 * vida_eval against a hand computation. Clip scores are given as softmax
 * probabilities p (logits log p, whose softmax is p again), 3 classes:
 *
 *   video  class  clips (p0, p1, p2)                            clip@1  mean score          video@1
 *   V0     0      (.6 .3 .1) (.3 .5 .2)                          1 of 2  (.45  .4    .15)    0 right
 *   V1     1      (.1 .7 .2) (.5 .3 .2) (.2 .6 .2)               2 of 3  (.2667 .5333 .2)   1 right
 *   V2     2      (.5 .2 .3) (.44 .31 .25)                       0 of 2  (.47  .255  .275)   0 wrong
 *   V3     2      (.1 .2 .7)                                     1 of 1  (.1   .2    .7)     2 right
 *
 *   clip@1 = 4/8 = 0.5; video@1 = 3/4; @5 = 1 (3 classes);
 *   per class accuracy 1, 1, 1/2 -> mean 5/6;
 *   AP: class 0 ranks V2 .47, V0 .45, ... -> its one positive at rank 2: 1/2;
 *       class 1 ranks V1 first: 1; class 2 ranks V3 .7, V2 .275: 1 -> mAP 5/6;
 *   confusion (row = class, column = video@1): (0,0) 1, (1,1) 1, (2,0) 1, (2,2) 1.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <vidaction.h>

#include "test.h"

static void add(vida_eval *e, const float (*p)[3], int n_clips, int32_t label, int *ok)
{
    float logits[8][3];
    for (int k = 0; k < n_clips; k++)
        for (int j = 0; j < 3; j++)
            logits[k][j] = logf(p[k][j]);
    if (vida_eval_add_video(e, &logits[0][0], n_clips, &label, 1) != VIDA_OK) {
        fprintf(stderr, "  %s\n", vida_last_error());
        *ok = 0;
    }
}

TEST(eval, hand_computed_protocol)
{
    static const float v0[][3] = {{.6f, .3f, .1f}, {.3f, .5f, .2f}};
    static const float v1[][3] = {{.1f, .7f, .2f}, {.5f, .3f, .2f}, {.2f, .6f, .2f}};
    static const float v2[][3] = {{.5f, .2f, .3f}, {.44f, .31f, .25f}};
    static const float v3[][3] = {{.1f, .2f, .7f}};
    vida_eval *e = NULL;
    vida_eval_result r;
    int64_t conf[9], want_conf[9] = {1, 0, 0, 0, 1, 0, 1, 0, 1}, n;
    double acc, ap;
    float s[3];
    int ok = 1;
    CHECK_OK(vida_eval_create(&e, 3, VIDA_EVAL_SOFTMAX));
    add(e, v0, 2, 0, &ok);
    add(e, v1, 3, 1, &ok);
    add(e, v2, 2, 2, &ok);
    add(e, v3, 1, 2, &ok);
    CHECK(ok);
    r.size = sizeof r;
    CHECK_OK(vida_eval_get_result(e, &r));
    CHECK(r.videos == 4 && r.clips == 8);
    CHECKF(fabs(r.clip_top1 - 0.5) < 1e-12, "clip@1 %g", r.clip_top1);
    CHECKF(fabs(r.video_top1 - 0.75) < 1e-12, "video@1 %g", r.video_top1);
    CHECK(r.clip_top5 == 1 && r.video_top5 == 1);
    CHECKF(fabs(r.mean_class_accuracy - 5.0 / 6) < 1e-12, "mean class accuracy %g",
           r.mean_class_accuracy);
    CHECKF(fabs(r.map - 5.0 / 6) < 1e-12, "mAP %g", r.map);
    CHECK_OK(vida_eval_confusion(e, conf, 9));
    CHECK(memcmp(conf, want_conf, sizeof conf) == 0);
    CHECK_OK(vida_eval_class(e, 2, &n, &acc, &ap));
    CHECK(n == 2 && fabs(acc - 0.5) < 1e-12 && fabs(ap - 1) < 1e-12);
    CHECK_OK(vida_eval_class(e, 0, &n, &acc, &ap));
    CHECK(n == 1 && acc == 1 && fabs(ap - 0.5) < 1e-12);
    CHECK_OK(vida_eval_video_scores(e, 1, s, 3));
    CHECKF(fabs(s[0] - 0.8 / 3) < 1e-6 && fabs(s[1] - 1.6 / 3) < 1e-6 && fabs(s[2] - 0.2) < 1e-6,
           "V1's mean score %g %g %g", s[0], s[1], s[2]);
    /* bad input: nothing is added */
    {
        float bad[3] = {0, NAN, 0};
        int32_t l = 0, l9 = 9;
        CHECK(vida_eval_add_video(e, bad, 1, &l, 1) == VIDA_ENONFINITE);
        bad[1] = 0;
        CHECK(vida_eval_add_video(e, bad, 1, &l9, 1) == VIDA_EINVAL);
        CHECK(vida_eval_add_video(e, bad, 0, &l, 1) == VIDA_EINVAL);
        CHECK(vida_eval_confusion(e, conf, 8) == VIDA_EINVAL);
        CHECK_OK(vida_eval_get_result(e, &r));
        CHECK(r.videos == 4);
    }
    vida_eval_free(e);
    CHECK(vida_eval_create(&e, 0, VIDA_EVAL_SOFTMAX) == VIDA_EINVAL);
    vida_eval_free(NULL);
}

/*
 * Multi-label, sigmoid scores: a hit is any of the video's classes in the top
 * k; AP ranks every video for each class. Logits are log-odds of the wanted
 * probabilities q (sigmoid(log(q / (1 - q))) = q).
 *   W0 {0, 1}: q (.9 .2 .1 .1 .1 .1)  video@1 0: hit
 *   W1 {1}:    q (.8 .3 .1 .1 .1 .1)  video@1 0: miss; class 1 in the top 5
 *   W2 {2, 3}: q (.1 .1 .2 .9 .1 .1)  video@1 3: hit
 *   AP: class 0 {W0}: W0 .9 first: 1; class 1 {W0, W1}: W1 .3, W0 .2 first: 1;
 *       class 2 {W2}: .2 first: 1; class 3 {W2}: 1; classes 4, 5 have no videos.
 *   mean class accuracy (the share of a class's videos whose video@1 is that
 *   class): class 0 1/1, class 1 0/2, class 2 0/1, class 3 1/1 -> 2/4.
 */
TEST(eval, multi_label_sigmoid)
{
    static const float q[3][6] = {{.9f, .2f, .1f, .1f, .1f, .1f},
                                  {.8f, .3f, .1f, .1f, .1f, .1f},
                                  {.1f, .1f, .2f, .9f, .1f, .1f}};
    static const int32_t labels[3][2] = {{0, 1}, {1, -1}, {2, 3}};
    static const int n_labels[3] = {2, 1, 2};
    vida_eval *e = NULL;
    vida_eval_result r;
    int64_t n;
    CHECK_OK(vida_eval_create(&e, 6, VIDA_EVAL_SIGMOID));
    for (int v = 0; v < 3; v++) {
        float x[6];
        for (int j = 0; j < 6; j++)
            x[j] = logf(q[v][j] / (1 - q[v][j]));
        CHECK_OK(vida_eval_add_video(e, x, 1, labels[v], n_labels[v]));
    }
    r.size = sizeof r;
    CHECK_OK(vida_eval_get_result(e, &r));
    CHECKF(fabs(r.video_top1 - 2.0 / 3) < 1e-12 && r.video_top5 == 1, "video@1 %g @5 %g",
           r.video_top1, r.video_top5);
    CHECKF(fabs(r.map - 1) < 1e-12, "mAP %g", r.map);
    CHECKF(fabs(r.mean_class_accuracy - 0.5) < 1e-12, "mean class accuracy %g",
           r.mean_class_accuracy);
    CHECK_OK(vida_eval_class(e, 5, &n, NULL, NULL));
    CHECK(n == 0);
    vida_eval_free(e);
}

/*
 * vida_train_step: one step of training on a loader batch -- forward in
 * training mode (BN on batch statistics), loss, backward, optimizer update.
 *
 * The batch's clips are float32 [V, 3, L, H, W] (a sampler with output
 * VIDA_SAMPLE_F32) or uint8 [V, L, H, W, 3] (normalised here with the model's
 * "mean"/"std" metadata, as the sampler would); V = n x views, every view of
 * a sample gets its target. The loss follows the dataset's target kind:
 *   VIDA_TARGET_SINGLE    softmax cross-entropy on b->labels
 *   VIDA_TARGET_SOFT      softmax cross-entropy on b->targets (1/k rows)
 *   VIDA_TARGET_MULTIHOT  sigmoid binary cross-entropy on b->targets
 *
 * A non-finite loss or gradient skips the update (weights, momentum, BN
 * running statistics and the forward count untouched), is counted in the optimizer's stats (skipped,
 * consecutive_skips) and returns VIDA_ENONFINITE; a training loop stops after
 * the number of consecutive skips it tolerates. A batch with n = 0 (all its
 * samples failed) is nothing to learn from: VIDA_OK, *loss = NaN.
 */
#ifndef VIDACTION_TRAIN_H
#define VIDACTION_TRAIN_H

#include "common.h"
#include "loader.h"
#include "model.h"
#include "optimizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Returns VIDA_OK, VIDA_ENONFINITE (skipped: the loss, a gradient, or a batch
 * norm running statistic after the forward is not finite; weights, statistics
 * and momentum are left as they were), VIDA_EINVAL (NULL, shapes, classes that
 * differ from the model's, bad target kind), VIDA_ENOMEM. loss may be NULL.
 */
VIDA_API int vida_train_step(vida_model *m, vida_optimizer *o, const vida_batch *b,
                             int target_kind, float *loss);

/*
 * Transfer with a frozen trunk ("fc-only"): the network runs in evaluation
 * mode (BN on its running statistics, which stay as they are; no dropout),
 * and only the classifier (fc.weight, fc.bias) gets gradients and is
 * updated. The optimizer must have every other tensor frozen:
 * vida_optimizer_set_group(o, "", 0, 1) then (o, "fc.", 1, 1) -- otherwise
 * VIDA_EINVAL. Losses and skips as vida_train_step.
 */
VIDA_API int vida_train_step_fc(vida_model *m, vida_optimizer *o, const vida_batch *b,
                                int target_kind, float *loss);

#ifdef __cplusplus
}
#endif
#endif

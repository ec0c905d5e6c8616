/* Internal to src/train. */
#ifndef VIDAI_TRAIN_INTERNAL_H
#define VIDAI_TRAIN_INTERNAL_H

#include "vidaction/optimizer.h"

/* Counts a step skipped before reaching the optimizer (a non-finite loss in vida_train_step). */
void vidai_optimizer_count_skip(vida_optimizer *o);
/*
 * fp16 training: the factor vida_train_step multiplies the loss gradient by
 * (1 unless the model's context computes in VIDA_PRECISION_FP16), and the
 * step on gradients that carry a factor grad_scale: it is divided out, and
 * the loss scale is halved when the gradients overflowed (the step is
 * skipped) or doubled after 2000 finite steps.
 */
double vidai_optimizer_loss_scale(const vida_optimizer *o);
int vidai_optimizer_step_scaled(vida_optimizer *o, double grad_scale);
/* 1 when every learnable tensor but fc.* has lr_mult 0 and the fc tensors do not. */
int vidai_optimizer_only_fc(const vida_optimizer *o);

#endif

/* Internal to src/train. */
#ifndef VIDAI_TRAIN_INTERNAL_H
#define VIDAI_TRAIN_INTERNAL_H

#include "vidaction/optimizer.h"

/* Counts a step skipped before reaching the optimizer (a non-finite loss in vida_train_step). */
void vidai_optimizer_count_skip(vida_optimizer *o);
/* 1 when every learnable tensor but fc.* has lr_mult 0 and the fc tensors do not. */
int vidai_optimizer_only_fc(const vida_optimizer *o);

#endif

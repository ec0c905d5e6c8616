/* Internal to src/train. */
#ifndef VIDAI_TRAIN_INTERNAL_H
#define VIDAI_TRAIN_INTERNAL_H

#include "vidaction/optimizer.h"

/* Counts a step skipped before reaching the optimizer (a non-finite loss in vida_train_step). */
void vidai_optimizer_count_skip(vida_optimizer *o);

#endif

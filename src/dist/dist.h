/*
 * Internal side of vida_dist (src/dist/dist.c) that the model's backward pass
 * and vida_train_step call when a model is attached to a group.
 */
#ifndef VIDAI_DIST_H
#define VIDAI_DIST_H

#include <stdint.h>

struct vida_model;
struct vidai_dist_model;

void vidai_dist_model_free(struct vidai_dist_model *dm);
int vidai_dist_model_world(const struct vidai_dist_model *dm);
/* 0 without a group, else a value that differs by rank (dropout masks must differ per rank). */
uint64_t vidai_dist_model_key(const struct vidai_dist_model *dm);
/* vida_dist_all_ok over the model's group. */
int vidai_dist_model_all_ok(struct vidai_dist_model *dm, int ok, int *all_ok);
/* Backward of an attached model: begin, each learnable tensor as its gradient is final, end
   (waits for the all-reduces and writes the averaged gradients). */
void vidai_dist_backward_begin(struct vida_model *m);
int vidai_dist_param_done(struct vida_model *m, int param);
int vidai_dist_backward_end(struct vida_model *m);

#endif

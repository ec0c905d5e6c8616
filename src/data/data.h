/*
 * Internal: what the loader needs of a dataset beyond the public calls.
 */
#ifndef VIDAI_DATA_H
#define VIDAI_DATA_H

#include "vidaction/dataset.h"

/* Takes a reference; vida_dataset_free drops one (the last frees). */
void vidai_dataset_ref(vida_dataset *ds);
/* A hash of the kept videos, their labels, the classes and the epoch order. */
uint64_t vidai_dataset_id(const vida_dataset *ds);
/* clips_per_video and params.target of the dataset. */
int vidai_dataset_slots(const vida_dataset *ds);
/*
 * The window [*t_begin, *t_end) (seconds from the first frame; *t_end < 0 =
 * to the end) in which slot `slot` of video i lies, given the video's
 * measured duration: the video's segment (or all of it) cut into
 * clips_per_video equal parts. VIDA_EINVAL when the segment starts after
 * the video's end.
 */
int vidai_dataset_window(const vida_dataset *ds, int64_t i, int slot, double duration,
                         double *t_begin, double *t_end);

#endif

/* libvidaction: video action recognition in C. The umbrella header. */
#ifndef VIDACTION_H
#define VIDACTION_H

#include "vidaction/version.h"
#include "vidaction/common.h"
#include "vidaction/context.h"
#include "vidaction/model.h"
#include "vidaction/tensorfile.h"
#include "vidaction/video.h"
#include "vidaction/sampler.h"
#include "vidaction/dataset.h"
#include "vidaction/loader.h"
#include "vidaction/optimizer.h"
#include "vidaction/eval.h"
#include "vidaction/checkpoint.h"
#include "vidaction/train.h"
#include "vidaction/dist.h"
#include "vidaction/synth.h"

#endif

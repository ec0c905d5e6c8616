/*
 * vida_synth: SynthActions, procedural action videos to train and test on
 * when no real data set can be downloaded (docs/synthactions.md).
 *
 * An object (a noun: one of 12 shapes, drawn in one of 8 colours and 4
 * textures, with a marker dot so that turning shows) does one thing (a verb:
 * one of 12 motions) in front of a textured, drifting background, among
 * smaller distractor objects that wander. Ten verbs are five time-reversal
 * pairs -- move left/right, move up/down, rotate clockwise/anticlockwise,
 * grow/shrink, appear/disappear -- drawn so that the frames of a video and of
 * its reversed partner have the same distribution: no single frame tells
 * them apart, only the order does (bounce and shake, the other two, look the
 * same played backwards). The action fills only a part of the video (the
 * object rests before and after it). Frame i shows the scene at time
 * (i + 0.5) / fps, so the rests before and after get as many frames.
 *
 * Presets write a data set in the formats of vida_dataset (docs/data.md):
 *   PRETRAIN     noisy hashtags (synonyms, missing and wrong tags, tags that
 *                mean nothing), Zipf-distributed (verb, noun) frequencies,
 *                nouns 0-7 only: train.tsv, taxonomy.tsv
 *   TARGET_K     clean "verb noun" labels, few videos per class, a subset of
 *                (verb, noun) classes over nouns 0-7 (Kinetics-like):
 *                train.tsv, test.tsv
 *   TARGET_SS    the verb alone, on nouns 8-11, which PRETRAIN never shows
 *                (Something-Something-like): train.tsv, test.tsv
 *   TARGET_EPIC  separate verb and noun labels (EPIC-Kitchens-like):
 *                verb-train.tsv, verb-test.tsv, noun-train.tsv, noun-test.tsv
 *   DEMO         what `vidaction demo` runs on: a PRETRAIN set of 8 verbs in
 *                pretrain/, a TARGET_SS set of the same verbs in target/
 *                (12 videos per verb: 5 to train on, 7 to test) and 2 long
 *                videos of five actions in a row each in long/ (long.tsv)
 * Each set also gets vocab.txt (its class names, or for PRETRAIN every
 * hashtag with its count) and truth.jsonl (per video: verb, noun, colour,
 * texture, the action's start and end in seconds, hashtags, split). Videos go
 * to videos/NNNNNN.mp4, H.264 when libavcodec has libx264, else MPEG-4.
 *
 * Everything is a function of the parameters and the seed: the frames of
 * video i do not depend on the thread count or on the other videos.
 *
 * The lists (manifests, vocabulary, taxonomy, truth) are removed before the
 * videos are written and written after all of them: a run that fails or is
 * stopped half-way leaves no list naming videos of another run. Videos of a
 * bigger earlier run stay in videos/, unlisted.
 */
#ifndef VIDACTION_SYNTH_H
#define VIDACTION_SYNTH_H

#include "common.h"
#include "context.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    VIDA_SYNTH_PRETRAIN = 1,
    VIDA_SYNTH_TARGET_K = 2,
    VIDA_SYNTH_TARGET_SS = 3,
    VIDA_SYNTH_TARGET_EPIC = 4,
    VIDA_SYNTH_DEMO = 5
};

enum {
    VIDA_SYNTH_CODEC_AUTO = 0,  /* H.264 (libx264) when available, else MPEG-4 part 2 */
    VIDA_SYNTH_CODEC_H264 = 1,
    VIDA_SYNTH_CODEC_MPEG4 = 2
};

typedef struct vida_synth_params {
    size_t size;              /* sizeof(vida_synth_params), set by _params_init */
    int preset;               /* VIDA_SYNTH_*; set by _params_init */
    int64_t videos;           /* videos in the set (target sets: train + test; DEMO: the
                                 pre-training set), 1..10^6; the preset's default: PRETRAIN 2000,
                                 TARGET_K 600, TARGET_SS 300, TARGET_EPIC 400, DEMO 900 */
    uint64_t seed;            /* default 1 */
    int width, height;        /* frame size in pixels, even; default 80 x 64 */
    int fps;                  /* default 10 */
    double min_seconds, max_seconds;               /* video length; default 2 to 4 (DEMO 2 to 3) */
    double action_min_seconds, action_max_seconds; /* the action's length; default 1.5 to 2.5 */
    int classes;              /* TARGET_K: (verb, noun) classes, 2..96; default 24 */
    double test_fraction;     /* target sets: share of each class's videos for test; default 0.4 */
    double zipf;              /* PRETRAIN: class frequency ~ 1 / rank^zipf; default 1.0 */
    double p_missing;         /* PRETRAIN: a video has no hashtag about its action; default 0.1 */
    double p_wrong;           /* PRETRAIN: its hashtags name a wrong verb, and independently a
                                 wrong noun; default 0.1 each */
    int max_distractors;      /* 0..8 smaller wandering objects per video; default 2 */
    int verbs;                /* use verbs 0..verbs-1 only (2..12); default 12 (DEMO 8) */
    int codec;                /* VIDA_SYNTH_CODEC_*; default AUTO */
} vida_synth_params;

/* Defaults for preset (VIDA_SYNTH_*); an unknown preset leaves preset 0, which generate refuses. */
VIDA_API void vida_synth_params_init(vida_synth_params *p, int preset);

/*
 * Writes the data set into dir (created, with the folders above it, if
 * missing; files already there with the same names are replaced, each
 * atomically). Videos are encoded on the context's threads. p must have been
 * filled by vida_synth_params_init (p->size = sizeof(vida_synth_params)).
 * Returns VIDA_OK, VIDA_EINVAL (NULL, bad preset, size, rate, lengths,
 * probabilities or counts, a class left with no video to train or to test
 * on -- the message names the field),
 * VIDA_EUNSUPPORTED (no H.264 or MPEG-4 encoder in this libavcodec, or the
 * one asked for is missing), VIDA_EIO (naming the file), VIDA_ENOMEM.
 */
VIDA_API int vida_synth_generate(vida_context *ctx, const char *dir, const vida_synth_params *p);

/*
 * The vocabulary: 12 verbs and 12 nouns. Names are static strings ("move
 * left", "square"), NULL out of range. vida_synth_verb_reverse gives the verb
 * that is i played backwards (move left <-> move right), or -1 for the two
 * that are their own reverse (bounce, shake) and out of range.
 */
VIDA_API int vida_synth_n_verbs(void);
VIDA_API int vida_synth_n_nouns(void);
VIDA_API const char *vida_synth_verb_name(int i);
VIDA_API const char *vida_synth_noun_name(int i);
VIDA_API int vida_synth_verb_reverse(int i);

#ifdef __cplusplus
}
#endif

#endif

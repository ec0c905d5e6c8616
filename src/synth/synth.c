/*
 * SynthActions: procedural action videos with hashtag-like labels
 * (include/vidaction/synth.h, docs/synthactions.md).
 *
 * A video is a list of scenes (one for every preset but the long videos of
 * DEMO). A scene has a background (two octaves of periodic value noise,
 * tinted, drifting at a few pixels per second), 0..max_distractors small
 * objects moving in straight lines and reflecting off the borders, and the
 * main object, whose pose (centre, radius, angle, opacity) is a function of
 * the action's progress u in [0, 1]: u = 0 before the action, 1 after it,
 * eased in between (smoothstep). Every verb of a reversal pair draws its
 * endpoints from the same distribution and plays them in the opposite
 * order, so the set of poses -- and so the distribution of any single frame
 * -- is the same for both.
 *
 * Objects are drawn with 2x2 supersampling in object coordinates (y up,
 * radius 1): the shape's inside test, a texture that turns with the object,
 * and a marker dot at (0.5, 0) in a contrasting colour.
 *
 * Randomness: every number of video i comes from the counter RNG keyed by
 * (seed, set, i), so a video does not depend on the threads or on the other
 * videos. Videos are encoded by src/video/encode.c.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/io.h"
#include "video/encode.h"
#include "vidaction/synth.h"

#define N_VERBS 12
#define N_NOUNS 12
#define N_SEEN 8 /* nouns 0..7 appear in PRETRAIN, TARGET_K and TARGET_EPIC; 8..11 only in TARGET_SS */
#define N_COLOURS 8
#define N_TEXTURES 4
#define MAX_SCENES 8
#define MAX_DISTRACTORS 8

static const char *const verb_names[N_VERBS] = {
    "move left", "move right", "move up", "move down", "rotate clockwise", "rotate anticlockwise",
    "grow", "shrink", "appear", "disappear", "bounce", "shake"};
static const char *const noun_names[N_NOUNS] = {"square", "circle", "triangle", "cross",
                                                "ring", "star", "diamond", "bar",
                                                "hexagon", "crescent", "heart", "ell"};
/* hashtag synonyms: what people would write for the verb or the noun */
static const char *const verb_tags[N_VERBS][3] = {
    {"movingleft", "goingleft", "leftward"},
    {"movingright", "goingright", "rightward"},
    {"movingup", "rising", "goingup"},
    {"movingdown", "falling", "goingdown"},
    {"rotatingclockwise", "clockwise", "turningright"},
    {"rotatinganticlockwise", "counterclockwise", "turningleft"},
    {"growing", "expanding", "gettingbigger"},
    {"shrinking", "contracting", "gettingsmaller"},
    {"appearing", "fadingin", "showingup"},
    {"disappearing", "fadingout", "vanishing"},
    {"bouncing", "hopping", "jumping"},
    {"shaking", "wobbling", "jiggling"}};
static const char *const noun_tags[N_NOUNS][2] = {
    {"square", "box"},   {"circle", "ball"},  {"triangle", "pyramid"}, {"cross", "plus"},
    {"ring", "donut"},   {"star", "sparkle"}, {"diamond", "rhombus"},  {"bar", "stick"},
    {"hexagon", "hex"},  {"crescent", "moon"}, {"heart", "valentine"}, {"ell", "corner"}};
/* tags that say nothing about the action */
static const char *const idle_tags[] = {"fun",  "weekend", "art",      "video", "instagood",
                                        "mood", "tbt",     "nofilter", "happy", "cool"};
#define N_IDLE_TAGS (int)(sizeof idle_tags / sizeof idle_tags[0])

static const char *const colour_names[N_COLOURS] = {"red",  "green",   "blue",  "yellow",
                                                    "cyan", "magenta", "white", "orange"};
static const float colours[N_COLOURS][3] = {{220, 40, 40},  {40, 200, 60},  {50, 90, 230},
                                            {235, 220, 50}, {40, 210, 220}, {210, 50, 210},
                                            {240, 240, 240}, {240, 140, 30}};
static const char *const texture_names[N_TEXTURES] = {"solid", "stripes", "checker", "dots"};

int vida_synth_n_verbs(void) { return N_VERBS; }
int vida_synth_n_nouns(void) { return N_NOUNS; }
const char *vida_synth_verb_name(int i) { return i >= 0 && i < N_VERBS ? verb_names[i] : NULL; }
const char *vida_synth_noun_name(int i) { return i >= 0 && i < N_NOUNS ? noun_names[i] : NULL; }
int vida_synth_verb_reverse(int i) { return i >= 0 && i < 10 ? i ^ 1 : -1; }

/* ---- randomness ------------------------------------------------------------ */

/* A stream of uniforms for one video: key from (seed, set, video), counter advancing. */
typedef struct rng {
    uint64_t key, n;
} rng;

static rng rng_make(uint64_t seed, uint64_t set, uint64_t i)
{
    rng r;
    r.key = vidai_hash64(vidai_hash64(seed ^ 0x5a17ac7105ULL) ^ vidai_hash64(set * 0x9e37 + 1) ^ i);
    r.n = 0;
    return r;
}

static double unif(rng *r) { return (double)(vidai_rng_u64(r->key, r->n++) >> 11) * 0x1.0p-53; }
static double range(rng *r, double a, double b) { return a + (b - a) * unif(r); }
static int pick(rng *r, int n) { return (int)(unif(r) * n); }

/* ---- scenes ----------------------------------------------------------------- */

typedef struct distractor {
    int shape, colour, texture;
    double x, y, vx, vy, radius, angle, spin;
} distractor;

typedef struct scene {
    double t0, t1;     /* the scene's span in the video, seconds */
    double a0, a1;     /* the action's span, seconds (t0 <= a0 < a1 <= t1) */
    int verb, noun, colour, texture;
    double x0, y0, x1, y1; /* centre before and after */
    double r0, r1;         /* radius before and after (pixels) */
    double ang0, ang1;     /* angle before and after (radians, counter-clockwise) */
    double al0, al1;       /* opacity before and after */
    double amp;            /* bounce height or shake amplitude (pixels) */
    uint64_t bg_key;
    float bg_base[3], bg_contrast;
    double bg_vx, bg_vy;
    int n_distractors;
    distractor d[MAX_DISTRACTORS];
} scene;

typedef struct video {
    int64_t index;
    char rel[64];      /* path relative to the set's folder */
    double seconds;
    int64_t n_frames;
    int n_scenes;
    scene *sc;         /* n_scenes, in the set's pool */
    int split;         /* 0 train, 1 test */
    int label;         /* class number (target sets) */
    char tags[256];    /* PRETRAIN: the hashtags, comma-separated */
} video;

/*
 * Chooses the object, where it is and what it does in scene sc, whose span
 * [t0, t1) is already set; verb and noun too. W, H: frame size.
 */
static void plan_scene(scene *sc, rng *r, const vida_synth_params *p, int allowed_nouns_lo,
                       int allowed_nouns_hi)
{
    double W = p->width, H = p->height, m = W < H ? W : H;
    double span = sc->t1 - sc->t0, len;
    sc->colour = pick(r, N_COLOURS);
    sc->texture = pick(r, N_TEXTURES);
    len = range(r, p->action_min_seconds, p->action_max_seconds);
    if (len > span)
        len = span;
    sc->a0 = sc->t0 + range(r, 0, span - len);
    sc->a1 = sc->a0 + len;
    /* the resting pose */
    sc->r0 = sc->r1 = m * range(r, 0.12, 0.17);
    sc->x0 = sc->x1 = range(r, 0.25, 0.75) * W;
    sc->y0 = sc->y1 = range(r, 0.25, 0.75) * H;
    sc->ang0 = sc->ang1 = range(r, 0, 2 * M_PI);
    sc->al0 = sc->al1 = 1;
    sc->amp = 0;
    switch (sc->verb) {
    case 0: case 1: case 2: case 3: {
        /* a segment [lo, lo + d] along the axis; the pair runs it in opposite directions */
        int vertical = sc->verb >= 2;
        double ext = vertical ? H : W, mg = sc->r0 * 1.1, d = range(r, 0.35, 0.55) * ext;
        double lo = range(r, mg, ext - mg - d), *a = vertical ? &sc->y0 : &sc->x0,
               *b = vertical ? &sc->y1 : &sc->x1;
        /* left: from lo + d to lo; up (y down in the image): from lo + d to lo */
        int backwards = sc->verb == 0 || sc->verb == 2;
        *a = backwards ? lo + d : lo;
        *b = backwards ? lo : lo + d;
        break;
    }
    case 4: case 5: {
        double turn = range(r, 0.6, 1.0) * M_PI;
        sc->ang1 = sc->ang0 + (sc->verb == 5 ? turn : -turn); /* clockwise: the angle falls */
        break;
    }
    case 6: case 7: {
        double small = m * range(r, 0.08, 0.11), big = small * range(r, 1.7, 2.2);
        sc->r0 = sc->verb == 6 ? small : big;
        sc->r1 = sc->verb == 6 ? big : small;
        break;
    }
    case 8: case 9:
        sc->al0 = sc->verb == 8 ? 0 : 1;
        sc->al1 = 1 - sc->al0;
        break;
    case 10:
        sc->y0 = sc->y1 = range(r, 0.6, 0.75) * H;
        sc->amp = range(r, 0.25, 0.35) * H;
        break;
    default: /* 11: shake; to either side first, so that played backwards it is still a shake */
        sc->amp = range(r, 0.06, 0.1) * W * (pick(r, 2) ? 1 : -1);
        break;
    }
    /* the background: a dark tint, low contrast, a slow drift in any direction */
    sc->bg_key = vidai_rng_u64(r->key, 1000000 + r->n++);
    for (int c = 0; c < 3; c++)
        sc->bg_base[c] = (float)range(r, 35, 110);
    sc->bg_contrast = (float)range(r, 20, 45);
    {
        double dir = range(r, 0, 2 * M_PI), speed = range(r, 0, 4);
        sc->bg_vx = speed * cos(dir);
        sc->bg_vy = speed * sin(dir);
    }
    sc->n_distractors = p->max_distractors ? pick(r, p->max_distractors + 1) : 0;
    for (int k = 0; k < sc->n_distractors; k++) {
        distractor *d = &sc->d[k];
        double dir = range(r, 0, 2 * M_PI), speed = range(r, 2, 8);
        d->shape = allowed_nouns_lo + pick(r, allowed_nouns_hi - allowed_nouns_lo);
        d->colour = pick(r, N_COLOURS);
        d->texture = pick(r, N_TEXTURES);
        d->radius = m * range(r, 0.05, 0.08);
        d->x = range(r, d->radius, W - d->radius);
        d->y = range(r, d->radius, H - d->radius);
        d->vx = speed * cos(dir);
        d->vy = speed * sin(dir);
        d->angle = range(r, 0, 2 * M_PI);
        d->spin = range(r, -0.5, 0.5);
    }
}

/* ---- drawing ---------------------------------------------------------------- */

/* Periodic value noise in [0, 1): g x g cells over the unit square, wrapping. */
static float noise(uint64_t key, int g, double u, double v)
{
    double x = u * g, y = v * g;
    double fx = floor(x), fy = floor(y);
    int ix = (int)fx, iy = (int)fy;
    double ax = x - fx, ay = y - fy;
    float c[4];
    ax = ax * ax * (3 - 2 * ax);
    ay = ay * ay * (3 - 2 * ay);
    for (int k = 0; k < 4; k++) {
        int cx = ((ix + (k & 1)) % g + g) % g, cy = ((iy + (k >> 1)) % g + g) % g;
        c[k] = vidai_rng_uniform(key, (uint64_t)(cy * g + cx));
    }
    return (float)((c[0] * (1 - ax) + c[1] * ax) * (1 - ay) + (c[2] * (1 - ax) + c[3] * ax) * ay);
}

static void draw_background(uint8_t *rgb, int W, int H, const scene *sc, double t)
{
    double ox = sc->bg_vx * t, oy = sc->bg_vy * t;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double u = (x + ox) / W, v = (y + oy) / H;
            uint8_t *px = rgb + ((size_t)y * (size_t)W + (size_t)x) * 3;
            for (int c = 0; c < 3; c++) {
                uint64_t k = sc->bg_key + (uint64_t)c * 7919;
                float n = 0.65f * noise(k, 4, u, v) + 0.35f * noise(k ^ 0xabcdefULL, 8, u, v);
                float val = sc->bg_base[c] + sc->bg_contrast * (2 * n - 1);
                px[c] = (uint8_t)(val < 0 ? 0 : val > 255 ? 255 : val + 0.5f);
            }
        }
}

/* Inside test of shape s at object coordinates (x, y), y up, the shape within radius ~1. */
static int inside(int s, double x, double y)
{
    double ax = fabs(x), ay = fabs(y), r2 = x * x + y * y;
    switch (s) {
    case 0: return ax < 0.75 && ay < 0.75;                                   /* square */
    case 1: return r2 < 0.85 * 0.85;                                         /* circle */
    case 2: return y > -0.55 && y < 0.95 - 1.732 * ax;                       /* triangle */
    case 3: return (ax < 0.3 && ay < 0.9) || (ay < 0.3 && ax < 0.9);         /* cross */
    case 4: return r2 < 0.9 * 0.9 && r2 > 0.5 * 0.5;                         /* ring */
    case 5: {                                                                /* star */
        double c = fabs(cos(2.5 * atan2(y, x) - M_PI * 1.25));
        return sqrt(r2) < 0.38 + 0.57 * c * c * c;
    }
    case 6: return ax / 0.7 + ay < 0.95;                                     /* diamond */
    case 7: return ax < 0.95 && ay < 0.32;                                   /* bar */
    case 8: return ay < 0.78 && 1.732 * ax + ay < 1.56;                      /* hexagon */
    case 9: return r2 < 0.85 * 0.85 && (x - 0.45) * (x - 0.45) + y * y > 0.65 * 0.65; /* crescent */
    case 10: {                                                               /* heart */
        double hx = x * 1.15, hy = y * 1.15 + 0.15, q = hx * hx + hy * hy - 1;
        return q * q * q - hx * hx * hy * hy * hy < 0;
    }
    default: return (x > -0.85 && x < -0.3 && ay < 0.85) ||                  /* ell */
                    (y > -0.85 && y < -0.3 && x > -0.85 && x < 0.85);
    }
}

/* Colour of the object's surface at object coordinates: texture, then the marker dot. */
static void surface(int colour, int texture, double x, double y, float out[3])
{
    const float *c = colours[colour];
    float k = 1;
    double dx = x - 0.5;
    if (dx * dx + y * y < 0.2 * 0.2) {
        /* the marker: black on light colours, white on dark ones */
        float lum = 0.3f * c[0] + 0.59f * c[1] + 0.11f * c[2];
        for (int q = 0; q < 3; q++)
            out[q] = lum > 140 ? 10 : 250;
        return;
    }
    switch (texture) {
    case 1: k = sin(x * 9) > 0 ? 1 : 0.5f; break;
    case 2: k = ((int)floor(x * 2.5 + 10) + (int)floor(y * 2.5 + 10)) & 1 ? 1 : 0.5f; break;
    case 3: {
        double fx = x * 3 - floor(x * 3) - 0.5, fy = y * 3 - floor(y * 3) - 0.5;
        k = fx * fx + fy * fy < 0.09 ? 0.45f : 1;
        break;
    }
    default: break;
    }
    for (int q = 0; q < 3; q++)
        out[q] = c[q] * k;
}

static void draw_object(uint8_t *rgb, int W, int H, int shape, int colour, int texture, double cx,
                        double cy, double radius, double angle, double alpha)
{
    static const double sub[4][2] = {{-0.25, -0.25}, {0.25, -0.25}, {-0.25, 0.25}, {0.25, 0.25}};
    double ca = cos(angle), sa = sin(angle), ext = radius * 1.25 + 1;
    int x0 = (int)floor(cx - ext), x1 = (int)ceil(cx + ext);
    int y0 = (int)floor(cy - ext), y1 = (int)ceil(cy + ext);
    if (alpha <= 0 || radius <= 0)
        return;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > W - 1 ? W - 1 : x1;
    y1 = y1 > H - 1 ? H - 1 : y1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float acc[3] = {0, 0, 0}, col[3];
            int hits = 0;
            for (int s = 0; s < 4; s++) {
                double dx = x + 0.5 + sub[s][0] - cx, dy = cy - (y + 0.5 + sub[s][1]);
                /* into the object's frame: rotate by -angle, scale to radius 1 */
                double ox = (dx * ca + dy * sa) / radius, oy = (-dx * sa + dy * ca) / radius;
                if (!inside(shape, ox, oy))
                    continue;
                surface(colour, texture, ox, oy, col);
                for (int q = 0; q < 3; q++)
                    acc[q] += col[q];
                hits++;
            }
            if (hits) {
                uint8_t *px = rgb + ((size_t)y * (size_t)W + (size_t)x) * 3;
                float a = (float)alpha * (float)hits / 4;
                for (int q = 0; q < 3; q++) {
                    float v = px[q] * (1 - a) + acc[q] / (float)hits * a;
                    px[q] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
                }
            }
        }
}

/* Folds p into [lo, hi] as a ball reflecting off both ends would. */
static double reflect(double p, double lo, double hi)
{
    double w = hi - lo, q;
    if (w <= 0)
        return lo;
    q = fmod(p - lo, 2 * w);
    if (q < 0)
        q += 2 * w;
    return lo + (q <= w ? q : 2 * w - q);
}

static void draw_scene(uint8_t *rgb, int W, int H, const scene *sc, double t)
{
    double u, e, x, y, rad, ang, al;
    draw_background(rgb, W, H, sc, t);
    for (int k = 0; k < sc->n_distractors; k++) {
        const distractor *d = &sc->d[k];
        double tt = t - sc->t0;
        draw_object(rgb, W, H, d->shape, d->colour, d->texture,
                    reflect(d->x + d->vx * tt, d->radius, W - d->radius),
                    reflect(d->y + d->vy * tt, d->radius, H - d->radius), d->radius,
                    d->angle + d->spin * tt, 1);
    }
    u = t <= sc->a0 ? 0 : t >= sc->a1 ? 1 : (t - sc->a0) / (sc->a1 - sc->a0);
    e = u * u * (3 - 2 * u);
    x = sc->x0 + (sc->x1 - sc->x0) * e;
    y = sc->y0 + (sc->y1 - sc->y0) * e;
    /* size changes geometrically, so growing and shrinking look alike played backwards */
    rad = sc->r0 * pow(sc->r1 / sc->r0, e);
    ang = sc->ang0 + (sc->ang1 - sc->ang0) * e;
    al = sc->al0 + (sc->al1 - sc->al0) * e;
    if (sc->verb == 10)
        y -= sc->amp * fabs(sin(2 * M_PI * u)); /* two hops */
    else if (sc->verb == 11)
        x += sc->amp * sin(6 * M_PI * u);       /* three shakes */
    draw_object(rgb, W, H, sc->noun, sc->colour, sc->texture, x, y, rad, ang, al);
}

typedef struct render {
    const video *v;
    int W, H, fps;
} render;

static int render_frame(void *arg, int64_t index, uint8_t *rgb)
{
    const render *r = arg;
    /* frame i stands for [i, i + 1) / fps and shows its middle: the first and the last frame are
       as far from the ends of the video, so the rest before an action and after it get the same
       number of frames on average (frame i at i / fps would always show the first pose and
       often miss the last one, which single frames could tell) */
    double t = ((double)index + 0.5) / r->fps;
    int s = 0;
    while (s + 1 < r->v->n_scenes && t >= r->v->sc[s + 1].t0)
        s++;
    draw_scene(rgb, r->W, r->H, &r->v->sc[s], t);
    return VIDA_OK;
}

/* ---- data sets ---------------------------------------------------------------- */

enum { SET_PRETRAIN = 1, SET_TARGET_K, SET_TARGET_SS, SET_TARGET_EPIC, SET_LONG };

typedef struct set {
    int kind;
    const char *dir;        /* the set's folder */
    int64_t n;              /* videos */
    video *v;
    int n_classes;
    int class_verb[N_VERBS * N_NOUNS], class_noun[N_VERBS * N_NOUNS]; /* TARGET_K */
    const vida_synth_params *p;
    scene *scenes;          /* the videos' scenes */
    const char *codec_used;
    /* the workers' first failure (lowest video index); after one, the others stop early */
    pthread_mutex_t lock;
    int failed;             /* atomic */
    int64_t fail_index;
    int fail_rc;
    char fail_msg[1024];
} set;

/* Single-scene video of a given verb and noun. */
static void plan_single(video *v, rng *r, const vida_synth_params *p, int verb, int noun, int lo,
                        int hi)
{
    v->seconds = range(r, p->min_seconds, p->max_seconds);
    v->n_frames = (int64_t)floor(v->seconds * p->fps + 0.5);
    if (v->n_frames < 2)
        v->n_frames = 2;
    v->seconds = (double)v->n_frames / p->fps;
    v->n_scenes = 1;
    v->sc[0].t0 = 0;
    v->sc[0].t1 = v->seconds;
    v->sc[0].verb = verb;
    v->sc[0].noun = noun;
    plan_scene(&v->sc[0], r, p, lo, hi);
}

/* Appends one hashtag ("#tag") to v->tags unless it is there already. */
static void add_tag(video *v, const char *a, const char *b)
{
    char t[128];
    size_t n = strlen(v->tags);
    snprintf(t, sizeof t, "#%s%s", a, b ? b : "");
    for (const char *s = v->tags; (s = strstr(s, t)) != NULL; s++)
        if ((s[strlen(t)] == ',' || s[strlen(t)] == 0))
            return;
    if (n + strlen(t) + 2 < sizeof v->tags)
        snprintf(v->tags + n, sizeof v->tags - n, "%s%s", n ? "," : "", t);
}

/* PRETRAIN: Zipf over (verb, noun) pairs in a random order of rank; noisy hashtags. */
static void plan_pretrain(set *s, uint64_t seed)
{
    const vida_synth_params *p = s->p;
    int V = p->verbs, n_pairs = V * N_SEEN, order[N_VERBS * N_SEEN];
    double cdf[N_VERBS * N_SEEN], total = 0;
    rng g = rng_make(seed, SET_PRETRAIN, UINT64_MAX);
    for (int k = 0; k < n_pairs; k++)
        order[k] = k;
    for (int k = n_pairs - 1; k > 0; k--) {
        int j = pick(&g, k + 1), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < n_pairs; k++)
        cdf[k] = total += pow(k + 1.0, -p->zipf);
    for (int64_t i = 0; i < s->n; i++) {
        video *v = &s->v[i];
        rng r = rng_make(seed, SET_PRETRAIN, (uint64_t)i);
        double u = unif(&r) * total;
        int k = 0, pair, verb, noun, tv, tn;
        while (k + 1 < n_pairs && cdf[k] <= u)
            k++;
        pair = order[k];
        verb = pair / N_SEEN;
        noun = pair % N_SEEN;
        plan_single(v, &r, p, verb, noun, 0, N_SEEN);
        /* what the uploader wrote: maybe about something else, in their own words */
        tv = unif(&r) < p->p_wrong ? (verb + 1 + pick(&r, V - 1)) % V : verb;
        tn = unif(&r) < p->p_wrong ? (noun + 1 + pick(&r, N_SEEN - 1)) % N_SEEN : noun;
        v->tags[0] = 0;
        if (unif(&r) >= p->p_missing) {
            double kind = unif(&r);
            /* at least one tag about the action: a combined one, a verb, a noun, or several */
            if (kind < 0.5)
                add_tag(v, verb_tags[tv][pick(&r, 3)], noun_tags[tn][pick(&r, 2)]);
            if (kind >= 0.3 || unif(&r) < 0.3)
                add_tag(v, verb_tags[tv][pick(&r, 3)], NULL);
            if (kind >= 0.5 || unif(&r) < 0.3)
                add_tag(v, noun_tags[tn][pick(&r, 2)], NULL);
        }
        for (int q = pick(&r, 3); q > 0; q--)
            add_tag(v, idle_tags[pick(&r, N_IDLE_TAGS)], NULL);
        if (!v->tags[0])
            add_tag(v, idle_tags[pick(&r, N_IDLE_TAGS)], NULL);
        v->label = -1;
    }
}

/* TARGET_K: `classes` (verb, noun) pairs, every verb in turn with a noun it has not had yet. */
static void choose_k_classes(set *s, uint64_t seed)
{
    const vida_synth_params *p = s->p;
    int V = p->verbs, used[N_VERBS][N_SEEN], vorder[N_VERBS];
    rng g = rng_make(seed, SET_TARGET_K, UINT64_MAX);
    memset(used, 0, sizeof used);
    for (int k = 0; k < V; k++)
        vorder[k] = k;
    for (int k = V - 1; k > 0; k--) {
        int j = pick(&g, k + 1), t = vorder[k];
        vorder[k] = vorder[j];
        vorder[j] = t;
    }
    s->n_classes = p->classes;
    for (int c = 0; c < p->classes; c++) {
        int verb = vorder[c % V], noun, left = 0;
        for (int q = 0; q < N_SEEN; q++)
            left += !used[verb][q];
        noun = pick(&g, left);
        for (int q = 0; q < N_SEEN; q++)
            if (!used[verb][q] && noun-- == 0) {
                noun = q;
                break;
            }
        used[verb][noun] = 1;
        s->class_verb[c] = verb;
        s->class_noun[c] = noun;
    }
}

/* Class-balanced target sets: video i is the (i / C)-th of class i % C. */
static void plan_target(set *s, uint64_t seed)
{
    const vida_synth_params *p = s->p;
    int C;
    if (s->kind == SET_TARGET_K)
        choose_k_classes(s, seed);
    else
        s->n_classes = s->kind == SET_TARGET_SS || s->kind == SET_TARGET_EPIC ? p->verbs : 0;
    C = s->n_classes;
    for (int64_t i = 0; i < s->n; i++) {
        video *v = &s->v[i];
        rng r = rng_make(seed, (uint64_t)s->kind, (uint64_t)i);
        int c = (int)(i % C), verb, noun;
        int64_t k = i / C, per = s->n / C + (c < s->n % C);
        if (s->kind == SET_TARGET_K) {
            verb = s->class_verb[c];
            noun = s->class_noun[c];
            plan_single(v, &r, p, verb, noun, 0, N_SEEN);
        } else if (s->kind == SET_TARGET_SS) {
            verb = c;
            noun = N_SEEN + pick(&r, N_NOUNS - N_SEEN);
            plan_single(v, &r, p, verb, noun, N_SEEN, N_NOUNS);
        } else {
            verb = c;
            noun = pick(&r, N_SEEN);
            plan_single(v, &r, p, verb, noun, 0, N_SEEN);
        }
        v->label = c;
        /* the last round(per * f) of each class are test videos */
        v->split = k >= per - (int64_t)floor(per * p->test_fraction + 0.5);
        v->tags[0] = 0;
    }
}

/* DEMO's long videos: five scenes of 3 to 5 s, each one action of a class of the target set. */
static void plan_long(set *s, const set *target, uint64_t seed)
{
    const vida_synth_params *p = s->p;
    int lo = target->kind == SET_TARGET_SS ? N_SEEN : 0, hi = target->kind == SET_TARGET_SS ? N_NOUNS : N_SEEN;
    for (int64_t i = 0; i < s->n; i++) {
        video *v = &s->v[i];
        rng r = rng_make(seed, SET_LONG, (uint64_t)i);
        double t = 0;
        v->n_scenes = 5;
        for (int q = 0; q < v->n_scenes; q++) {
            scene *sc = &v->sc[q];
            int c = pick(&r, target->n_classes);
            sc->t0 = t;
            t += range(&r, 3, 5);
            sc->t1 = t;
            if (target->kind == SET_TARGET_K) {
                sc->verb = target->class_verb[c];
                sc->noun = target->class_noun[c];
            } else {
                sc->verb = c;
                sc->noun = lo + pick(&r, hi - lo);
            }
            plan_scene(sc, &r, p, lo, hi);
        }
        v->n_frames = (int64_t)ceil(t * p->fps);
        v->seconds = (double)v->n_frames / p->fps;
        v->sc[v->n_scenes - 1].t1 = v->seconds;
        v->label = -1;
        v->split = 1;
        v->tags[0] = 0;
    }
}

/* ---- writing ------------------------------------------------------------------ */

static void encode_one(void *arg, int64_t i)
{
    set *s = arg;
    video *v = &s->v[i];
    render r;
    char path[4200];
    const char *used = NULL;
    int rc;
    if (__atomic_load_n(&s->failed, __ATOMIC_RELAXED))
        return; /* a video failed: the set will not be listed, the rest is wasted work */
    r.v = v;
    r.W = s->p->width;
    r.H = s->p->height;
    r.fps = s->p->fps;
    snprintf(path, sizeof path, "%s/%s", s->dir, v->rel);
    rc = vidai_video_write(path, r.W, r.H, r.fps, s->p->codec, v->n_frames, render_frame, &r, &used);
    if (rc != VIDA_OK) {
        pthread_mutex_lock(&s->lock);
        if (!s->failed || i < s->fail_index) {
            s->fail_index = i;
            s->fail_rc = rc;
            snprintf(s->fail_msg, sizeof s->fail_msg, "%s", vida_last_error());
        }
        __atomic_store_n(&s->failed, 1, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&s->lock);
    } else if (i == 0) {
        s->codec_used = used;
    }
}

/* mkdir -p: path and the folders above it that are missing. */
static int make_dir(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return vidai_error(VIDA_EINVAL, "%s: folder name too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            return vidai_error(VIDA_EIO, "%s: cannot create the folder %s: %s", path, buf, strerror(e));
        }
        buf[i] = i < n ? '/' : 0;
    }
    return VIDA_OK;
}

typedef struct text {
    char *buf;
    size_t len;
} text;

static int write_text(void *arg, FILE *f)
{
    const text *t = arg;
    if (fwrite(t->buf, 1, t->len, f) != t->len)
        return vidai_error(VIDA_EIO, "write: %s", strerror(errno));
    return VIDA_OK;
}

/* Writes the memstream's text to dir/name atomically; frees it. */
static int save(const char *dir, const char *name, FILE *mem, char **bufp, size_t *len)
{
    char *buf;
    char path[4096];
    text t;
    int rc;
    int bad = ferror(mem), closed = fclose(mem);
    buf = *bufp; /* set by the stream when it closes */
    if (bad || closed != 0) {
        free(buf);
        return vidai_error(VIDA_ENOMEM, "out of memory writing %s", name);
    }
    t.buf = buf;
    t.len = *len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rc = vidai_atomic_write(path, write_text, &t);
    free(buf);
    return rc;
}

#define OPEN_MEM(f, buf, len)                                                                   \
    do {                                                                                        \
        buf = NULL;                                                                             \
        len = 0;                                                                                \
        if (!(f = open_memstream(&buf, &len)))                                                  \
            return vidai_error(VIDA_ENOMEM, "out of memory");                                   \
    } while (0)

static const char *class_name(const set *s, int c, char *tmp, size_t n)
{
    if (s->kind == SET_TARGET_K) {
        snprintf(tmp, n, "%s %s", verb_names[s->class_verb[c]], noun_names[s->class_noun[c]]);
        return tmp;
    }
    return verb_names[c];
}

static void write_truth_line(FILE *f, const video *v, const char *split)
{
    fprintf(f, "{\"path\": ");
    vidai_json_write_string(f, v->rel);
    fprintf(f, ", \"duration\": %.3f, \"frames\": %lld, \"split\": \"%s\", \"scenes\": [", v->seconds,
            (long long)v->n_frames, split);
    for (int q = 0; q < v->n_scenes; q++) {
        const scene *sc = &v->sc[q];
        fprintf(f, "%s{\"start\": %.3f, \"end\": %.3f, \"verb\": \"%s\", \"noun\": \"%s\", "
                "\"colour\": \"%s\", \"texture\": \"%s\", \"action\": [%.3f, %.3f], "
                "\"distractors\": %d}",
                q ? ", " : "", sc->t0, sc->t1, verb_names[sc->verb], noun_names[sc->noun],
                colour_names[sc->colour], texture_names[sc->texture], sc->a0, sc->a1,
                sc->n_distractors);
    }
    fprintf(f, "], \"hashtags\": [");
    for (const char *t = v->tags; *t;) {
        const char *e = strchr(t, ',');
        size_t n = e ? (size_t)(e - t) : strlen(t);
        char one[128];
        snprintf(one, sizeof one, "%.*s", (int)n, t);
        fprintf(f, "%s", t == v->tags ? "" : ", ");
        vidai_json_write_string(f, one);
        t += n + (e != NULL);
    }
    fprintf(f, "]}\n");
}

/* The manifests, vocabulary, taxonomy and truth of a planned, encoded set. */
static int write_lists(const set *s)
{
    const vida_synth_params *p = s->p;
    FILE *f;
    char *buf, tmp[128];
    size_t len;
    int rc;
    /* truth.jsonl */
    OPEN_MEM(f, buf, len);
    for (int64_t i = 0; i < s->n; i++)
        write_truth_line(f, &s->v[i], s->kind == SET_PRETRAIN ? "train" : s->v[i].split ? "test" : "train");
    if ((rc = save(s->dir, "truth.jsonl", f, &buf, &len)) != VIDA_OK)
        return rc;
    if (s->kind == SET_LONG) {
        /* one line per video, its scenes' classes as labels, for reading the timeline against */
        OPEN_MEM(f, buf, len);
        for (int64_t i = 0; i < s->n; i++) {
            fprintf(f, "%s\t", s->v[i].rel);
            for (int q = 0; q < s->v[i].n_scenes; q++)
                fprintf(f, "%s%s", q ? "," : "", verb_names[s->v[i].sc[q].verb]);
            fprintf(f, "\t%.3f\n", s->v[i].seconds);
        }
        return save(s->dir, "long.tsv", f, &buf, &len);
    }
    if (s->kind == SET_PRETRAIN) {
        /* train.tsv: the hashtags */
        OPEN_MEM(f, buf, len);
        for (int64_t i = 0; i < s->n; i++)
            fprintf(f, "%s\t%s\t%.3f\n", s->v[i].rel, s->v[i].tags, s->v[i].seconds);
        if ((rc = save(s->dir, "train.tsv", f, &buf, &len)) != VIDA_OK)
            return rc;
        /* taxonomy.tsv: every hashtag about an action, to its verb, noun and target class */
        OPEN_MEM(f, buf, len);
        for (int a = 0; a < p->verbs; a++)
            for (int q = 0; q < 3; q++) {
                fprintf(f, "#%s\t%s\t\t\n", verb_tags[a][q], verb_names[a]);
                for (int b = 0; b < N_SEEN; b++)
                    for (int w = 0; w < 2; w++)
                        fprintf(f, "#%s%s\t%s\t%s\t%s %s\n", verb_tags[a][q], noun_tags[b][w],
                                verb_names[a], noun_names[b], verb_names[a], noun_names[b]);
            }
        for (int b = 0; b < N_SEEN; b++)
            for (int w = 0; w < 2; w++)
                fprintf(f, "#%s\t\t%s\t\n", noun_tags[b][w], noun_names[b]);
        if ((rc = save(s->dir, "taxonomy.tsv", f, &buf, &len)) != VIDA_OK)
            return rc;
        /* vocab.txt: every hashtag used, with how many videos carry it, most frequent first */
        {
            int64_t n_tags = 0, cap = 0;
            struct tc { char name[128]; int64_t n; } *tc = NULL;
            for (int64_t i = 0; i < s->n; i++)
                for (const char *t = s->v[i].tags; *t;) {
                    const char *e = strchr(t, ',');
                    size_t n = e ? (size_t)(e - t) : strlen(t);
                    int64_t k;
                    for (k = 0; k < n_tags; k++)
                        if (strlen(tc[k].name) == n && !memcmp(tc[k].name, t, n))
                            break;
                    if (k == n_tags) {
                        if (n_tags == cap) {
                            void *nt = realloc(tc, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *tc);
                            if (!nt) {
                                free(tc);
                                return vidai_error(VIDA_ENOMEM, "out of memory");
                            }
                            tc = nt;
                        }
                        snprintf(tc[k].name, sizeof tc[k].name, "%.*s", (int)n, t);
                        tc[k].n = 0;
                        n_tags++;
                    }
                    tc[k].n++;
                    t += n + (e != NULL);
                }
            for (int64_t a = 1; a < n_tags; a++) /* insertion sort: count down, then name */
                for (int64_t b = a; b > 0 && (tc[b].n > tc[b - 1].n ||
                                              (tc[b].n == tc[b - 1].n &&
                                               strcmp(tc[b].name, tc[b - 1].name) < 0)); b--) {
                    struct tc t = tc[b];
                    tc[b] = tc[b - 1];
                    tc[b - 1] = t;
                }
            f = open_memstream(&buf, &len);
            if (!f) {
                free(tc);
                return vidai_error(VIDA_ENOMEM, "out of memory");
            }
            for (int64_t k = 0; k < n_tags; k++)
                fprintf(f, "%s\t%lld\n", tc[k].name, (long long)tc[k].n);
            free(tc);
            return save(s->dir, "vocab.txt", f, &buf, &len);
        }
    }
    /* target sets: class names, then train/test manifests */
    OPEN_MEM(f, buf, len);
    if (s->kind == SET_TARGET_EPIC) {
        for (int c = 0; c < p->verbs; c++)
            fprintf(f, "verb\t%s\n", verb_names[c]);
        for (int c = 0; c < N_SEEN; c++)
            fprintf(f, "noun\t%s\n", noun_names[c]);
    } else {
        for (int c = 0; c < s->n_classes; c++)
            fprintf(f, "%s\n", class_name(s, c, tmp, sizeof tmp));
    }
    if ((rc = save(s->dir, "vocab.txt", f, &buf, &len)) != VIDA_OK)
        return rc;
    for (int task = 0; task < (s->kind == SET_TARGET_EPIC ? 2 : 1); task++)
        for (int split = 0; split < 2; split++) {
            char name[64];
            OPEN_MEM(f, buf, len);
            for (int64_t i = 0; i < s->n; i++) {
                const video *v = &s->v[i];
                const char *label = s->kind == SET_TARGET_EPIC
                                        ? (task ? noun_names[v->sc[0].noun] : verb_names[v->sc[0].verb])
                                        : class_name(s, v->label, tmp, sizeof tmp);
                if (v->split == split)
                    fprintf(f, "%s\t%s\t%.3f\n", v->rel, label, v->seconds);
            }
            snprintf(name, sizeof name, "%s%s.tsv",
                     s->kind != SET_TARGET_EPIC ? "" : task ? "noun-" : "verb-",
                     split ? "test" : "train");
            if ((rc = save(s->dir, name, f, &buf, &len)) != VIDA_OK)
                return rc;
        }
    return VIDA_OK;
}

/* Every list a set may have; removed before its videos are written. */
static const char *const list_files[] = {"truth.jsonl", "train.tsv", "test.tsv", "taxonomy.tsv",
                                         "vocab.txt", "long.tsv", "verb-train.tsv", "verb-test.tsv",
                                         "noun-train.tsv", "noun-test.tsv", NULL};

/* Plans, encodes and lists one set into dir. target: the TARGET_K set (SET_LONG only). */
static int make_set(vida_context *ctx, set *s, const char *dir, int kind, int64_t n,
                    const vida_synth_params *p, const set *target)
{
    char path[4200];
    int rc;
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->dir = dir;
    s->n = n;
    s->p = p;
    if ((rc = make_dir(dir)) != VIDA_OK)
        return rc;
    snprintf(path, sizeof path, "%s/videos", dir);
    if ((rc = make_dir(path)) != VIDA_OK)
        return rc;
    /* what lists the videos goes first: a run that fails or is stopped half-way must not leave
       the old lists naming videos that are being replaced */
    for (const char *const *name = list_files; *name; name++) {
        snprintf(path, sizeof path, "%s/%s", dir, *name);
        if (unlink(path) != 0 && errno != ENOENT)
            return vidai_error(VIDA_EIO, "%s: cannot remove the old list: %s", path, strerror(errno));
    }
    s->v = vidai_calloc((size_t)n, sizeof *s->v);
    s->scenes = vidai_calloc((size_t)n * (kind == SET_LONG ? MAX_SCENES : 1), sizeof *s->scenes);
    if (!s->v || !s->scenes)
        return VIDA_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        s->v[i].sc = s->scenes + i * (kind == SET_LONG ? MAX_SCENES : 1);
    if (kind == SET_PRETRAIN)
        plan_pretrain(s, p->seed);
    else if (kind == SET_LONG)
        plan_long(s, target, p->seed);
    else
        plan_target(s, p->seed);
    for (int64_t i = 0; i < n; i++) {
        s->v[i].index = i;
        snprintf(s->v[i].rel, sizeof s->v[i].rel, "videos/%06lld.mp4", (long long)i);
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0)
        return vidai_error(VIDA_ENOMEM, "vida_synth_generate: cannot make a mutex");
    vidai_pool_run(ctx->pool, n, encode_one, s);
    pthread_mutex_destroy(&s->lock);
    if (s->failed)
        return vidai_error(s->fail_rc, "%s", s->fail_msg);
    rc = write_lists(s);
    if (rc == VIDA_OK)
        vidai_log(ctx, VIDA_LOG_INFO, "synth: %lld videos (%s) in %s", (long long)n,
                  s->codec_used ? s->codec_used : "?", dir);
    return rc;
}

static void set_free(set *s)
{
    vidai_free(s->v);
    vidai_free(s->scenes);
    s->v = NULL;
    s->scenes = NULL;
}

void vida_synth_params_init(vida_synth_params *p, int preset)
{
    if (!p)
        return;
    memset(p, 0, sizeof *p);
    p->size = sizeof *p;
    p->preset = preset >= VIDA_SYNTH_PRETRAIN && preset <= VIDA_SYNTH_DEMO ? preset : 0;
    p->seed = 1;
    p->width = 80;
    p->height = 64;
    p->fps = 10;
    p->min_seconds = 2;
    p->max_seconds = 4;
    p->action_min_seconds = 1.5;
    p->action_max_seconds = 2.5;
    p->classes = 24;
    p->test_fraction = 0.4;
    p->zipf = 1.0;
    p->p_missing = 0.1;
    p->p_wrong = 0.1;
    p->max_distractors = 2;
    p->verbs = N_VERBS;
    p->codec = VIDA_SYNTH_CODEC_AUTO;
    switch (p->preset) {
    case VIDA_SYNTH_PRETRAIN: p->videos = 2000; break;
    case VIDA_SYNTH_TARGET_K: p->videos = 24 * 25; break;
    case VIDA_SYNTH_TARGET_SS: p->videos = 12 * 25; break;
    case VIDA_SYNTH_TARGET_EPIC: p->videos = 400; break;
    case VIDA_SYNTH_DEMO:
        /* small enough for `vidaction demo` to pre-train on it in two minutes on two cores */
        p->videos = 900;
        p->verbs = 8;
        p->max_seconds = 3;
        break;
    default: break;
    }
}

static int check_params(const vida_synth_params *p)
{
    const char *bad = NULL;
    if (p->preset < VIDA_SYNTH_PRETRAIN || p->preset > VIDA_SYNTH_DEMO) bad = "preset";
    else if (p->videos < 1 || p->videos > 1000000) bad = "videos (1..10^6)";
    else if (p->width < 32 || p->height < 32 || p->width > 1920 || p->height > 1920 ||
             ((p->width | p->height) & 1)) bad = "width/height (even, 32..1920)";
    else if (p->fps < 1 || p->fps > 120) bad = "fps (1..120)";
    else if (!(p->min_seconds >= 0.5) || !(p->max_seconds >= p->min_seconds) || p->max_seconds > 600)
        bad = "min_seconds/max_seconds (0.5 <= min <= max <= 600)";
    else if (!(p->action_min_seconds > 0) || !(p->action_max_seconds >= p->action_min_seconds) ||
             p->action_max_seconds > 600) bad = "action_min_seconds/action_max_seconds (0 < min <= max)";
    else if (p->verbs < 2 || p->verbs > N_VERBS) bad = "verbs (2..12)";
    else if (p->preset == VIDA_SYNTH_TARGET_K && (p->classes < 2 || p->classes > p->verbs * N_SEEN))
        bad = "classes (2..verbs x 8)";
    else if (!(p->test_fraction >= 0) || !(p->test_fraction < 1)) bad = "test_fraction ([0, 1))";
    else if (!(p->zipf >= 0) || p->zipf > 10) bad = "zipf (0..10)";
    else if (!(p->p_missing >= 0 && p->p_missing <= 1) || !(p->p_wrong >= 0 && p->p_wrong <= 1))
        bad = "p_missing/p_wrong ([0, 1])";
    else if (p->max_distractors < 0 || p->max_distractors > MAX_DISTRACTORS) bad = "max_distractors (0..8)";
    else if (p->codec < VIDA_SYNTH_CODEC_AUTO || p->codec > VIDA_SYNTH_CODEC_MPEG4) bad = "codec";
    if (bad)
        return vidai_error(VIDA_EINVAL, "vida_synth_generate: bad %s", bad);
    if (p->preset == VIDA_SYNTH_TARGET_K && p->videos < p->classes)
        return vidai_error(VIDA_EINVAL, "vida_synth_generate: %lld videos for %d classes",
                           (long long)p->videos, p->classes);
    if ((p->preset == VIDA_SYNTH_TARGET_SS || p->preset == VIDA_SYNTH_TARGET_EPIC) &&
        p->videos < p->verbs)
        return vidai_error(VIDA_EINVAL, "vida_synth_generate: %lld videos for %d verb classes",
                           (long long)p->videos, p->verbs);
    if (p->preset != VIDA_SYNTH_PRETRAIN) {
        /* every class needs a video to train on, and one to test on when there is a test split;
           the smallest class has floor(videos / classes) (DEMO's target set: 12) */
        int64_t C = p->preset == VIDA_SYNTH_TARGET_K ? p->classes : p->verbs;
        int64_t per = p->preset == VIDA_SYNTH_DEMO ? 12 : p->videos / C;
        double f = p->preset == VIDA_SYNTH_DEMO ? 7.0 / 12.0 : p->test_fraction;
        int64_t test = (int64_t)floor((double)per * f + 0.5);
        if (per - test < 1 || (f > 0 && test < 1))
            return vidai_error(VIDA_EINVAL, "vida_synth_generate: %lld videos for %lld classes give a "
                               "class %lld to train on and %lld to test on (test_fraction %g): give "
                               "more videos", (long long)p->videos, (long long)C,
                               (long long)(per - test), (long long)test, f);
    }
    if (!vidai_video_can_write(p->codec))
        return vidai_error(VIDA_EUNSUPPORTED, "vida_synth_generate: this libavcodec has no %s encoder",
                           p->codec == VIDA_SYNTH_CODEC_H264    ? "H.264 (libx264)"
                           : p->codec == VIDA_SYNTH_CODEC_MPEG4 ? "MPEG-4"
                                                                : "H.264 or MPEG-4");
    return VIDA_OK;
}

int vida_synth_generate(vida_context *ctx, const char *dir, const vida_synth_params *p)
{
    vida_synth_params q;
    set s, t, l;
    char sub[4096];
    int rc;
    if (!ctx || !dir || !*dir || !p)
        return vidai_error(VIDA_EINVAL, "vida_synth_generate: ctx, dir and params must be given");
    if (p->size != sizeof q)
        return vidai_error(VIDA_EINVAL, "vida_synth_generate: params.size %zu (expected %zu: fill the "
                           "params with vida_synth_params_init)", p->size, sizeof q);
    q = *p;
    if ((rc = check_params(&q)) != VIDA_OK)
        return rc;
    if (strlen(dir) > 3000)
        return vidai_error(VIDA_EINVAL, "vida_synth_generate: folder name too long");
    if ((rc = make_dir(dir)) != VIDA_OK)
        return rc;
    memset(&s, 0, sizeof s);
    memset(&t, 0, sizeof t);
    memset(&l, 0, sizeof l);
    switch (q.preset) {
    case VIDA_SYNTH_PRETRAIN: rc = make_set(ctx, &s, dir, SET_PRETRAIN, q.videos, &q, NULL); break;
    case VIDA_SYNTH_TARGET_K: rc = make_set(ctx, &s, dir, SET_TARGET_K, q.videos, &q, NULL); break;
    case VIDA_SYNTH_TARGET_SS: rc = make_set(ctx, &s, dir, SET_TARGET_SS, q.videos, &q, NULL); break;
    case VIDA_SYNTH_TARGET_EPIC: rc = make_set(ctx, &s, dir, SET_TARGET_EPIC, q.videos, &q, NULL); break;
    default: {
        /* DEMO: the pre-training set; a TARGET_SS set of 12 videos per verb (5 to train on, 7 to
           test), the verbs on shapes pre-training never shows; 2 long videos of its classes */
        vida_synth_params tq = q;
        tq.test_fraction = 7.0 / 12.0;
        snprintf(sub, sizeof sub, "%s/pretrain", dir);
        rc = make_set(ctx, &s, sub, SET_PRETRAIN, q.videos, &q, NULL);
        if (rc == VIDA_OK) {
            snprintf(sub, sizeof sub, "%s/target", dir);
            rc = make_set(ctx, &t, sub, SET_TARGET_SS, (int64_t)q.verbs * 12, &tq, NULL);
        }
        if (rc == VIDA_OK) {
            snprintf(sub, sizeof sub, "%s/long", dir);
            rc = make_set(ctx, &l, sub, SET_LONG, 2, &q, &t);
        }
        break;
    }
    }
    set_free(&s);
    set_free(&t);
    set_free(&l);
    return rc;
}

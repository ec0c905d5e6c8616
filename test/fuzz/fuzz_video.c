/*
 * libFuzzer target: open a video from bytes, read its facts, decode a clip
 * with a fuzzed geometry, and sample clips -- what a loader does with a file
 * from the web. The input is the file's bytes followed by an 8-byte
 * parameter block (as FFmpeg's target_dec_fuzzer fuzzes its context too):
 *
 *   [0] frames 1..16   [1] stride 1..8   [2] short side (0 = native, else 8..71)
 *   [3] crop (0 = none, else up to the short side)   [4..5] start frame
 *   [6] bit 0 flip, bit 1 start by time, bit 2 F32 output, bit 3 three crops
 *   [7] sampler clip mode (mod 5) and clips (>> 3, mod 4, + 1)
 *
 * Limits keep each run small: 1 M pixels per frame, 600 decoded frames per
 * read, a 5 s deadline. Anything but a crash, leak, sanitizer report or
 * timeout is fine; errors must leave a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vidaction.h>

static char path[256];

static void check_message(int rc)
{
    if (rc != VIDA_OK && vida_last_error()[0] == 0) {
        fprintf(stderr, "status %d without a message\n", rc);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    const uint8_t *q = data + size - 8;
    size -= 8;
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/vida-fuzz-%d.bin", dir && *dir ? dir : "/tmp", (int)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);

    vida_video_params vp;
    vida_video_params_init(&vp);
    vp.max_pixels = 1 << 20;
    vp.max_decode_frames = 600;
    vp.deadline = 5;
    vida_video *v = NULL;
    int rc = vida_video_open(&v, NULL, path, &vp);
    check_message(rc);
    if (rc != VIDA_OK)
        return 0;
    vida_video_info in = {.size = sizeof in};
    if (vida_video_get_info(v, &in) != VIDA_OK || in.n_frames < 1)
        abort();

    /* one clip through vida_video_read */
    int frames = 1 + q[0] % 16, stride = 1 + q[1] % 8;
    vida_frame_geometry g;
    vida_frame_geometry_init(&g);
    g.short_side = q[2] % 2 ? 8 + q[2] % 64 : 0;
    g.crop_width = g.crop_height = q[3] % 2 ? q[3] % (g.short_side ? g.short_side : 64) : 0;
    g.flip = q[6] & 1;
    int64_t start = (q[4] | q[5] << 8) % in.n_frames;
    if (q[6] & 2) {
        double t = (q[4] | q[5] << 8) / 256.0;
        rc = vida_video_frame_at(v, t, &start);
        check_message(rc);
    }
    int64_t idx[16];
    for (int i = 0; i < frames; i++)
        idx[i] = (start + (int64_t)i * stride) % in.n_frames;
    int w = 0, h = 0;
    rc = vida_video_output_size(v, &g, &w, &h);
    check_message(rc);
    if (rc == VIDA_OK) {
        size_t bytes = (size_t)frames * w * h * 3;
        uint8_t *out = malloc(bytes);
        if (out) {
            rc = vida_video_read(v, idx, frames, &g, out, bytes);
            check_message(rc);
            free(out);
        }
    }

    /* clips through the sampler */
    vida_sampler_params sp;
    vida_sampler_params_init(&sp);
    sp.frames = frames;
    sp.stride = stride;
    sp.clip_mode = q[7] % 5;
    sp.clips = 1 + (q[7] >> 3) % 4;
    sp.start_frame = start;
    sp.short_side_min = sp.short_side_max = 16;
    sp.crop = 16;
    sp.crop_mode = q[6] & 8 ? VIDA_CROP_THREE : VIDA_CROP_RANDOM;
    sp.flip = q[6] & 1;
    sp.output = q[6] & 4 ? VIDA_SAMPLE_F32 : VIDA_SAMPLE_U8;
    vida_sampler *s = NULL;
    rc = vida_sampler_create(&s, NULL, &sp);
    check_message(rc);
    if (rc == VIDA_OK) {
        int64_t nv = 0, shape[5];
        rc = vida_sampler_plan(s, v, &nv, shape);
        check_message(rc);
        if (rc == VIDA_OK && nv > 0 && nv <= 64) {
            size_t n = (size_t)(shape[0] * shape[1] * shape[2] * shape[3] * shape[4]);
            size_t bytes = n * (sp.output == VIDA_SAMPLE_F32 ? 4 : 1);
            void *out = malloc(bytes);
            int64_t *ind = malloc((size_t)nv * frames * sizeof *ind);
            if (out && ind) {
                rc = vida_sampler_sample(s, v, q[0] | (uint64_t)q[7] << 8, out, bytes, ind,
                                         (size_t)nv * frames);
                check_message(rc);
            }
            free(out);
            free(ind);
        }
        vida_sampler_free(s);
    }
    vida_video_free(v);
    return 0;
}

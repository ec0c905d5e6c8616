/*
 * libFuzzer target: a manifest (and a taxonomy) from bytes -- what
 * vida_dataset_open does with a hostile or broken list of videos. The input
 * is two parameter bytes, then the manifest's text, optionally followed by
 * "\n%%\n" and a taxonomy's text:
 *
 *   [0] bits 0-1 label space, bits 2-3 resample, bits 4-5 target, bit 6 strict,
 *       bit 7 a fixed class list {"a", "dice", "#Roll"}
 *   [1] clips per video (mod 8, + 1), bits 3-7 min_count (mod 4, + 1)
 *
 * Files are not checked and durations not probed (no video is opened), so
 * a run stays in the parsers, the label spaces, the budget and the draws.
 * Anything but a crash, leak, sanitizer report or timeout is fine; errors
 * must leave a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vidaction.h>

static char mpath[256], tpath[256];

static void check_message(int rc)
{
    if (rc != VIDA_OK && vida_last_error()[0] == 0) {
        fprintf(stderr, "status %d without a message\n", rc);
        abort();
    }
}

static int write_file(const char *p, const uint8_t *data, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    fwrite(data, 1, n, f);
    return fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const classes[] = {"a", "dice", "#Roll"};
    vida_dataset_params dp;
    vida_dataset *ds = NULL;
    const uint8_t *text, *sep = NULL;
    size_t n;
    int rc;
    if (size < 3)
        return 0;
    if (!mpath[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(mpath, sizeof mpath, "%s/vida-fuzz-m-%d.tsv", dir && *dir ? dir : "/tmp", (int)getpid());
        snprintf(tpath, sizeof tpath, "%s/vida-fuzz-t-%d.tsv", dir && *dir ? dir : "/tmp", (int)getpid());
    }
    text = data + 2;
    n = size - 2;
    for (size_t i = 0; i + 4 <= n; i++)
        if (!memcmp(text + i, "\n%%\n", 4)) {
            sep = text + i;
            break;
        }
    if (write_file(mpath, text, sep ? (size_t)(sep - text) : n))
        return 0;
    vida_dataset_params_init(&dp);
    dp.check_files = 0;
    dp.probe_durations = 0;
    dp.label_space = data[0] & 3;
    dp.resample = (data[0] >> 2) & 3;
    dp.target = ((data[0] >> 4) & 3) % 3;
    dp.strict = (data[0] >> 6) & 1;
    if (data[0] & 0x80) {
        dp.classes = classes;
        dp.n_classes = 3;
    }
    dp.clips_per_video = (data[1] & 7) + 1;
    dp.min_count = ((data[1] >> 3) & 3) + 1;
    dp.draws = 64;
    dp.max_videos = (data[1] >> 5) & 3 ? (data[1] >> 5) & 3 : 0;
    if (sep) {
        if (write_file(tpath, sep + 4, n - (size_t)(sep - text) - 4))
            return 0;
        dp.taxonomy = tpath;
    }
    rc = vida_dataset_open(&ds, NULL, mpath, &dp);
    check_message(rc);
    if (rc == VIDA_OK) {
        int64_t classes_n = vida_dataset_n_classes(ds);
        float *row = malloc(((size_t)classes_n + 1) * sizeof *row);
        vida_dataset_stats st;
        st.size = sizeof st;
        if (vida_dataset_get_stats(ds, &st) != VIDA_OK)
            abort();
        for (int64_t c = 0; c < classes_n; c++)
            if (!vida_dataset_label_name(ds, c) || vida_dataset_label_videos(ds, c) < 0)
                abort();
        for (int64_t i = 0; i < vida_dataset_n_problems(ds); i++)
            if (!vida_dataset_problem(ds, i))
                abort();
        for (int64_t i = 0; i < 64 && i < vida_dataset_epoch_size(ds); i++) {
            vida_dataset_sample s;
            vida_dataset_video v;
            s.size = sizeof s;
            v.size = sizeof v;
            if (vida_dataset_draw(ds, 1, (uint64_t)i % 3, i, &s) != VIDA_OK ||
                vida_dataset_get_video(ds, s.video, &v) != VIDA_OK || !row ||
                vida_dataset_target(ds, &s, row, (size_t)classes_n) != VIDA_OK)
                abort();
            if (s.label < 0 || s.label >= classes_n || s.slot < 0 || s.slot >= dp.clips_per_video)
                abort();
        }
        free(row);
        vida_dataset_free(ds);
    }
    return 0;
}

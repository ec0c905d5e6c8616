/*
 * vt_frames: writes numbered test frames (framecode.h) as raw rgb24 to stdout,
 * for piping into the ffmpeg program:
 *
 *   vt_frames W H N [FIRST] | ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -r 25 -i - ...
 */
#include <stdio.h>
#include <stdlib.h>

#include "framecode.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vt_frames W H N [FIRST]\n");
        return 2;
    }
    int w = atoi(argv[1]), h = atoi(argv[2]), n = atoi(argv[3]);
    int first = argc > 4 ? atoi(argv[4]) : 0;
    if (w < 16 || h < 16 || w > 8192 || h > 8192 || n < 0 || first < 0 || first + n > VT_CODE_MAX + 1) {
        fprintf(stderr, "vt_frames: bad arguments\n");
        return 2;
    }
    uint8_t *rgb = malloc((size_t)w * h * 3);
    if (!rgb)
        return 1;
    for (int i = 0; i < n; i++) {
        vt_frame_paint(rgb, w, h, first + i);
        if (fwrite(rgb, (size_t)w * h * 3, 1, stdout) != 1) {
            free(rgb);
            return 1;
        }
    }
    free(rgb);
    return 0;
}

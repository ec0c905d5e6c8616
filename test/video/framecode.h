/*
 * Test frames whose content encodes their frame number, robustly under lossy
 * compression, scaling (to about 1/4 of the size), centre crops that keep the
 * middle half of the frame, rotation and mirroring.
 *
 * The number n (0..16383), a 5-bit check and orientation markers fill a 5x5
 * grid of black/white cells in a square in the middle of the frame (side = half the
 * shorter side). Outside the square the frame is a moving colour gradient, so
 * that encoders do real motion work. Header-only; used by the test programs
 * and by vt_frames (which writes such frames for the ffmpeg program).
 */
#ifndef VT_FRAMECODE_H
#define VT_FRAMECODE_H

#include <stdint.h>
#include <stdlib.h>

#define VT_CODE_GRID 5
#define VT_CODE_MAX 16383

static inline uint32_t vt_code_check(uint32_t n)
{
    uint32_t h = (n + 1) * 0x9E3779B1u;
    h ^= h >> 15;
    h *= 0x85EBCA77u;
    h ^= h >> 13;
    return h & 0x1Fu;
}

/*
 * Fixed marker cells make the orientation unique: (0,0) and (0,1) white,
 * (1,0) and the other three corners black. The other 19 cells, in row-major
 * order, carry 14 bits of n and a 5-bit check.
 */
static inline int vt_code_marker(int cy, int cx)
{
    int g = VT_CODE_GRID - 1;
    if (cy == 0 && (cx == 0 || cx == 1))
        return 1;
    if ((cy == 1 && cx == 0) || (cy == 0 && cx == g) || (cy == g && (cx == 0 || cx == g)))
        return 0;
    return -1;
}

/* The 25 cells of frame n: bit (cy * 5 + cx). */
static inline uint32_t vt_code_bits(uint32_t n)
{
    uint32_t data = (n & 0x3FFFu) | (vt_code_check(n & 0x3FFFu) << 14), bits = 0;
    int k = 0;
    for (int cy = 0; cy < VT_CODE_GRID; cy++)
        for (int cx = 0; cx < VT_CODE_GRID; cx++) {
            int m = vt_code_marker(cy, cx);
            uint32_t b = m >= 0 ? (uint32_t)m : (data >> k++) & 1u;
            bits |= b << (cy * VT_CODE_GRID + cx);
        }
    return bits;
}

/* The code square of a w x h frame: top-left (*x0, *y0) and side *side. */
static inline void vt_code_square(int w, int h, int *x0, int *y0, int *side)
{
    int s = (w < h ? w : h) / 2;
    s -= s % VT_CODE_GRID;
    *side = s;
    *x0 = (w - s) / 2;
    *y0 = (h - s) / 2;
}

/* Paints frame n into rgb (w*h*3 bytes, rows packed). */
static inline void vt_frame_paint(uint8_t *rgb, int w, int h, int n)
{
    int x0, y0, s;
    uint32_t bits = vt_code_bits((uint32_t)n);
    vt_code_square(w, h, &x0, &y0, &s);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = rgb + ((size_t)y * w + x) * 3;
            if (x >= x0 && x < x0 + s && y >= y0 && y < y0 + s) {
                int cy = (y - y0) * VT_CODE_GRID / s, cx = (x - x0) * VT_CODE_GRID / s;
                uint8_t v = ((bits >> (cy * VT_CODE_GRID + cx)) & 1) ? 235 : 16;
                p[0] = p[1] = p[2] = v;
            } else {
                p[0] = (uint8_t)(x * 2 + n * 3);
                p[1] = (uint8_t)(y * 2 + n * 5);
                p[2] = (uint8_t)(96 + ((x + y + n * 7) & 63));
            }
        }
    }
}

/*
 * Reads the frame number of an RGB frame (row stride w*3). orient selects
 * which of the 8 orientations the code is read in: bits 0-1 = quarter turns
 * clockwise that the frame shows relative to the painted one, bit 2 = the
 * frame is mirrored (after the turn). Returns n, or -1 when the check fails.
 */
static inline int vt_frame_read_oriented(const uint8_t *rgb, int w, int h, int orient)
{
    int x0, y0, s;
    uint32_t bits = 0;
    vt_code_square(w, h, &x0, &y0, &s);
    if (s < VT_CODE_GRID * 2)
        return -1;
    for (int cy = 0; cy < VT_CODE_GRID; cy++) {
        for (int cx = 0; cx < VT_CODE_GRID; cx++) {
            /* the middle half of the cell */
            int ax = x0 + (cx * s + s / 4 / VT_CODE_GRID) / VT_CODE_GRID;
            int ay = y0 + (cy * s + s / 4 / VT_CODE_GRID) / VT_CODE_GRID;
            int bx = x0 + ((cx + 1) * s - s / 4 / VT_CODE_GRID) / VT_CODE_GRID;
            int by = y0 + ((cy + 1) * s - s / 4 / VT_CODE_GRID) / VT_CODE_GRID;
            long sum = 0, cnt = 0;
            for (int y = ay + (by - ay) / 4; y < by - (by - ay) / 4; y++)
                for (int x = ax + (bx - ax) / 4; x < bx - (bx - ax) / 4; x++) {
                    const uint8_t *p = rgb + ((size_t)y * w + x) * 3;
                    sum += p[0] + p[1] + p[2];
                    cnt += 3;
                }
            if (cnt == 0)
                return -1;
            /* The cell seen at (cy, cx) shows painted cell (py, px). */
            int g = VT_CODE_GRID - 1, ry = cy, rx = cx;
            if (orient & 4)
                rx = g - rx;
            int py = ry, px = rx;
            switch (orient & 3) {
            case 1: py = g - rx; px = ry; break;     /* shown turned 90 cw */
            case 2: py = g - ry; px = g - rx; break; /* 180 */
            case 3: py = rx; px = g - ry; break;     /* 270 cw */
            default: break;
            }
            if (sum / cnt > 125)
                bits |= 1u << (py * VT_CODE_GRID + px);
        }
    }
    uint32_t data = 0;
    int k = 0;
    for (int cy = 0; cy < VT_CODE_GRID; cy++)
        for (int cx = 0; cx < VT_CODE_GRID; cx++) {
            int m = vt_code_marker(cy, cx);
            uint32_t b = (bits >> (cy * VT_CODE_GRID + cx)) & 1u;
            if (m >= 0 && (int)b != m)
                return -1;
            if (m < 0)
                data |= b << k++;
        }
    uint32_t n = data & 0x3FFFu;
    return vt_code_check(n) == (data >> 14) ? (int)n : -1;
}

static inline int vt_frame_read(const uint8_t *rgb, int w, int h)
{
    return vt_frame_read_oriented(rgb, w, h, 0);
}

/* Finds the orientation in which the frame reads; returns it (0..7) or -1. */
static inline int vt_frame_orientation(const uint8_t *rgb, int w, int h, int *n)
{
    for (int o = 0; o < 8; o++) {
        int v = vt_frame_read_oriented(rgb, w, h, o);
        if (v >= 0) {
            if (n)
                *n = v;
            return o;
        }
    }
    return -1;
}

#endif

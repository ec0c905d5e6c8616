/*
 * Counter-based random numbers: value = mix(key, counter), with the SplitMix64
 * finaliser (Steele, Lea, Flood 2014) as the mixing function. No state, so
 * results do not depend on thread scheduling or call order.
 */
#include <math.h>

#include "core/core.h"

uint64_t vidai_hash64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t vidai_rng_u64(uint64_t key, uint64_t counter)
{
    return vidai_hash64(vidai_hash64(key) ^ (counter * 0xd1b54a32d192ed03ull));
}

float vidai_rng_uniform(uint64_t key, uint64_t counter)
{
    return (float)(vidai_rng_u64(key, counter) >> 40) * (1.0f / 16777216.0f);
}

void vidai_rng_normal2(uint64_t key, uint64_t counter, float *a, float *b)
{
    /* u1 in (0, 1] so the log is finite. */
    double u1 = ((double)(vidai_rng_u64(key, 2 * counter) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(vidai_rng_u64(key, 2 * counter + 1) >> 11) * (1.0 / 9007199254740992.0);
    double r = sqrt(-2.0 * log(u1));
    *a = (float)(r * cos(6.283185307179586 * u2));
    *b = (float)(r * sin(6.283185307179586 * u2));
}

float vidai_rng_normal(uint64_t key, uint64_t counter)
{
    float a, b;
    vidai_rng_normal2(key, counter, &a, &b);
    return a;
}

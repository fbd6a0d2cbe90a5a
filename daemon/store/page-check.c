/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * page-check.c: zero pages and pages not worth compressing (page-check.h).
 * Owns the entropy table, built once per process.
 */
#include "page-check.h"

#include <pthread.h>
#include <string.h>

#include "macro.h"

/* Estimated entropy (bits per byte, from a sample) above which no codec is
 * even tried: such pages do not shrink and compressing them costs more than
 * hashing them. Random data estimates ~7.6 here (512 samples). */
#define ENTROPY_RAW_THRESHOLD 7.2

bool page_is_zero(const uint8_t *p)
{
        uint64_t acc = 0, w;

        memcpy(&w, p, sizeof(w));
        if (w)
                return false;
        for (size_t i = 0; i < PAGE; i += sizeof(w)) {
                memcpy(&w, p + i, sizeof(w));
                acc |= w;
        }
        return acc == 0;
}

static float entropy_table[513]; /* c * log2(c) */
static pthread_once_t entropy_once = PTHREAD_ONCE_INIT;

/* log2 without libm (the table is built once): exponent, then the mantissa
 * m in [1, 2) through ln(m) = 2 atanh((m - 1) / (m + 1)). */
static double log2_small(double x)
{
        double z, z2, sum = 0, term;
        int e = 0;

        while (x >= 2.0) {
                x /= 2.0;
                e++;
        }
        z = (x - 1.0) / (x + 1.0);
        z2 = z * z;
        term = z;
        for (int k = 1; k < 40; k += 2) {
                sum += term / k;
                term *= z2;
        }
        return e + 2.0 * sum / 0.69314718055994530942;
}

static void entropy_init(void)
{
        for (unsigned c = 1; c < ELEMENTSOF(entropy_table); c++)
                entropy_table[c] = (float)(c * log2_small(c));
}

void page_check_init(void)
{
        pthread_once(&entropy_once, entropy_init);
}

/* Sample 8 consecutive bytes every 64 (512 bytes): whole 64-bit words, so
 * arrays of small integers or pointers show their zero high bytes. Two
 * histograms halve the store-to-load dependencies on repeated bytes. */
bool page_looks_incompressible(const uint8_t *p)
{
        uint16_t h0[256] = {}, h1[256] = {};
        float sum = 0;

        for (size_t i = 0; i < PAGE; i += 64) {
                h0[p[i]]++;
                h1[p[i + 1]]++;
                h0[p[i + 2]]++;
                h1[p[i + 3]]++;
                h0[p[i + 4]]++;
                h1[p[i + 5]]++;
                h0[p[i + 6]]++;
                h1[p[i + 7]]++;
        }
        for (size_t b = 0; b < 256; b++)
                sum += entropy_table[h0[b] + h1[b]];
        return 9.0f - sum / 512.0f > ENTROPY_RAW_THRESHOLD;
}

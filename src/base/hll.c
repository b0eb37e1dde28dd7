/*
 * hll.c -- HyperLogLog (see hll.h): the register of a hash is its top
 * HLL_P bits, its value the position of the first 1 in the rest (at most
 * HLL_Q + 1); the estimate is Ertl's improved raw estimator over the
 * histogram of register values, kept with the registers.  It must never
 * allocate.
 */
#include "autoconf.h"

#include <math.h>
#include <string.h>

#include "base/hll.h"

void
hll_clear(struct hll *h)
{
    memset(h, 0, sizeof(*h));
    h->hist[0] = HLL_M;
}

/* sigma(x) = x + sum_k x^(2^k) 2^(k-1): the share of empty registers. */
static double
hll_sigma(double x)
{
    double y = 1.0, z = x, prev;
    do {
        x *= x;
        prev = z;
        z += x * y;
        y += y;
    } while (z != prev);
    return z;
}

/* tau(x) = (1 - x - sum_k (1 - x^(2^-k))^2 2^-k) / 3: the share of
 * registers at the largest value. */
static double
hll_tau(double x)
{
    if (x == 0.0 || x == 1.0)
        return 0.0;
    double y = 1.0, z = 1.0 - x, prev;
    do {
        x = sqrt(x);
        prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != prev);
    return z / 3.0;
}

static uint64_t
hll_compute(const struct hll *h)
{
    const double m = (double)HLL_M;
    if (h->hist[0] == HLL_M)
        return 0;
    double z = m * hll_tau(1.0 - (double)h->hist[HLL_Q + 1] / m);
    for (int k = HLL_Q; k >= 1; k--)
        z = 0.5 * (z + (double)h->hist[k]);
    z += m * hll_sigma((double)h->hist[0] / m);
    return (uint64_t)(m * m / (2.0 * log(2.0)) / z + 0.5);
}

bool
hll_add(struct hll *h, uint64_t hash)
{
    uint32_t j = (uint32_t)(hash >> (64 - HLL_P));
    /* the rest, with a 1 below it so the value stops at HLL_Q + 1 */
    uint64_t w = (hash << HLL_P) | ((uint64_t)1 << (HLL_P - 1));
    uint8_t v = (uint8_t)(__builtin_clzll(w) + 1);
    uint8_t old = h->reg[j];
    if (v <= old)
        return false;
    h->reg[j] = v;
    h->hist[old]--;
    h->hist[v]++;
    h->estimate = hll_compute(h);
    return true;
}

void
hll_merge_registers(struct hll *h, const uint8_t reg[HLL_M])
{
    memset(h->hist, 0, sizeof(h->hist));
    for (uint32_t j = 0; j < HLL_M; j++) {
        uint8_t v = reg[j] > HLL_Q + 1 ? HLL_Q + 1 : reg[j];
        if (v > h->reg[j])
            h->reg[j] = v;
        h->hist[h->reg[j]]++;
    }
    h->estimate = hll_compute(h);
}

uint64_t
hll_estimate(const struct hll *h)
{
    return h->estimate;
}

double
hll_error(void)
{
    return 1.04 / sqrt((double)HLL_M);
}

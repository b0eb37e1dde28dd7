/*
 * hll.h -- HyperLogLog: how many distinct 64-bit hashes were added, in
 * about 1 KiB, within a few per cent.
 *
 * Owns 1,024 one-byte registers (precision 10: standard error
 * 1.04 / sqrt(1024) = 3.25 %), the histogram of their values, and the
 * estimate, recomputed only when a register changes (rarely, once warm),
 * so reading it costs nothing.  The estimator is Ertl's improved one
 * ("New cardinality estimation algorithms for HyperLogLog sketches",
 * 2017): unbiased from 0 to far beyond 2^32 without the bias tables or
 * the switch to linear counting of the original.  It knows nothing of
 * what the hashes are; it must never allocate.
 */
#ifndef TS_HLL_H
#define TS_HLL_H

#include <stdbool.h>
#include <stdint.h>

#define HLL_P 10
#define HLL_M (1u << HLL_P)
#define HLL_Q (64 - HLL_P)          /* register values: 0 .. HLL_Q + 1 */

struct hll {
    uint64_t estimate;              /* of the registers as they are */
    uint16_t hist[HLL_Q + 2];       /* registers of each value */
    uint8_t reg[HLL_M];
};

void hll_clear(struct hll *h);
/* Adds a (well mixed) hash: true when a register changed. */
bool hll_add(struct hll *h, uint64_t hash);
/* Takes registers from elsewhere (a snapshot): each register becomes the
 * larger of its own and reg's (values past HLL_Q + 1 taken as that); the
 * histogram and the estimate are recomputed. */
void hll_merge_registers(struct hll *h, const uint8_t reg[HLL_M]);
/* The estimated number of distinct hashes added. */
uint64_t hll_estimate(const struct hll *h);
/* The relative standard error of the estimate (0.0325). */
double hll_error(void);

#endif

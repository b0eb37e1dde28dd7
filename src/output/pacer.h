/*
 * pacer.h -- max-rate: the most points per second a backend is sent.
 *
 * Owns a token bucket refilled from the clock (a tenth of a second's
 * worth at most in hand, so a recovering TSD gets a steady rate, not a
 * burst).  The backend asks how many lines it may write now and reports
 * how many it wrote.  Rate 0 means unlimited.  It must never let a backend
 * go faster than its rate over any second.
 */
#ifndef TS_PACER_H
#define TS_PACER_H

#include <stdint.h>

struct pacer {
    uint64_t rate;          /* lines per second, 0 = unlimited */
    double tokens;
    uint64_t last_ns;
    uint64_t waits;         /* times writing stopped for the rate */
};

void pacer_init(struct pacer *p, uint64_t rate);
/* Lines that may be written now (UINT64_MAX when unlimited). */
uint64_t pacer_allow(struct pacer *p, uint64_t now_ns);
void pacer_take(struct pacer *p, uint64_t lines);

#endif

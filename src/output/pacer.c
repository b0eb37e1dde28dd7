/*
 * pacer.c -- max-rate: the most points per second a backend is sent.
 *
 * Tokens accrue at `rate` per second up to rate / 10 in hand.  It never
 * allocates.
 */
#include "autoconf.h"

#include <string.h>

#include "output/pacer.h"
#include "base/util.h"

void
pacer_init(struct pacer *p, uint64_t rate)
{
    memset(p, 0, sizeof(*p));
    p->rate = rate;
}

uint64_t
pacer_allow(struct pacer *p, uint64_t now_ns)
{
    if (p->rate == 0)
        return UINT64_MAX;
    double burst = TS_MAX((double)p->rate / 10.0, 1.0);
    if (p->last_ns == 0) {
        p->tokens = burst;
    } else if (now_ns > p->last_ns) {
        p->tokens += (double)(now_ns - p->last_ns) * (double)p->rate / 1e9;
        if (p->tokens > burst)
            p->tokens = burst;
    }
    p->last_ns = now_ns;
    return p->tokens >= 1.0 ? (uint64_t)p->tokens : 0;
}

void
pacer_take(struct pacer *p, uint64_t lines)
{
    if (p->rate == 0)
        return;
    p->tokens -= (double)lines;
    if (p->tokens < 0)
        p->tokens = 0;
}

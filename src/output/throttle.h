/*
 * throttle.h -- a backend's sending rate while its TSD asks to be
 * throttled ("Please throttle writes").
 *
 * Owns a limit on points per second: unlimited until the TSD throttles;
 * then half the rate it was being sent at (measured over the last second,
 * never under a floor), halved again at each throttle answer; each second
 * without one the limit doubles, and once it is well over what is being
 * sent the limit is lifted.  Several throttle answers within one round trip count once (a
 * step down at most every 200 ms).  The backend's pacer enforces the
 * lower of this and max-rate.  It must never stop sending altogether: the
 * floor is at least one point per second.
 */
#ifndef TS_THROTTLE_H
#define TS_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

#define THROTTLE_FLOOR 10          /* points/s the limit never goes under */
#define THROTTLE_DEPTH 16          /* ... nor under the episode's first rate / this */
#define THROTTLE_STEP_MS 500       /* at most one step down per this long */
#define THROTTLE_RAISE_MS 1000     /* one step up per second without a throttle */

struct throttle {
    uint64_t limit;          /* points/s, 0 = none */
    uint64_t sent;           /* points sent in the current second */
    uint64_t last_rate;      /* points sent in the last whole second */
    uint64_t window_ms;      /* when the current second began */
    uint64_t last_down_ms;   /* the last step down */
    uint64_t last_up_ms;     /* the last step up (or down) */
    uint64_t floor;          /* this episode's floor */
    uint64_t downs;          /* steps down (counted) */
};

void throttle_init(struct throttle *t);
/* n points were sent at now_ms. */
void throttle_sent(struct throttle *t, uint64_t n, uint64_t now_ms);
/* The TSD throttled a point: the limit steps down (at most once per
 * THROTTLE_STEP_MS).  Returns true when it did. */
bool throttle_hit(struct throttle *t, uint64_t now_ms);
/* Time passed: the limit steps up once per second without a throttle. */
void throttle_tick(struct throttle *t, uint64_t now_ms);
/* The rate to send at: the lower of the limit and max_rate (0 = none). */
uint64_t throttle_rate(const struct throttle *t, uint64_t max_rate);

#endif

/*
 * throttle.c -- a backend's sending rate while its TSD asks to be
 * throttled: additive increase, multiplicative decrease.
 *
 * The rate being sent is measured per whole second (the points handed to
 * requests, retries included).  A throttle answer halves the rate that
 * was being sent (or the limit, when that is lower), at most once per
 * THROTTLE_STEP_MS: the answers of a round trip are one signal.  The
 * floor is a sixteenth of the rate when the episode began: a TSD that
 * throttles a share of the points at any rate would otherwise drive the
 * limit to nothing and the backlog would outgrow the episode.  A second
 * without a throttle doubles the limit (the backlog resumes in seconds);
 * a limit over twice what is being sent after ten calm seconds is lifted.
 */
#include "autoconf.h"

#include <string.h>

#include "base/util.h"
#include "output/throttle.h"

void
throttle_init(struct throttle *t)
{
    memset(t, 0, sizeof(*t));
    t->floor = THROTTLE_FLOOR;
}

static void
throttle_roll(struct throttle *t, uint64_t now)
{
    if (t->window_ms == 0) {
        t->window_ms = now;
        return;
    }
    if (now - t->window_ms < 1000)
        return;
    /* a second (or more) passed: what it sent is the rate (0 after a gap) */
    t->last_rate = now - t->window_ms < 2000 ? t->sent : 0;
    t->sent = 0;
    t->window_ms = now;
}

void
throttle_sent(struct throttle *t, uint64_t n, uint64_t now)
{
    throttle_roll(t, now);
    t->sent += n;
}

bool
throttle_hit(struct throttle *t, uint64_t now)
{
    throttle_roll(t, now);
    if (t->last_down_ms != 0 && now - t->last_down_ms < THROTTLE_STEP_MS)
        return false;
    uint64_t rate = TS_MAX(t->last_rate, t->sent);
    if (t->limit != 0 && t->limit < rate)
        rate = t->limit;
    if (rate == 0)
        rate = t->limit != 0 ? t->limit : 2 * THROTTLE_FLOOR;
    if (t->limit == 0) /* an episode begins */
        t->floor = TS_MAX(rate / THROTTLE_DEPTH, (uint64_t)THROTTLE_FLOOR);
    t->limit = TS_MAX(rate / 2, t->floor);
    t->last_down_ms = now;
    t->last_up_ms = now;
    t->downs++;
    return true;
}

void
throttle_tick(struct throttle *t, uint64_t now)
{
    throttle_roll(t, now);
    if (t->limit == 0 || now - t->last_up_ms < THROTTLE_RAISE_MS)
        return;
    t->last_up_ms = now;
    t->limit += TS_MAX(t->limit, (uint64_t)THROTTLE_FLOOR);
    if (t->limit > 2 * TS_MAX(t->last_rate, t->sent) && t->limit > 4 * THROTTLE_FLOOR &&
        now - t->last_down_ms > 10 * THROTTLE_RAISE_MS)
        t->limit = 0; /* well over what is sent, and calm for a while: lifted */
}

uint64_t
throttle_rate(const struct throttle *t, uint64_t max_rate)
{
    if (t->limit == 0)
        return max_rate;
    if (max_rate == 0)
        return t->limit;
    return TS_MIN(t->limit, max_rate);
}

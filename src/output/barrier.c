/*
 * barrier.c -- acknowledgement barriers (ack = version) on one backend
 * connection.
 *
 * A fixed ring of offsets; replies are matched to barriers in order.  A
 * version answer is "net.opentsdb..." then "Built on ...": the second line
 * completes it (a first line alone, or a "Built on" line with no barrier
 * out, acknowledges nothing).  It never allocates.
 */
#include "autoconf.h"

#include <string.h>

#include "output/barrier.h"

void
barriers_init(struct barriers *b)
{
    memset(b, 0, sizeof(*b));
}

bool
barriers_room(const struct barriers *b)
{
    return b->n < BARRIER_RING;
}

void
barriers_add(struct barriers *b, uint64_t end)
{
    unsigned i = (b->head + b->n) % BARRIER_RING;
    b->end[i] = end;
    b->sent_ms[i] = 0;
    b->n++;
}

void
barriers_written(struct barriers *b, uint64_t sent, uint64_t now_ms)
{
    for (unsigned k = 0; k < b->n; k++) {
        unsigned i = (b->head + k) % BARRIER_RING;
        if (b->end[i] > sent)
            break;
        if (b->sent_ms[i] == 0)
            b->sent_ms[i] = now_ms;
    }
}

uint64_t
barriers_reply_line(struct barriers *b, const char *line, size_t len, bool *is_error)
{
    *is_error = false;
    if (len >= 18 && memcmp(line, "net.opentsdb.tools", 18) == 0) {
        b->reply_open = true;
        return 0;
    }
    if (len >= 9 && memcmp(line, "Built on ", 9) == 0) {
        bool complete = b->reply_open;
        b->reply_open = false;
        if (!complete || b->n == 0)
            return 0;
        b->answered++;
        return b->end[b->head];
    }
    *is_error = true;
    return 0;
}

bool
barriers_overdue(const struct barriers *b, uint64_t now_ms, uint64_t timeout_ms)
{
    if (b->n == 0)
        return false;
    uint64_t t = b->sent_ms[b->head];
    return t != 0 && now_ms - t >= timeout_ms;
}

void
barriers_release(struct barriers *b, uint64_t acked)
{
    while (b->n > 0 && b->end[b->head] <= acked) {
        b->head = (b->head + 1) % BARRIER_RING;
        b->n--;
    }
}

void
barriers_rewind(struct barriers *b, uint64_t acked)
{
    b->reply_open = false;
    barriers_release(b, acked);
    for (unsigned k = 0; k < b->n; k++)
        b->sent_ms[(b->head + k) % BARRIER_RING] = 0;
}

uint64_t
barriers_between(const struct barriers *b, uint64_t from, uint64_t to)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < b->n; k++) {
        uint64_t e = b->end[(b->head + k) % BARRIER_RING];
        if (e > from && e <= to)
            n++;
    }
    return n;
}

uint64_t
barriers_next(const struct barriers *b, uint64_t from)
{
    for (unsigned k = 0; k < b->n; k++) {
        uint64_t e = b->end[(b->head + k) % BARRIER_RING];
        if (e > from)
            return e;
    }
    return 0;
}

void
barriers_clear(struct barriers *b)
{
    b->head = b->n = 0;
    b->reply_open = false;
}

/*
 * delivery.c -- how far delivery has got, as a mark that can be checked
 * later.
 *
 * Per backend the mark holds each connection's appended offset and the
 * count of lines staged for the spool.  Safe: every connection's
 * acknowledged offset reached its mark, nothing of the backend is on its
 * way into Redis from a failed connection, and the spool stored the
 * staged lines -- or, when lines left staging without Redis (it was
 * down), the backend holds nothing unacknowledged at all.  It never
 * allocates.
 */
#include "autoconf.h"

#include "output/backend.h"
#include "core/delivery.h"
#include "spool/spool.h"

size_t
delivery_width(const struct backend *bes, int n)
{
    size_t w = 0;
    for (int i = 0; i < n; i++)
        w += (size_t)bes[i].nconns + 1;
    return w;
}

void
delivery_mark(const struct backend *bes, int n, uint64_t *w)
{
    for (int i = 0; i < n; i++) {
        const struct backend *be = &bes[i];
        for (int k = 0; k < be->nconns; k++)
            *w++ = be->conns[k].q.appended;
        *w++ = spool_backend_staged_lines(be);
    }
}

static bool
all_acked(const struct backend *be)
{
    for (int k = 0; k < be->nconns; k++)
        if (be->conns[k].q.acked < be->conns[k].q.appended)
            return false;
    return true;
}

bool
delivery_safe(const struct backend *bes, int n, const uint64_t *w)
{
    for (int i = 0; i < n; i++) {
        const struct backend *be = &bes[i];
        if (!spool_backend_settled(be))
            return false;
        for (int k = 0; k < be->nconns; k++)
            if (be->conns[k].q.acked < *w++)
                return false;
        uint64_t staged = *w++;
        if (spool_backend_stored_lines(be) >= staged)
            continue;
        /* staged lines not (yet) stored: safe only when they went on and
         * everything the backend holds is acknowledged */
        if (spool_backend_staged_bytes(be) > 0 || !all_acked(be))
            return false;
    }
    return true;
}

/* ---- ?sync ----------------------------------------------------------------- */

void
delivery_sync_mark(const struct backend *bes, int n, uint64_t *w)
{
    for (int i = 0; i < n; i++) {
        const struct backend *be = &bes[i];
        for (int k = 0; k < be->nconns; k++)
            *w++ = be->conns[k].q.appended;
        *w++ = spool_backend_intake(be);
    }
}

/* Connection k's lines before offset `mark` are proven. */
static bool
delivery_conn_proven(const struct backend *be, int k, uint64_t mark)
{
    uint64_t upto, intake;
    if (spool_backend_detached(be, k, &upto, &intake) && upto >= mark)
        return spool_backend_proven(be) >= intake; /* they went to the spool */
    return be->conns[k].q.acked >= mark;
}

bool
delivery_proven(const struct backend *bes, int n, const uint64_t *w)
{
    for (int i = 0; i < n; i++) {
        const struct backend *be = &bes[i];
        for (int k = 0; k < be->nconns; k++)
            if (!delivery_conn_proven(be, k, *w++))
                return false;
        if (spool_backend_proven(be) < *w++)
            return false;
    }
    return true;
}

bool
delivery_sync_covers(const struct backend *bes, int n, const uint64_t *start,
                     const uint64_t *end, int b, int conn, uint64_t off)
{
    size_t at = 0;
    for (int i = 0; i < b && i < n; i++)
        at += (size_t)bes[i].nconns + 1;
    if (b >= n || conn >= bes[b].nconns)
        return false;
    size_t c = at + (size_t)conn, intake = at + (size_t)bes[b].nconns;
    if (off >= start[c] && off < end[c])
        return true;
    return end[intake] > start[intake] && off >= end[c]; /* it spooled: maybe drained since */
}

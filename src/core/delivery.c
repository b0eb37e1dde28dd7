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

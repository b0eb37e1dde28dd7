/*
 * proof.c -- when the lines a backend's spool took are proven delivered
 * by the backend itself.
 *
 *   intake:    lines taken, in order (proof_took, proof_took_queue)
 *   snapshot:  taken when nothing of the backend is in the spool (staging,
 *              pushes, the list, the drain's records, a failed
 *              connection's lines): every line taken so far is in a
 *              connection's queue before its end now
 *   proven:    the snapshot's intake, once every queue's acknowledged
 *              offset reached the snapshot's end
 *
 * Conservative: a backend that is never quite empty proves nothing
 * spooled until it is (a ?sync request then waits its timeout).
 */
#include "autoconf.h"

#include <stdlib.h>

#include "output/backend.h"
#include "spool/drain.h"
#include "spool/proof.h"

int
proof_init(struct spool_backend *sb)
{
    size_t n = (size_t)sb->be->nconns;
    sb->proof_off = calloc(3 * n, sizeof(uint64_t));
    return sb->proof_off != NULL ? TS_OK : TS_ERROR;
}

void
proof_free(struct spool_backend *sb)
{
    free(sb->proof_off);
    sb->proof_off = NULL;
}

void
proof_took(struct spool_backend *sb, uint64_t n)
{
    sb->intake += n;
}

void
proof_took_queue(struct spool_backend *sb, const struct queue *q, uint64_t end, uint64_t n)
{
    struct backend *be = sb->be;
    size_t nc = (size_t)be->nconns;
    sb->intake += n;
    sb->snap = false; /* lines left the queues: the snapshot no longer holds */
    for (size_t k = 0; k < nc; k++) {
        if (&be->conns[k].q != q)
            continue;
        sb->proof_off[nc + k] = end;             /* detached up to */
        sb->proof_off[2 * nc + k] = sb->intake;  /* ... and their intake */
    }
}

/* Nothing of the backend is in the spool. */
static bool
proof_spool_empty(const struct spool_backend *sb)
{
    return queue_empty(&sb->staging) && sb->npushing == 0 && sb->push_head == NULL &&
           sb->failed_head == NULL && sb->unconf_head == NULL && sb->evac_head == NULL &&
           sb->evac_push == NULL && sb->evac_held == 0 && sb->drain.entries == 0 &&
           drain_idle(&sb->drain) && !sb->drain.reading;
}

void
proof_tick(struct spool_backend *sb)
{
    struct backend *be = sb->be;
    if (sb->proven >= sb->intake || sb->proof_off == NULL)
        return;
    if (!sb->snap) {
        if (!proof_spool_empty(sb))
            return;
        sb->snap = true;
        sb->snap_intake = sb->intake;
        for (int k = 0; k < be->nconns; k++)
            sb->proof_off[k] = be->conns[k].q.appended;
    }
    for (int k = 0; k < be->nconns; k++)
        if (be->conns[k].q.acked < sb->proof_off[k])
            return;
    sb->proven = sb->snap_intake;
    sb->snap = false;
}

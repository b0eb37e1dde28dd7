/*
 * rejects.c -- the points the relay's backends refused for good, as the
 * relay sees them: kept (the spool's rejected list), remembered (a ring of
 * the last few, for the status page), counted.
 *
 * A refusal arrives from a backend (backend_http.c has already counted it
 * by reason and sampled it in the log) while the line is still in the
 * backend's queue; everything here copies what it keeps.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "core/delivery.h"
#include "core/rejects.h"
#include "core/relay.h"
#include "input/frameack.h"
#include "input/http.h"
#include "input/protocol.h"
#include "input/syncwait.h"
#include "output/backend.h"
#include "spool/spool.h"

struct rejects *
rejects_new(void)
{
    return calloc(1, sizeof(struct rejects));
}

void
rejects_free(struct rejects *rj)
{
    free(rj);
}

static void
rejects_remember(struct rejects *rj, const struct backend *be, const char *line, size_t len,
                 const char *reason, const char *text, size_t tlen)
{
    struct reject_note *n = &rj->ring[rj->head];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    n->unix_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (len > 0 && line[len - 1] == '\n')
        len--;
    snprintf(n->backend, sizeof(n->backend), "%s", be->cfg->name);
    snprintf(n->reason, sizeof(n->reason), "%s", reason);
    snprintf(n->text, sizeof(n->text), "%.*s", (int)TS_MIN(tlen, sizeof(n->text) - 1), text);
    snprintf(n->line, sizeof(n->line), "%.*s", (int)TS_MIN(len, sizeof(n->line) - 1), line);
    rj->head = (rj->head + 1) % REJECTS_RING;
    rj->n = TS_MIN(rj->n + 1, (unsigned)REJECTS_RING);
}

/* The ?sync requests that wait and may have put this line: it counts
 * failed for them (may tell one of another client's point; never misses
 * one of its own). */
static void
rejects_tell_waiting(struct relay *r, const struct backend *be, int conn, uint64_t off,
                     const char *line, size_t len, const char *text, size_t tlen)
{
    for (struct client *c = r->clients.syncing; c != NULL; c = c->sw->next) {
        const struct syncwait *sw = c->sw;
        if (!sw->waiting || c->http == NULL || sw->width != r->clients.env.fa_width)
            continue;
        if (delivery_sync_covers(r->backends, r->nbackends, sw->start, sw->end, be->idx, conn,
                                 off))
            http_sync_refused(c->http, line, len, text, tlen);
    }
}

/* The framed clients whose frames wait for their ack and may hold this
 * line: an error frame (the ack does not wait for it: the line is done). */
static void
rejects_tell_framed(struct relay *r, const struct backend *be, int conn, uint64_t off,
                    const char *line, size_t len, const char *text, size_t tlen)
{
    char msg[POINT_LINE_MAX + 600];
    int n = -1;
    for (struct client *c = r->clients.acking; c != NULL; c = c->fa_next) {
        const struct frameack *fa = c->fa;
        if (fa == NULL || fa->width != r->clients.env.fa_width || c->lingering)
            continue;
        const uint64_t *start, *end;
        bool covers = false;
        for (unsigned i = 0; !covers && (end = frameack_mark_at(fa, i, &start)) != NULL; i++)
            covers = delivery_sync_covers(r->backends, r->nbackends, start, end, be->idx, conn,
                                          off);
        if (!covers)
            continue;
        if (n < 0) { /* the error frame, once for every client it goes to */
            if (len > 0 && line[len - 1] == '\n')
                len--;
            n = snprintf(msg, sizeof(msg), "error: refused by backend %s: %.*s: %.*s",
                         be->cfg->name, (int)TS_MIN(tlen, (size_t)300), text,
                         (int)TS_MIN(len, (size_t)POINT_LINE_MAX), line);
            n = TS_MIN(n, (int)sizeof(msg) - 1);
        }
        protocol_framed_notice(c, msg, (size_t)n);
    }
}

void
rejects_note(struct relay *r, struct backend *be, int conn, uint64_t off, const char *line,
             size_t len, const char *reason, const char *text, size_t tlen)
{
    rejects_tell_waiting(r, be, conn, off, line, len, text, tlen);
    rejects_tell_framed(r, be, conn, off, line, len, text, tlen);
    if (r->rejects != NULL) {
        r->rejects->total++;
        rejects_remember(r->rejects, be, line, len, reason, text, tlen);
    }
    spool_reject_keep(r->spool, be, line, len, reason, text, tlen);
}

const struct reject_note *
rejects_at(const struct rejects *rj, unsigned i)
{
    if (rj == NULL || i >= rj->n)
        return NULL;
    return &rj->ring[(rj->head + REJECTS_RING - 1 - i) % REJECTS_RING];
}

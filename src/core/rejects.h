/*
 * rejects.h -- the points the relay's backends refused for good, as the
 * relay sees them.
 *
 * Owns what happens to a refusal once a backend reported it (backend_env
 * .on_rejected, wired by lifecycle.c): it is kept for an operator in the
 * spool's rejected list (spool/rejected.c, when there is Redis), counted,
 * remembered in a ring of the last REJECTS_RING for the status page, and
 * told to the clients whose requests wait for its proof (a ?sync request
 * counts it failed, a framed client gets an error frame) through the
 * notify callback.  It allocates once, at start, and never blocks.
 */
#ifndef TS_REJECTS_H
#define TS_REJECTS_H

#include <stddef.h>
#include <stdint.h>

#define REJECTS_RING 16

struct relay;
struct backend;

struct reject_note {
    uint64_t unix_ms;
    char backend[64];
    char reason[24];
    char text[200];              /* the TSD's words */
    char line[240];              /* the line, cut */
};

struct rejects {
    struct reject_note ring[REJECTS_RING];
    unsigned head, n;            /* the next slot, notes held */
    uint64_t total;              /* refusals seen */
};

struct rejects *rejects_new(void);
void rejects_free(struct rejects *rj);
/* A backend refused a line for good (the env callback's arguments). */
void rejects_note(struct relay *r, struct backend *be, int conn, uint64_t off,
                  const char *line, size_t len, const char *reason, const char *text,
                  size_t tlen);
/* The i-th newest note (0: the newest), NULL past the last. */
const struct reject_note *rejects_at(const struct rejects *rj, unsigned i);

#endif

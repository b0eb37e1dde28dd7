/*
 * barrier.h -- acknowledgement barriers (ack = version) on one backend
 * connection.
 *
 * Owns the FIFO of barriers a connection has in its byte stream: after a
 * batch of lines the connection's queue gets a `version` line, and the
 * stream offset just past it is remembered; OpenTSDB answers commands in
 * order, so the reply to a barrier (its two lines, the second "Built on
 * ...") proves the TSD parsed every line before it, and those lines are
 * acknowledged.  Lines the TSD writes back before a barrier's reply are
 * its rejections of lines in that batch.  It also tracks how long the
 * oldest barrier has been out (ack-timeout).  It must never acknowledge a
 * line without a barrier's reply, and never hold more barriers than its
 * ring (writing waits instead).
 */
#ifndef TS_BARRIER_H
#define TS_BARRIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BARRIER_LINE "version\n"
#define BARRIER_LEN 8
#define BARRIER_RING 256

struct barriers {
    uint64_t end[BARRIER_RING];   /* stream offset just past each barrier */
    uint64_t sent_ms[BARRIER_RING]; /* when its bytes were written (0: not yet) */
    unsigned head, n;             /* oldest, count */
    bool reply_open;              /* the first line of a version reply came */
    uint64_t answered;            /* counters */
    uint64_t timeouts;
};

void barriers_init(struct barriers *b);
/* Room for one more barrier. */
bool barriers_room(const struct barriers *b);
/* A barrier ends at stream offset `end` (its line was appended). */
void barriers_add(struct barriers *b, uint64_t end);
/* Bytes up to `sent` were written at now_ms: stamps the barriers among them. */
void barriers_written(struct barriers *b, uint64_t sent, uint64_t now_ms);
/* One reply line from the TSD.  Returns the offset it acknowledges (the
 * oldest barrier's end) when it completes a barrier's answer, else 0; sets
 * *is_error for a line that is not part of a version answer.  The barrier
 * stays until barriers_release. */
uint64_t barriers_reply_line(struct barriers *b, const char *line, size_t len, bool *is_error);
/* Everything up to `acked` is acknowledged: its barriers are done. */
void barriers_release(struct barriers *b, uint64_t acked);
/* The oldest barrier unanswered for longer than timeout_ms. */
bool barriers_overdue(const struct barriers *b, uint64_t now_ms, uint64_t timeout_ms);
/* The connection is gone: replies still due will not come; the barriers
 * past `acked` are in the queue again and will be written again. */
void barriers_rewind(struct barriers *b, uint64_t acked);
/* Barrier lines between stream offsets (from, to]: not data. */
uint64_t barriers_between(const struct barriers *b, uint64_t from, uint64_t to);
/* The end of the first barrier past stream offset `from`, 0 if none. */
uint64_t barriers_next(const struct barriers *b, uint64_t from);
/* Forgets every barrier (the queue was emptied into the spool). */
void barriers_clear(struct barriers *b);

#endif

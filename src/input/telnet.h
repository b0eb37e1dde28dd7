/*
 * telnet.h -- the OpenTSDB telnet line protocol, client side of the relay.
 *
 * Owns line splitting (\n, optional \r), the max-line-bytes discard mode
 * and command dispatch with the TSD's exact replies for unknown commands.
 * Data lines go to the ingest sink; version/stats/help/exit go back to the
 * connection owner.  It must never allocate or block.
 */
#ifndef TS_TELNET_H
#define TS_TELNET_H

#include <stdbool.h>
#include <stddef.h>

#include "input/ingest.h"

enum telnet_cmd { TC_VERSION = 0, TC_STATS, TC_HELP, TC_EXIT };

struct telnet_io {
    struct sink *sink;
    size_t max_line;
    /* Non-data commands.  Return true to stop reading (exit). */
    bool (*command)(struct telnet_io *io, enum telnet_cmd cmd);
    /* One reply line, without the "\n". */
    void (*reply)(struct telnet_io *io, const char *text, size_t len);
    bool discarding;   /* inside a line longer than max_line */
    bool blocked;      /* the last feed stopped: the sink had no room */
};

/* Consumes every complete line of buf; returns bytes consumed (the rest is
 * an incomplete line to keep).  Sets *stop after `exit`.  When the sink
 * has no room for a point, stops before that line and sets io->blocked:
 * the caller offers the rest again once there is room. */
size_t telnet_feed(struct telnet_io *io, const char *buf, size_t len, bool *stop);

/* The reply line for a rejected point (used as the sink's on_error). */
void telnet_report_error(struct telnet_io *io, const struct point_error *e);

extern const char telnet_help_text[];
extern const size_t telnet_help_len;

#endif

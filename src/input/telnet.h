/*
 * telnet.h -- the OpenTSDB telnet line protocol, client side of the relay.
 *
 * Owns line splitting (\n, optional \r), the max-line-bytes discard mode
 * and command dispatch with the TSD's exact replies for unknown commands.
 * Data lines go to the ingest sink; version/stats/status/help/exit go
 * back to the connection owner.  It also tells an auto listener's first bytes that no
 * telnet client sends.  It must never allocate or block.
 */
#ifndef TS_TELNET_H
#define TS_TELNET_H

#include <stdbool.h>
#include <stddef.h>

#include "input/ingest.h"

enum telnet_cmd { TC_VERSION = 0, TC_STATS, TC_STATUS, TC_HELP, TC_EXIT };

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

/* An auto listener's first bytes that no telnet client sends: the first
 * word (the bytes before the first space or line end, of those that have
 * arrived) holds a byte below 0x20 other than tab, or one of 0x7f and up.
 * A telnet line starts with a command, and the TSD's commands are ASCII
 * words (put, version, stats, ...); the bytes of a metric or tag, where
 * the TSD takes Latin-1 letters, come after it and are not looked at.  An
 * HTTP method is ASCII too.  What sends such bytes is a framed client
 * whose length does not start with 0 (16 MiB or more: always over
 * max-frame-bytes), or something binary.  Returns the offset of the first
 * such byte, or -1. */
long telnet_foreign_start(const char *buf, size_t len);
/* The error line for it (no "\n"): what the byte was, how framed packets
 * and telnet lines start.  Returns its length. */
size_t telnet_foreign_reply(const char *buf, size_t len, long at, char *out, size_t cap);

extern const char telnet_help_text[];
extern const size_t telnet_help_len;

#endif

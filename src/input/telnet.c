/*
 * telnet.c -- the OpenTSDB telnet line protocol, client side of the relay.
 *
 * Lines end at "\n"; one "\r" before it is dropped (LineBasedFrameDecoder).
 * Word 0 picks the command, case-sensitively.  Unknown words, blank lines
 * and a leading space get the TSD's "unknown command" reply.  It also
 * tells an auto listener's first bytes that cannot be telnet (below).  diediedie
 * and dropcaches are refused: a relay must not let clients stop or flush
 * the TSD.  It must never allocate or block.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "input/telnet.h"
#include "base/util.h"

const char telnet_help_text[] =
    "available commands: put rollup histogram stats version status help exit ";
const size_t telnet_help_len = sizeof(telnet_help_text) - 1;

void
telnet_report_error(struct telnet_io *io, const struct point_error *e)
{
    char buf[POINT_ERR_MAX * 2 + 64];
    size_t n = point_error_format(e, buf, sizeof(buf));
    io->reply(io, buf, n);
}

static void
reply_str(struct telnet_io *io, const char *s)
{
    io->reply(io, s, strlen(s));
}

static void
unknown_command(struct telnet_io *io, const char *w, size_t n)
{
    char buf[512];
    char word[256];
    size_t wn = latin1_to_utf8(w, TS_MIN(n, 120), word, sizeof(word));
    int len = snprintf(buf, sizeof(buf), "unknown command: %.*s%s.  Try `help'.", (int)wn, word,
                       n > 120 ? "..." : "");
    io->reply(io, buf, (size_t)len);
}

enum { LINE_DONE = 0, LINE_EXIT, LINE_BLOCKED };

static int
data_line(struct telnet_io *io, enum point_cmd cmd, const char *line, size_t len)
{
    return ingest_line(io->sink, cmd, false, line, len) == TS_EAGAIN ? LINE_BLOCKED : LINE_DONE;
}

/* One complete line (no "\n", "\r" already stripped). */
static int
telnet_dispatch(struct telnet_io *io, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    size_t wn = sp ? (size_t)(sp - line) : len;
#define IS(w) (wn == sizeof(w) - 1 && memcmp(line, w, sizeof(w) - 1) == 0)
    if (IS("put"))
        return data_line(io, CMD_PUT, line, len);
    if (IS("rollup"))
        return data_line(io, CMD_ROLLUP, line, len);
    if (IS("histogram"))
        return data_line(io, CMD_HISTOGRAM, line, len);
    io->sink->stats->commands++;
    if (IS("version")) {
        return io->command(io, TC_VERSION) ? LINE_EXIT : LINE_DONE;
    } else if (IS("stats")) {
        return io->command(io, TC_STATS) ? LINE_EXIT : LINE_DONE;
    } else if (IS("status")) {
        return io->command(io, TC_STATUS) ? LINE_EXIT : LINE_DONE;
    } else if (IS("help")) {
        return io->command(io, TC_HELP) ? LINE_EXIT : LINE_DONE;
    } else if (IS("exit")) {
        return io->command(io, TC_EXIT) ? LINE_EXIT : LINE_DONE;
    } else if (IS("diediedie")) {
        reply_str(io, "diediedie: refused: tsrelay does not let clients shut down the TSD");
    } else if (IS("dropcaches")) {
        reply_str(io, "dropcaches: refused: tsrelay does not forward cache flushes to the TSD");
    } else {
        unknown_command(io, line, wn);
    }
#undef IS
    return LINE_DONE;
}

long
telnet_foreign_start(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)buf[i];
        if (ch == ' ' || ch == '\r' || ch == '\n')
            return -1; /* the first word ended well */
        if ((ch < 0x20 && ch != '\t') || ch >= 0x7f)
            return (long)i;
    }
    return -1;
}

size_t
telnet_foreign_reply(const char *buf, size_t len, long at, char *out, size_t cap)
{
    char first[16] = ""; /* the first 4 bytes in hex: "ff ff ff ff" */
    for (size_t i = 0; i < TS_MIN(len, 4); i++)
        snprintf(first + (i ? 3 * i - 1 : 0), sizeof(first) - 3 * i, "%s%02x", i ? " " : "",
                 (unsigned char)buf[i]);
    int n = snprintf(out, cap,
                     "error: neither telnet nor HTTP: the connection began with bytes %s "
                     "(byte %ld is 0x%02x); a framed packet starts with its length as 4 "
                     "bytes big-endian, the first of them 0 (a frame is under 16 MiB), a "
                     "telnet line with a command such as put; closing",
                     first, at, (unsigned char)buf[at]);
    return n < 0 ? 0 : TS_MIN((size_t)n, cap - 1);
}

static void
too_long(struct telnet_io *io)
{
    char buf[160];
    io->sink->stats->too_long++;
    int n = snprintf(buf, sizeof(buf),
                     "error: line too long: more than %zu bytes before a newline; discarded",
                     io->max_line);
    io->reply(io, buf, (size_t)n);
}

size_t
telnet_feed(struct telnet_io *io, const char *buf, size_t len, bool *stop)
{
    size_t off = 0;
    *stop = false;
    io->blocked = false;
    while (off < len) {
        const char *start = buf + off;
        const char *nl = memchr(start, '\n', len - off);
        if (io->discarding) {
            if (nl == NULL)
                return len; /* drop everything until the newline */
            io->discarding = false;
            off = (size_t)(nl - buf) + 1;
            continue;
        }
        if (nl == NULL) {
            /* a "\r" waiting for its "\n" does not count toward the limit */
            size_t pending = len - off;
            if (pending > 0 && buf[len - 1] == '\r')
                pending--;
            if (pending > io->max_line) {
                too_long(io);
                io->discarding = true;
                return len;
            }
            break; /* incomplete line: keep it */
        }
        size_t llen = (size_t)(nl - start);
        size_t next = off + llen + 1;
        if (llen > 0 && start[llen - 1] == '\r')
            llen--;
        if (llen > io->max_line) {
            too_long(io);
            off = next;
            continue;
        }
        int rc = telnet_dispatch(io, start, llen);
        if (rc == LINE_BLOCKED) {
            io->blocked = true;
            return off; /* this line comes again */
        }
        off = next;
        if (rc == LINE_EXIT) {
            *stop = true;
            return off;
        }
    }
    return off;
}

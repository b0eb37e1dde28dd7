/*
 * framed.c -- length-prefixed packets: u32 big-endian length + payload.
 *
 * The length is compared with max-frame-bytes as soon as its 4 bytes are
 * in; the caller learns how many bytes the frame needs and decides where
 * to keep them.  Payloads are parsed in place.  It must never allocate.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "base/pointline.h"
#include "base/util.h"
#include "input/framed.h"
#include "input/json.h"

#define INPUT_ECHO_MAX 200

size_t
framed_error_line(const struct point_error *e, const char *input, size_t ilen, char *out,
                  size_t cap)
{
    size_t n = 0;
    int k = snprintf(out, cap, "error: ");
    n = (size_t)k;
    n += point_error_format(e, out + n, cap - n);
    /* point_error_format starts with "<cmd>: "; framed replies name the
     * kind only, so cut the command prefix */
    const char *cmd = point_cmd_name(e->cmd);
    size_t cl = strlen(cmd) + 2;
    if (n >= 7 + cl && memcmp(out + 7, cmd, cl - 2) == 0) {
        memmove(out + 7, out + 7 + cl, n - 7 - cl);
        n -= cl;
    }
    if (input != NULL && n + 3 < cap) {
        out[n++] = ':';
        out[n++] = ' ';
        size_t take = TS_MIN(ilen, INPUT_ECHO_MAX);
        n += latin1_to_utf8(input, take, out + n, cap - n - 4);
        if (ilen > INPUT_ECHO_MAX && n + 3 <= cap) {
            memcpy(out + n, "...", 3);
            n += 3;
        }
    }
    return n;
}

/* Lines from io->skip on; false (io->skip at the line) when one found no
 * room. */
static bool
text_payload(struct framed_io *io, const char *p, size_t len)
{
    size_t off = (size_t)TS_MIN(io->skip, (uint64_t)len);
    while (off < len) {
        const char *start = p + off;
        const char *nl = memchr(start, '\n', len - off);
        size_t llen = nl ? (size_t)(nl - start) : len - off;
        size_t next = off + llen + (nl ? 1 : 0);
        if (llen > 0 && start[llen - 1] == '\r')
            llen--;
        if (llen == 0) {
            off = next;
            continue;
        }
        bool implicit;
        enum point_cmd cmd = pointline_cmd(start, llen, &implicit);
        int rc = ingest_line(io->sink, cmd, implicit, start, llen);
        if (rc == TS_EAGAIN) {
            io->skip = off;
            return false;
        }
        off = next;
    }
    return true;
}

bool
framed_payload(struct framed_io *io, const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    bool done = true;
    io->reply_begin(io);
    if (i < len && (p[i] == '{' || p[i] == '[')) {
        struct json_result res;
        struct point_error derr;
        int rc = json_ingest_from(io->sink, CMD_PUT, p, len, (size_t)io->skip, &res, &derr);
        if (rc == TS_EAGAIN) {
            io->skip = res.handled;
            done = false;
        } else if (rc != TS_OK) {
            char line[POINT_ERR_MAX + 64];
            io->stats->rejected_json++;
            io->sink->stats->received++;
            io->sink->stats->invalid++;
            size_t n = framed_error_line(&derr, p + i, len - i, line, sizeof(line));
            io->reply_line(io, line, n);
        }
    } else {
        done = text_payload(io, p, len);
    }
    io->reply_end(io);
    return done;
}

size_t
framed_feed(struct framed_io *io, const char *buf, size_t len, size_t *need,
            enum framed_status *status, uint32_t *bad_len)
{
    size_t off = 0;
    *status = FRAMED_MORE;
    io->blocked = false;
    for (;;) {
        if (len - off < 4) {
            *need = 4;
            return off;
        }
        uint32_t n = framed_get_len(buf + off);
        if (n == 0) {
            io->stats->heartbeats++;
            io->completed++;
            off += 4;
            continue;
        }
        if (n > io->max_frame) {
            io->stats->rejected_oversize++;
            *bad_len = n;
            *status = FRAMED_OVERSIZE;
            *need = 0;
            return off;
        }
        if (len - off - 4 < n) {
            *need = 4 + (size_t)n;
            return off;
        }
        if (!framed_payload(io, buf + off + 4, n)) {
            io->blocked = true;
            *need = 4 + (size_t)n;
            return off; /* this frame comes again, from io->skip */
        }
        io->skip = 0;
        io->stats->frames++;
        io->completed++;
        off += 4 + (size_t)n;
    }
}

/*
 * framed.h -- length-prefixed packets: u32 big-endian length + payload.
 *
 * Owns frame boundaries (splits across reads, many frames per read), the
 * max-frame-bytes check made on the header before anything is allocated,
 * heartbeats (length 0), and payload sniffing: text put lines or OpenTSDB
 * JSON.  Replies are frames of "error: ..." lines, built by the owner.  It
 * must never allocate and never trust a length it has not checked.
 */
#ifndef TS_FRAMED_H
#define TS_FRAMED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "input/ingest.h"

struct framed_io {
    struct sink *sink;
    uint32_t max_frame;
    struct framed_stats *stats;
    /* Reply frame assembly: begin, any number of lines, end (the owner
     * drops an empty frame). */
    void (*reply_begin)(struct framed_io *io);
    void (*reply_line)(struct framed_io *io, const char *text, size_t len);
    void (*reply_end)(struct framed_io *io);
    /* A frame the sink could not take whole (no room): its progress.  Text:
     * payload bytes done; JSON: datapoints done.  The next feed starts at
     * that frame and carries on from there. */
    uint64_t skip;
    bool blocked;      /* the last feed stopped inside the frame it returned at */
    uint64_t completed; /* frames done on this connection, heartbeats too */
};

enum framed_status { FRAMED_MORE = 0, FRAMED_OVERSIZE };

/* Consumes every complete frame of buf and returns the bytes consumed.
 * *need is the total size (header + payload) of the next, incomplete
 * frame, 4 when even its header is incomplete.  On FRAMED_OVERSIZE the
 * offending length is in *bad_len and the connection must be closed.
 * When the sink has no room, stops inside a frame: io->blocked is set, the
 * return value is that frame's offset and io->skip its progress. */
size_t framed_feed(struct framed_io *io, const char *buf, size_t len, size_t *need,
                   enum framed_status *status, uint32_t *bad_len);

/* Handles one payload (text lines or JSON) from io->skip on.  false when
 * the sink had no room: io->skip says how far it got. */
bool framed_payload(struct framed_io *io, const char *p, size_t len);

/* "error: <kind>: <msg>: <input, truncated>" for a rejected point. */
size_t framed_error_line(const struct point_error *e, const char *input, size_t ilen, char *out,
                         size_t cap);

static inline uint32_t
framed_get_len(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return ((uint32_t)u[0] << 24) | ((uint32_t)u[1] << 16) | ((uint32_t)u[2] << 8) | u[3];
}

static inline void
framed_put_len(char *p, uint32_t n)
{
    unsigned char *u = (unsigned char *)p;
    u[0] = (unsigned char)(n >> 24);
    u[1] = (unsigned char)(n >> 16);
    u[2] = (unsigned char)(n >> 8);
    u[3] = (unsigned char)n;
}

#endif

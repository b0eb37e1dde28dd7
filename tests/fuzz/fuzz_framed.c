/*
 * fuzz_framed.c -- libFuzzer target for framed.c (u32 big-endian length +
 * payload, heartbeats, the max-frame-bytes check on the header, text and
 * JSON payloads) and, through it, json.c, ingest.c and point.c.
 *
 * Input: byte 0 = split point (fraction of the stream), byte 1 = options:
 *   bit 0:    max-frame-bytes 4096 / 64 (small, so oversize paths are hit)
 *   bit 1:    build the frames: the rest is payloads separated by 0x00,
 *             each sent with its own correct header (empty = heartbeat);
 *             otherwise the rest is the raw byte stream
 *   bits 2-7: size of the chunks after the split, 0 = the rest at once
 * The stream is fed twice, as client.c feeds it: (A) in one read, (B)
 * split at the chosen point and then in chunks, each read appended to the
 * unconsumed tail.  An oversize header ends the connection (as the client
 * does after its error frame).
 *
 * Asserts, per feed: consumed <= length; FRAMED_MORE: *need >= 4 and
 * *need > the unconsumed length; *need == 4 while the header is
 * incomplete, else 4 + the header's length, which is non-zero and within
 * max-frame-bytes; FRAMED_OVERSIZE: *bad_len is the length in the header at
 * the consumed offset and exceeds max-frame-bytes, *need == 0.  Reply
 * callbacks nest (begin, lines, end; never a line or end outside a frame,
 * none left open after a feed); the reply frames built from them, as the
 * client builds them, are well-formed: non-empty, each line "error: ..."
 * + "\n" (no other "\n" in it), valid UTF-8, one line per rejected point
 * or document.  Every emitted line passes fuzz_check_emitted (canonical,
 * idempotent, fields valid, the hash passed with it right).
 * Counters: sink received == emitted + invalid.  Across (A) and (B): the
 * same emitted lines, reply bytes and counters -- framing must not depend
 * on TCP read boundaries.
 * (C) is (A) with a sink that has no room every k-th line (k = 1 + byte 0
 * mod 5; a line refused once is taken when offered again), as when the
 * queues are full under overflow = block: the decoder stops inside the
 * frame (io->blocked) and is fed the same bytes again, as client.c does
 * once there is room.  The same lines, reply lines and counters as (A):
 * stopping and resuming must lose, repeat and reorder nothing.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input/framed.h"
#include "fuzz_common.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/point.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define STREAM_CAP (4u << 20)
#define MAX_INPUT (256u << 10)

struct run {
    struct framed_io io;
    struct framed_stats fst;
    struct sink sink;
    struct ingest_stats st;
    char *emitted;
    size_t emitted_len;
    char *out;          /* reply frames, built like client.c builds them */
    size_t out_len;
    size_t frame_mark;
    bool open;
    bool overflow;
    size_t nemit;
    bool closed;        /* oversize header: error frame sent, connection closed */
    uint32_t bad_len;
    unsigned block_every; /* (C): refuse every k-th line once; 0 = never */
    unsigned offers;
    bool refused;       /* the last offer was refused: take it next time */
    uint64_t stops;
};

static struct point_rules rules;
static struct run runs[3];
static char *feedbuf;
static char *framebuf;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_init();
    point_rules_init(&rules, 8, NULL);
    for (int i = 0; i < 3; i++) {
        runs[i].emitted = malloc(STREAM_CAP);
        runs[i].out = malloc(STREAM_CAP);
    }
    feedbuf = malloc(5 * MAX_INPUT + 8192);
    framebuf = malloc(5 * MAX_INPUT + 16);
    return 0;
}

static int
emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)why;
    struct run *R = s->owner;
    if (R->block_every > 0 && !R->refused && ++R->offers % R->block_every == 0) {
        R->refused = true;
        return TS_EAGAIN;
    }
    R->refused = false;
    fuzz_check_emitted(s->rules, line, len, hash);
    R->nemit++;
    if (R->emitted_len + len > STREAM_CAP) {
        R->overflow = true;
        return TS_OK;
    }
    memcpy(R->emitted + R->emitted_len, line, len);
    R->emitted_len += len;
    return TS_OK;
}

static void
reply_begin(struct framed_io *io)
{
    struct run *R = container_of(io, struct run, io);
    FUZZ_CHECK(!R->open);
    R->open = true;
    if (R->out_len + 4 > STREAM_CAP) {
        R->overflow = true;
        return;
    }
    R->frame_mark = R->out_len;
    R->out_len += 4;
}

static void
reply_line(struct framed_io *io, const char *text, size_t len)
{
    struct run *R = container_of(io, struct run, io);
    FUZZ_CHECK(R->open);
    FUZZ_CHECK(len <= POINT_ERR_MAX * 2 + 512);
    if (R->overflow || R->out_len + len + 1 > STREAM_CAP) {
        R->overflow = true;
        return;
    }
    if (memchr(text, '\n', len) != NULL)
        fuzz_dump("reply line with a raw newline", text, len);
    FUZZ_CHECK(memchr(text, '\n', len) == NULL);
    memcpy(R->out + R->out_len, text, len);
    R->out[R->out_len + len] = '\n';
    R->out_len += len + 1;
}

static void
reply_end(struct framed_io *io)
{
    struct run *R = container_of(io, struct run, io);
    FUZZ_CHECK(R->open);
    R->open = false;
    if (R->overflow)
        return;
    size_t n = R->out_len - R->frame_mark - 4;
    if (n == 0)
        R->out_len = R->frame_mark; /* nothing to say: no frame */
    else
        framed_put_len(R->out + R->frame_mark, (uint32_t)n);
}

static void
on_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
         const void *json_dp)
{
    struct run *R = s->owner;
    fuzz_check_point_error(e);
    static char line[POINT_ERR_MAX * 2 + 512];
    size_t n = framed_error_line(e, input, ilen, line, sizeof(line));
    FUZZ_CHECK(n < sizeof(line));
    (void)json_dp;
    reply_line(&R->io, line, n);
}

static void
run_init(struct run *R, uint32_t max_frame)
{
    char *e = R->emitted, *o = R->out;
    memset(R, 0, sizeof(*R));
    R->emitted = e;
    R->out = o;
    R->sink.rules = &rules;
    R->sink.stats = &R->st;
    R->sink.emit = emit;
    R->sink.on_error = on_error;
    R->sink.owner = R;
    R->io.sink = &R->sink;
    R->io.max_frame = max_frame;
    R->io.stats = &R->fst;
    R->io.reply_begin = reply_begin;
    R->io.reply_line = reply_line;
    R->io.reply_end = reply_end;
}

static void
feed(struct run *R, const char *in, size_t n, const size_t *cuts, size_t ncuts)
{
    size_t tail = 0, from = 0;
    const uint32_t max_frame = R->io.max_frame;
    for (size_t k = 0; k < ncuts && !R->closed; k++) {
        size_t to = cuts[k];
        if (to <= from)
            continue;
        memcpy(feedbuf + tail, in + from, to - from);
        size_t len = tail + (to - from);
        from = to;
        size_t need = 12345;
        uint32_t bad = 0;
        enum framed_status st = (enum framed_status)77;
        size_t used = framed_feed(&R->io, feedbuf, len, &need, &st, &bad);
        FUZZ_CHECK(!R->open);
        FUZZ_CHECK(used <= len);
        while (R->io.blocked) { /* room again: the same bytes, from the frame it stopped in */
            FUZZ_CHECK(R->block_every > 0);
            FUZZ_CHECK(R->stops++ < 4 * MAX_INPUT);
            memmove(feedbuf, feedbuf + used, len - used);
            len -= used;
            used = framed_feed(&R->io, feedbuf, len, &need, &st, &bad);
            FUZZ_CHECK(!R->open);
            FUZZ_CHECK(used <= len);
        }
        size_t left = len - used;
        if (st == FRAMED_OVERSIZE) {
            FUZZ_CHECK(left >= 4);
            FUZZ_CHECK(bad == framed_get_len(feedbuf + used));
            FUZZ_CHECK(bad > max_frame);
            FUZZ_CHECK(need == 0);
            R->closed = true;
            R->bad_len = bad;
            break;
        }
        FUZZ_CHECK(st == FRAMED_MORE);
        FUZZ_CHECK(need >= 4);
        FUZZ_CHECK(need > left);
        if (left < 4) {
            FUZZ_CHECK(need == 4);
        } else {
            uint32_t h = framed_get_len(feedbuf + used);
            FUZZ_CHECK(h > 0 && h <= max_frame);
            FUZZ_CHECK(need == 4 + (size_t)h);
        }
        memmove(feedbuf, feedbuf + used, left);
        tail = left;
    }
    FUZZ_CHECK(R->st.received == R->nemit + R->st.invalid);
}

/* Reply frames: u32 length > 0, then lines "error: ..." + "\n". */
static void
check_replies(const struct run *R)
{
    size_t off = 0;
    uint64_t lines = 0;
    while (off < R->out_len) {
        FUZZ_CHECK(R->out_len - off >= 4);
        uint32_t n = framed_get_len(R->out + off);
        FUZZ_CHECK(n > 0 && n <= R->out_len - off - 4);
        const char *p = R->out + off + 4, *end = p + n;
        FUZZ_CHECK(end[-1] == '\n');
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            FUZZ_CHECK(nl != NULL);
            if (!(nl - p >= 7 && memcmp(p, "error: ", 7) == 0))
                fuzz_dump("reply frame", R->out + off + 4, n);
            FUZZ_CHECK(nl - p >= 7 && memcmp(p, "error: ", 7) == 0);
            FUZZ_CHECK(fuzz_valid_utf8(p, (size_t)(nl - p)));
            p = nl + 1;
            lines++;
        }
        off += 4 + n;
    }
    /* one reply line per rejected point (or rejected JSON document) */
    FUZZ_CHECK(lines == R->st.invalid);
}

/* The reply lines of two runs, frame headers aside: a frame that stopped
 * for room may answer in two reply frames. */
static bool
same_reply_lines(const struct run *X, const struct run *Y)
{
    size_t ox = 0, oy = 0, px = 0, py = 0, nx = 0, ny = 0;
    for (;;) {
        while (px == nx && ox < X->out_len) {
            px = ox + 4;
            nx = px + framed_get_len(X->out + ox);
            ox = nx;
        }
        while (py == ny && oy < Y->out_len) {
            py = oy + 4;
            ny = py + framed_get_len(Y->out + oy);
            oy = ny;
        }
        if (px == nx || py == ny)
            return px == nx && py == ny;
        if (X->out[px] != Y->out[py])
            return false;
        px++;
        py++;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > MAX_INPUT)
        return 0;
    uint32_t max_frame = (data[1] & 1) ? 64 : 4096;
    bool build = (data[1] & 2) != 0;
    size_t chunk = (size_t)(data[1] >> 2);
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    if (build) {
        size_t o = 0, start = 0;
        for (size_t i = 0; i <= n; i++) {
            if (i < n && in[i] != '\0')
                continue;
            framed_put_len(framebuf + o, (uint32_t)(i - start));
            memcpy(framebuf + o + 4, in + start, i - start);
            o += 4 + (i - start);
            start = i + 1;
        }
        in = framebuf;
        n = o;
    }
    size_t split = (size_t)data[0] * n / 255;

    struct run *A = &runs[0], *B = &runs[1];
    run_init(A, max_frame);
    size_t all = n;
    feed(A, in, n, &all, 1);

    static size_t cuts[5 * MAX_INPUT / 4 + 16];
    size_t ncuts = 0;
    cuts[ncuts++] = split;
    if (chunk == 0) {
        cuts[ncuts++] = n;
    } else {
        for (size_t at = split + chunk; at < n && ncuts + 2 < TS_ARRAY_LEN(cuts); at += chunk)
            cuts[ncuts++] = at;
        cuts[ncuts++] = n;
    }
    run_init(B, max_frame);
    feed(B, in, n, cuts, ncuts);

    if (A->overflow || B->overflow)
        return 0;
    check_replies(A);
    check_replies(B);
    FUZZ_CHECK(A->closed == B->closed);
    FUZZ_CHECK(A->bad_len == B->bad_len);
    FUZZ_CHECK(A->emitted_len == B->emitted_len);
    FUZZ_CHECK(memcmp(A->emitted, B->emitted, A->emitted_len) == 0);
    FUZZ_CHECK(A->out_len == B->out_len);
    FUZZ_CHECK(memcmp(A->out, B->out, A->out_len) == 0);
    FUZZ_CHECK(memcmp(&A->st, &B->st, sizeof(A->st)) == 0);
    FUZZ_CHECK(memcmp(&A->fst, &B->fst, sizeof(A->fst)) == 0);

    struct run *C = &runs[2];
    run_init(C, max_frame);
    C->block_every = 1u + data[0] % 5u;
    feed(C, in, n, &all, 1);
    if (C->overflow)
        return 0;
    check_replies(C);
    FUZZ_CHECK(A->closed == C->closed);
    FUZZ_CHECK(A->emitted_len == C->emitted_len);
    FUZZ_CHECK(memcmp(A->emitted, C->emitted, A->emitted_len) == 0);
    FUZZ_CHECK(same_reply_lines(A, C));
    FUZZ_CHECK(memcmp(&A->st, &C->st, sizeof(A->st)) == 0);
    FUZZ_CHECK(A->fst.frames == C->fst.frames && A->fst.heartbeats == C->fst.heartbeats &&
               A->fst.rejected_oversize == C->fst.rejected_oversize &&
               A->fst.rejected_json == C->fst.rejected_json);
    return 0;
}

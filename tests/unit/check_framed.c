/*
 * check_framed.c -- unit tests for framed.c: u32 big-endian length-prefixed
 * frames split across feeds (fed the way the client does it), many frames
 * per feed, heartbeats, the max-frame-bytes check on the header (*need,
 * *bad_len, nothing consumed past a bad header), text payloads with and
 * without "put ", JSON payloads, one reply line per rejected point, and
 * framed_error_line's format and truncation.  Sink and reply callbacks are
 * fakes that record everything.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "input/framed.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/point.h"
#include "unit.h"
#include "base/util.h"

static struct {
    struct framed_io io;
    struct framed_stats fst;
    struct sink sink;
    struct ingest_stats st;
    struct point_rules rules;
    char emitted[65536];
    size_t emitted_len;
    int nemit;
    int room;                /* points taken before the sink is full; 0: no bound */
    bool full;
    /* reply frames: begin/line/end must nest; frames without lines are
     * dropped by the owner, so only non-empty ones are kept here */
    bool open;
    int nbegin;
    int nframes;             /* non-empty reply frames */
    char reply[16384];       /* lines of all reply frames, each + "\n" */
    size_t reply_len;
    int nlines;
    int lines_in_open;
} F;

static int
fake_emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)why;
    /* the hash handed along must be the line's own series hash */
    ck_assert_uint_eq(hash, point_line_hash(line, len));
    ck_assert_ptr_eq(s, &F.sink);
    if (F.full)
        return TS_EAGAIN;
    if (F.room > 0 && --F.room == 0)
        F.full = true;
    ck_assert_uint_le(F.emitted_len + len, sizeof(F.emitted));
    memcpy(F.emitted + F.emitted_len, line, len);
    F.emitted_len += len;
    F.nemit++;
    return TS_OK;
}

static void
fake_begin(struct framed_io *io)
{
    ck_assert_ptr_eq(io, &F.io);
    ck_assert(!F.open);
    F.open = true;
    F.nbegin++;
    F.lines_in_open = 0;
}

static void
fake_line(struct framed_io *io, const char *text, size_t len)
{
    ck_assert_ptr_eq(io, &F.io);
    ck_assert(F.open);
    ck_assert_uint_le(F.reply_len + len + 1, sizeof(F.reply));
    memcpy(F.reply + F.reply_len, text, len);
    F.reply_len += len;
    F.reply[F.reply_len++] = '\n';
    F.nlines++;
    F.lines_in_open++;
}

static void
fake_end(struct framed_io *io)
{
    ck_assert_ptr_eq(io, &F.io);
    ck_assert(F.open);
    F.open = false;
    if (F.lines_in_open > 0)
        F.nframes++;
}

/* The client's on_error for framed connections: one reply line per point. */
static void
fake_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
           const void *json_dp)
{
    ck_assert_ptr_eq(s, &F.sink);
    char line[POINT_ERR_MAX * 2 + 512];
    size_t n = framed_error_line(e, input, ilen, line, sizeof(line));
    fake_line(&F.io, line, n);
}

static void
setup(void)
{
    json_init();
    memset(&F, 0, sizeof(F));
    point_rules_init(&F.rules, 8, NULL);
    F.sink.rules = &F.rules;
    F.sink.stats = &F.st;
    F.sink.emit = fake_emit;
    F.sink.on_error = fake_error;
    F.sink.owner = &F;
    F.io.sink = &F.sink;
    F.io.max_frame = 1 << 20;
    F.io.stats = &F.fst;
    F.io.reply_begin = fake_begin;
    F.io.reply_line = fake_line;
    F.io.reply_end = fake_end;
}

/* Appends one frame (header + payload) to buf at *n. */
static void
add_frame(char *buf, size_t *n, const char *payload, size_t plen)
{
    framed_put_len(buf + *n, (uint32_t)plen);
    memcpy(buf + *n + 4, payload, plen);
    *n += 4 + plen;
}

static void
add_str_frame(char *buf, size_t *n, const char *payload)
{
    add_frame(buf, n, payload, strlen(payload));
}

static size_t
feed(const char *buf, size_t len, size_t *need, enum framed_status *st)
{
    uint32_t bad = 0xDEADBEEF;
    size_t c = framed_feed(&F.io, buf, len, need, st, &bad);
    if (*st == FRAMED_MORE)
        ck_assert_uint_eq(bad, 0xDEADBEEF); /* untouched unless oversize */
    return c;
}

/* Feeds one payload as a whole frame and checks it is consumed. */
static void
feed_payload(const char *payload, size_t plen)
{
    static char buf[70000];
    size_t n = 0;
    add_frame(buf, &n, payload, plen);
    size_t need;
    enum framed_status st;
    ck_assert_uint_eq(feed(buf, n, &need, &st), n);
    ck_assert_int_eq(st, FRAMED_MORE);
    ck_assert_uint_eq(need, 4);
}

#define EMITTED_IS(want)                                                                  \
    do {                                                                                  \
        ck_assert_msg(F.emitted_len == strlen(want) &&                                   \
                          memcmp(F.emitted, want, F.emitted_len) == 0,                    \
                      "emitted [%s], want [%s]", esc(F.emitted, F.emitted_len),  \
                      esc(want, strlen(want))); \
    } while (0)

#define REPLY_IS(want)                                                                    \
    do {                                                                                  \
        ck_assert_msg(F.reply_len == strlen(want) && memcmp(F.reply, want, F.reply_len) == 0, \
                      "reply [%s], want [%s]", esc(F.reply, F.reply_len), esc(want, strlen(want)));        \
    } while (0)

/* ---- frame boundaries ------------------------------------------------------ */

START_TEST(test_byte_by_byte)
{
    static const char payload[] = "put m 1 1 a=b";   /* 13 bytes */
    char src[64];
    size_t srclen = 0;
    add_str_frame(src, &srclen, payload);
    ck_assert_uint_eq(srclen, 17);

    char buf[64];
    size_t have = 0;
    for (size_t i = 0; i < srclen; i++) {
        buf[have++] = src[i];
        size_t need = 12345;
        enum framed_status st;
        size_t c = feed(buf, have, &need, &st);
        ck_assert_int_eq(st, FRAMED_MORE);
        if (i + 1 < 4) {
            ck_assert_uint_eq(c, 0);
            ck_assert_uint_eq(need, 4);          /* header incomplete */
        } else if (i + 1 < srclen) {
            ck_assert_uint_eq(c, 0);
            ck_assert_uint_eq(need, 4 + 13);     /* payload incomplete */
            ck_assert_int_eq(F.nemit, 0);
        } else {
            ck_assert_uint_eq(c, 17);
            ck_assert_uint_eq(need, 4);
        }
        memmove(buf, buf + c, have - c);
        have -= c;
    }
    ck_assert_uint_eq(have, 0);
    EMITTED_IS("put m 1 1 a=b\n");
    ck_assert_uint_eq(F.fst.frames, 1);
    ck_assert_int_eq(F.nframes, 0);   /* nothing to say */
    ck_assert_uint_eq(F.st.received, 1);
}
END_TEST

START_TEST(test_many_frames_one_buffer)
{
    char buf[512];
    size_t n = 0;
    add_str_frame(buf, &n, "put m 1 1 a=b");
    add_frame(buf, &n, "", 0);                      /* heartbeat */
    add_str_frame(buf, &n, "m 2 2 b=c\nm 3 3 c=d\n");
    add_frame(buf, &n, "", 0);
    add_frame(buf, &n, "", 0);
    add_str_frame(buf, &n, "{\"metric\":\"j\",\"timestamp\":4,\"value\":4,\"tags\":{\"d\":\"e\"}}");
    size_t complete = n;
    /* then a frame whose payload has not fully arrived */
    framed_put_len(buf + n, 100);
    memcpy(buf + n + 4, "put m", 5);
    n += 9;
    size_t need;
    enum framed_status st;
    ck_assert_uint_eq(feed(buf, n, &need, &st), complete);
    ck_assert_int_eq(st, FRAMED_MORE);
    ck_assert_uint_eq(need, 104);
    EMITTED_IS("put m 1 1 a=b\nput m 2 2 b=c\nput m 3 3 c=d\nput j 4 4 d=e\n");
    ck_assert_uint_eq(F.fst.frames, 3);
    ck_assert_uint_eq(F.fst.heartbeats, 3);
    ck_assert_int_eq(F.nframes, 0);
    ck_assert_uint_eq(F.st.received, 4);

    /* a partial header after complete frames: need is 4 */
    setup();
    n = 0;
    add_str_frame(buf, &n, "m 1 1 a=b");
    buf[n++] = 0;
    buf[n++] = 0;
    ck_assert_uint_eq(feed(buf, n, &need, &st), n - 2);
    ck_assert_uint_eq(need, 4);
    ck_assert_int_eq(F.nemit, 1);
}
END_TEST

START_TEST(test_heartbeat_only)
{
    char buf[16] = { 0 };
    size_t need;
    enum framed_status st;
    ck_assert_uint_eq(feed(buf, 4, &need, &st), 4);
    ck_assert_uint_eq(F.fst.heartbeats, 1);
    ck_assert_uint_eq(F.fst.frames, 0);
    ck_assert_int_eq(F.nbegin, 0);     /* no payload handling, no reply frame */
    ck_assert_uint_eq(feed(buf, 12, &need, &st), 12);
    ck_assert_uint_eq(F.fst.heartbeats, 4);
    ck_assert_uint_eq(F.st.received, 0);
    ck_assert_uint_eq(feed(buf, 3, &need, &st), 0);
    ck_assert_uint_eq(need, 4);
}
END_TEST

START_TEST(test_max_frame_exact_accepted)
{
    F.io.max_frame = 32;
    char payload[32];
    memcpy(payload, "put m 1 1 a=", 12);
    memset(payload + 12, 'b', 20);
    char buf[128];
    size_t n = 0;
    add_frame(buf, &n, payload, 32);
    size_t need;
    enum framed_status st;
    /* header alone: a 32-byte frame is fine, wait for it */
    ck_assert_uint_eq(feed(buf, 4, &need, &st), 0);
    ck_assert_int_eq(st, FRAMED_MORE);
    ck_assert_uint_eq(need, 36);
    ck_assert_uint_eq(feed(buf, n, &need, &st), 36);
    ck_assert_int_eq(st, FRAMED_MORE);
    ck_assert_int_eq(F.nemit, 1);
    ck_assert_uint_eq(F.fst.rejected_oversize, 0);
}
END_TEST

START_TEST(test_max_frame_plus_one_rejected)
{
    F.io.max_frame = 32;
    char buf[128];
    size_t n = 0;
    add_str_frame(buf, &n, "m 1 1 a=b");          /* a good frame first */
    size_t good = n;
    char big[33];
    memset(big, 'x', sizeof(big));
    add_frame(buf, &n, big, 33);
    add_str_frame(buf, &n, "m 2 2 a=b");          /* never reached */
    size_t need = 999;
    enum framed_status st;
    uint32_t bad = 0;
    size_t c = framed_feed(&F.io, buf, n, &need, &st, &bad);
    ck_assert_int_eq(st, FRAMED_OVERSIZE);
    ck_assert_uint_eq(bad, 33);
    ck_assert_uint_eq(c, good);                     /* nothing past the bad header */
    EMITTED_IS("put m 1 1 a=b\n");
    ck_assert_uint_eq(F.fst.rejected_oversize, 1);
    ck_assert_uint_eq(F.fst.frames, 1);

    /* the header alone is enough to reject */
    setup();
    F.io.max_frame = 32;
    framed_put_len(buf, 33);
    ck_assert_uint_eq(framed_feed(&F.io, buf, 4, &need, &st, &bad), 0);
    ck_assert_int_eq(st, FRAMED_OVERSIZE);
    ck_assert_uint_eq(bad, 33);
}
END_TEST

START_TEST(test_huge_header)
{
    unsigned char buf[8] = { 0xFF, 0xFF, 0xFF, 0xFF, 'p', 'u', 't', ' ' };
    size_t need = 999;
    enum framed_status st;
    uint32_t bad = 0;
    ck_assert_uint_eq(framed_feed(&F.io, (const char *)buf, 8, &need, &st, &bad), 0);
    ck_assert_int_eq(st, FRAMED_OVERSIZE);
    ck_assert_uint_eq(bad, 0xFFFFFFFFu);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_uint_eq(F.fst.rejected_oversize, 1);
    ck_assert_uint_eq(framed_get_len((const char *)buf), 0xFFFFFFFFu);
}
END_TEST

START_TEST(test_len_helpers)
{
    char b[4];
    framed_put_len(b, 0x01020304u);
    ck_assert_int_eq(b[0], 1);
    ck_assert_int_eq(b[1], 2);
    ck_assert_int_eq(b[2], 3);
    ck_assert_int_eq(b[3], 4);
    ck_assert_uint_eq(framed_get_len(b), 0x01020304u);
    framed_put_len(b, 0x80FF00AAu);
    ck_assert_uint_eq(framed_get_len(b), 0x80FF00AAu);
}
END_TEST

/* ---- text payloads ------------------------------------------------------------ */

START_TEST(test_text_payload_forms)
{
    static const char p[] = "put m 1 1 a=b\nm 2 2 b=c\r\n\n\r\nput m 3 3  c=d \nm 4 4 d=e";
    feed_payload(p, sizeof(p) - 1);
    EMITTED_IS("put m 1 1 a=b\nput m 2 2 b=c\nput m 3 3 c=d\nput m 4 4 d=e\n");
    REPLY_IS("");
    ck_assert_int_eq(F.nbegin, 1);
    ck_assert_int_eq(F.nframes, 0);
    ck_assert_uint_eq(F.st.received, 4);
    ck_assert_uint_eq(F.st.invalid, 0);
}
END_TEST

START_TEST(test_text_rollup_histogram)
{
    static const char p[] = "rollup 1h-sum m 1 1 a=b\nhistogram m 1 0 AAEC a=b\n";
    feed_payload(p, sizeof(p) - 1);
    EMITTED_IS("rollup 1h-sum m 1 1 a=b\nhistogram m 1 0 AAEC a=b\n");
    ck_assert_int_eq(F.nframes, 0);
}
END_TEST

START_TEST(test_text_mixed_valid_invalid)
{
    static const char p[] = "m 1 1 a=b\n"
                            "m 1 x a=b\n"
                            "put m 1 1\n"
                            "m 2 2 b=c\n"
                            "m\xD7 1 1 a=b\n"
                            "rollup  m 1 1 a=b\n"
                            "put m 3 3 c=d";
    feed_payload(p, sizeof(p) - 1);
    EMITTED_IS("put m 1 1 a=b\nput m 2 2 b=c\nput m 3 3 c=d\n");
    REPLY_IS("error: invalid value: Invalid character 'x' in x: m 1 x a=b\n"
             "error: illegal argument: not enough arguments (need least 4, got 3): put m 1 1\n"
             "error: illegal argument: Invalid metric name (\"m\xC3\x97\"): illegal character: "
             "\xC3\x97: m\xC3\x97 1 1 a=b\n"
             "error: illegal argument: Missing interval or aggregator: rollup  m 1 1 a=b\n");
    ck_assert_int_eq(F.nframes, 1);      /* one reply frame for the payload */
    ck_assert_int_eq(F.nlines, 4);
    ck_assert_uint_eq(F.st.received, 7);
    ck_assert_uint_eq(F.st.invalid, 4);
}
END_TEST

START_TEST(test_text_only_blank)
{
    feed_payload("\n\r\n\n", 4);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.nbegin, 1);
    ck_assert_int_eq(F.nframes, 0);
    ck_assert_uint_eq(F.st.received, 0);
}
END_TEST

START_TEST(test_one_reply_frame_per_payload)
{
    char buf[256];
    size_t n = 0;
    add_str_frame(buf, &n, "m 1 x a=b\nm 1 y a=b");
    add_str_frame(buf, &n, "m 1 1 a=b");
    add_str_frame(buf, &n, "m 1 z a=b");
    size_t need;
    enum framed_status st;
    ck_assert_uint_eq(feed(buf, n, &need, &st), n);
    ck_assert_int_eq(F.nbegin, 3);
    ck_assert_int_eq(F.nframes, 2);
    REPLY_IS("error: invalid value: Invalid character 'x' in x: m 1 x a=b\n"
             "error: invalid value: Invalid character 'y' in y: m 1 y a=b\n"
             "error: invalid value: Invalid character 'z' in z: m 1 z a=b\n");
}
END_TEST

/* ---- JSON payloads --------------------------------------------------------------- */

START_TEST(test_json_object)
{
    static const char p[] = "{\"metric\":\"sys.cpu\",\"timestamp\":1364410924,\"value\":42,"
                            "\"tags\":{\"host\":\"a\",\"dc\":\"x\"}}";
    feed_payload(p, sizeof(p) - 1);
    EMITTED_IS("put sys.cpu 1364410924 42 dc=x host=a\n");
    ck_assert_int_eq(F.nframes, 0);
    ck_assert_uint_eq(F.fst.rejected_json, 0);
}
END_TEST

START_TEST(test_json_array_leading_whitespace)
{
    static const char p[] = " \r\n\t[{\"metric\":\"m\",\"timestamp\":1,\"value\":1.5,\"tags\":{\"a\":\"b\"}},"
                            " {\"metric\":\"m\",\"timestamp\":2,\"value\":\"7\",\"tags\":{\"a\":\"c\"}},"
                            " {\"metric\":\"m\",\"timestamp\":3,\"value\":1,\"tags\":{}}]\n";
    feed_payload(p, sizeof(p) - 1);
    EMITTED_IS("put m 1 1.5 a=b\nput m 2 7 a=c\n");
    REPLY_IS("error: illegal argument: Missing tags: "
             "{\"metric\":\"m\",\"timestamp\":3,\"value\":1,\"tags\":{}}\n");
    ck_assert_int_eq(F.nframes, 1);
    ck_assert_uint_eq(F.st.received, 3);
    ck_assert_uint_eq(F.st.invalid, 1);
    ck_assert_uint_eq(F.fst.rejected_json, 0);
}
END_TEST

START_TEST(test_json_invalid)
{
    static const char p[] = "  {\"metric\": \"m\", \"timestamp\": 1, ";
    feed_payload(p, sizeof(p) - 1);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.nlines, 1);
    ck_assert_int_eq(F.nframes, 1);
    static const char pre[] = "error: illegal argument: Unable to parse the given JSON: ";
    ck_assert_msg(F.reply_len > sizeof(pre) && memcmp(F.reply, pre, sizeof(pre) - 1) == 0,
                  "reply [%s]", esc(F.reply, F.reply_len));
    /* the input echoed after the message, from its first non-blank byte */
    static const char post[] = ": {\"metric\": \"m\", \"timestamp\": 1, \n";
    ck_assert_msg(memcmp(F.reply + F.reply_len - (sizeof(post) - 1), post, sizeof(post) - 1) == 0,
                  "reply [%s]", esc(F.reply, F.reply_len));
    ck_assert_uint_eq(F.fst.rejected_json, 1);
    ck_assert_uint_eq(F.st.received, 1);
    ck_assert_uint_eq(F.st.invalid, 1);
}
END_TEST

START_TEST(test_json_array_trailing_garbage)
{
    static const char p[] = "[{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}] x";
    feed_payload(p, sizeof(p) - 1);
    /* the datapoint before the syntax error is forwarded; the error is told */
    ck_assert_int_eq(F.nemit, 1);
    ck_assert_int_eq(F.nlines, 1);
    ck_assert_uint_eq(F.fst.rejected_json, 1);
}
END_TEST

/* ---- framed_error_line ------------------------------------------------------------ */

static struct point_error
mkerr(enum point_cmd cmd, enum point_err_kind kind, const char *msg)
{
    struct point_error e;
    memset(&e, 0, sizeof(e));
    e.cmd = cmd;
    e.kind = kind;
    e.len = strlen(msg);
    memcpy(e.msg, msg, e.len);
    return e;
}

START_TEST(test_error_line_format)
{
    char out[2048];
    struct point_error e = mkerr(CMD_PUT, PE_ILLEGAL_ARGUMENT, "empty value");
    size_t n = framed_error_line(&e, "m 1  a=b", 8, out, sizeof(out));
    ck_assert_uint_eq(n, strlen("error: illegal argument: empty value: m 1  a=b"));
    ck_assert_int_eq(memcmp(out, "error: illegal argument: empty value: m 1  a=b", n), 0);

    e = mkerr(CMD_ROLLUP, PE_INVALID_VALUE, "Invalid character 'x' in x");
    n = framed_error_line(&e, "rollup s m 1 x a=b", 18, out, sizeof(out));
    static const char w2[] = "error: invalid value: Invalid character 'x' in x: rollup s m 1 x a=b";
    ck_assert_uint_eq(n, sizeof(w2) - 1);
    ck_assert_int_eq(memcmp(out, w2, n), 0);

    /* Latin-1 message and input are sent as UTF-8 */
    e = mkerr(CMD_PUT, PE_ILLEGAL_ARGUMENT, "x \xE9");
    n = framed_error_line(&e, "\xE9", 1, out, sizeof(out));
    static const char w3[] = "error: illegal argument: x \xC3\xA9: \xC3\xA9";
    ck_assert_uint_eq(n, sizeof(w3) - 1);
    ck_assert_int_eq(memcmp(out, w3, n), 0);

    /* no input: no ": " */
    e = mkerr(CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, "empty histogram value");
    n = framed_error_line(&e, NULL, 0, out, sizeof(out));
    static const char w4[] = "error: illegal argument: empty histogram value";
    ck_assert_uint_eq(n, sizeof(w4) - 1);
    ck_assert_int_eq(memcmp(out, w4, n), 0);
}
END_TEST

START_TEST(test_error_line_truncation)
{
    char in[500];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (char)('a' + i % 26);
    struct point_error e = mkerr(CMD_PUT, PE_ILLEGAL_ARGUMENT, "invalid tag: x");
    char out[2048];
    static const char pre[] = "error: illegal argument: invalid tag: x: ";
    size_t pl = sizeof(pre) - 1;

    /* exactly 200 bytes: echoed whole */
    size_t n = framed_error_line(&e, in, 200, out, sizeof(out));
    ck_assert_uint_eq(n, pl + 200);
    ck_assert_int_eq(memcmp(out, pre, pl), 0);
    ck_assert_int_eq(memcmp(out + pl, in, 200), 0);

    /* longer: the first 200 bytes and "..." */
    n = framed_error_line(&e, in, 500, out, sizeof(out));
    ck_assert_uint_eq(n, pl + 203);
    ck_assert_int_eq(memcmp(out + pl, in, 200), 0);
    ck_assert_int_eq(memcmp(out + pl + 200, "...", 3), 0);

    /* a small buffer is never overrun */
    memset(out, '#', sizeof(out));
    n = framed_error_line(&e, in, 500, out, 60);
    ck_assert_uint_le(n, 60);
    ck_assert_int_eq(out[60], '#');
    ck_assert_int_eq(memcmp(out, pre, pl), 0);
}
END_TEST

/* Feeds buf as client.c does when the sink fills up every `room` points:
 * what framed_feed returns is taken off, a stopped frame comes again from
 * its start with io.skip, until everything is consumed. */
static size_t
feed_with_room(const char *buf, size_t len, int room)
{
    size_t off = 0, stops = 0;
    F.room = room;
    while (off < len) {
        size_t need = 0;
        enum framed_status st;
        uint32_t bad = 0;
        size_t c = framed_feed(&F.io, buf + off, len - off, &need, &st, &bad);
        off += c;
        if (!F.io.blocked) {
            ck_assert_uint_eq(off, len);
            break;
        }
        ck_assert(F.io.skip > 0 || c > 0 || F.nemit > 0);
        stops++;
        ck_assert_uint_lt(stops, 100000);
        F.full = false;
        F.room = room;
    }
    return stops;
}

static size_t
text_frame(char *out, int first, int n, bool put)
{
    char payload[8192];
    size_t pl = 0;
    for (int i = first; i < first + n; i++)
        pl += (size_t)snprintf(payload + pl, sizeof(payload) - pl, "%ssys.m %d %d host=a\n",
                               put ? "put " : "", 1500000000 + i, i);
    framed_put_len(out, (uint32_t)pl);
    memcpy(out + 4, payload, pl);
    return pl + 4;
}

/* The sink fills up inside frames: each frame carries on from the line
 * where it stopped (io.skip), every point exactly once, in order, and a
 * frame is counted once, when it is done. */
START_TEST(test_resume_inside_text_frames)
{
    char buf[65536];
    size_t n = 0;
    for (int f = 0; f < 5; f++)
        n += text_frame(buf + n, f * 20, 20, f % 2 == 0);
    size_t stops = feed_with_room(buf, n, 7);
    ck_assert_uint_ge(stops, 14);
    ck_assert_int_eq(F.nemit, 100);
    ck_assert_uint_eq(F.st.received, 100);
    ck_assert_uint_eq(F.fst.frames, 5);
    const char *p = F.emitted;
    for (int i = 0; i < 100; i++) {
        char want[64];
        int k = snprintf(want, sizeof(want), "put sys.m %d %d host=a\n", 1500000000 + i, i);
        ck_assert_msg(strncmp(p, want, (size_t)k) == 0, "point %d: %s", i, esc(p, 40));
        p += k;
    }
}
END_TEST

/* The same with JSON payloads: the frame is parsed again, passing over
 * the datapoints a pass already handled (errors are not repeated). */
START_TEST(test_resume_inside_json_frames)
{
    char payload[16384];
    size_t pl = 0;
    payload[pl++] = '[';
    for (int i = 0; i < 40; i++)
        pl += (size_t)snprintf(payload + pl, sizeof(payload) - pl,
                               "%s{\"metric\":\"m\",\"timestamp\":%d,\"value\":%d,"
                               "\"tags\":{\"h\":\"a\"}}%s",
                               i ? "," : "", 1500000000 + i, i, i % 10 == 3 ? ",7" : "");
    payload[pl++] = ']';
    char buf[20000];
    framed_put_len(buf, (uint32_t)pl);
    memcpy(buf + 4, payload, pl);
    size_t stops = feed_with_room(buf, pl + 4, 6);
    ck_assert_uint_ge(stops, 6);
    ck_assert_int_eq(F.nemit, 40);
    ck_assert_uint_eq(F.st.received, 44);
    ck_assert_uint_eq(F.st.invalid, 4);
    ck_assert_int_eq(F.nlines, 4); /* each error said once */
    ck_assert_uint_eq(F.fst.frames, 1);
}
END_TEST

static Suite *
framed_suite(void)
{
    Suite *s = suite_create("framed");
    TCase *tc = tcase_create("frames");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_byte_by_byte);
    tcase_add_test(tc, test_many_frames_one_buffer);
    tcase_add_test(tc, test_heartbeat_only);
    tcase_add_test(tc, test_max_frame_exact_accepted);
    tcase_add_test(tc, test_max_frame_plus_one_rejected);
    tcase_add_test(tc, test_huge_header);
    tcase_add_test(tc, test_len_helpers);
    suite_add_tcase(s, tc);

    tc = tcase_create("payloads");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_text_payload_forms);
    tcase_add_test(tc, test_text_rollup_histogram);
    tcase_add_test(tc, test_text_mixed_valid_invalid);
    tcase_add_test(tc, test_text_only_blank);
    tcase_add_test(tc, test_one_reply_frame_per_payload);
    tcase_add_test(tc, test_json_object);
    tcase_add_test(tc, test_json_array_leading_whitespace);
    tcase_add_test(tc, test_json_invalid);
    tcase_add_test(tc, test_json_array_trailing_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_error_line_format);
    tcase_add_test(tc, test_error_line_truncation);
    tcase_add_test(tc, test_resume_inside_text_frames);
    tcase_add_test(tc, test_resume_inside_json_frames);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(framed_suite)

/*
 * check_telnet.c -- unit tests for telnet.c: line splitting across feeds
 * ("\n", "\r\n", a lone "\r" kept), several lines per feed, command
 * dispatch (put/rollup/histogram to the sink, version/stats/status/help/exit to
 * the owner, diediedie/dropcaches refused, the TSD's unknown-command reply
 * for blank lines, a leading space and wrong case), the max-line-bytes
 * discard mode, the ingest_stats counters, and the first bytes an auto
 * listener answers as neither telnet nor HTTP.  The sink and the
 * connection callbacks are fakes that record everything in buffers.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "input/ingest.h"
#include "base/point.h"
#include "input/telnet.h"
#include "unit.h"
#include "base/util.h"

static struct {
    struct telnet_io io;
    struct sink sink;
    struct ingest_stats st;
    struct point_rules rules;
    char emitted[16384];    /* canonical lines, concatenated */
    size_t emitted_len;
    int nemit;
    int room;                /* points taken before the sink is full; 0: no bound */
    bool full;
    char replies[16384];    /* reply lines, each followed by "\n" */
    size_t replies_len;
    int nreply;
    enum telnet_cmd cmds[32];
    int ncmd;
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
fake_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
           const void *json_dp)
{
    ck_assert_ptr_eq(s, &F.sink);
    ck_assert_ptr_null(json_dp);
    ck_assert_ptr_nonnull(input);
    telnet_report_error(&F.io, e);
}

static void
fake_reply(struct telnet_io *io, const char *text, size_t len)
{
    ck_assert_ptr_eq(io, &F.io);
    ck_assert_uint_le(F.replies_len + len + 1, sizeof(F.replies));
    memcpy(F.replies + F.replies_len, text, len);
    F.replies_len += len;
    F.replies[F.replies_len++] = '\n';
    F.nreply++;
}

static bool
fake_command(struct telnet_io *io, enum telnet_cmd cmd)
{
    ck_assert_ptr_eq(io, &F.io);
    ck_assert_int_lt(F.ncmd, 32);
    F.cmds[F.ncmd++] = cmd;
    return cmd == TC_EXIT;
}

static void
setup(void)
{
    memset(&F, 0, sizeof(F));
    point_rules_init(&F.rules, 8, NULL);
    F.sink.rules = &F.rules;
    F.sink.stats = &F.st;
    F.sink.emit = fake_emit;
    F.sink.on_error = fake_error;
    F.sink.owner = &F;
    F.io.sink = &F.sink;
    F.io.max_line = 1024;
    F.io.command = fake_command;
    F.io.reply = fake_reply;
}

/* Feeds a C string in one call; returns bytes consumed. */
static size_t
feed(const char *s, bool *stop)
{
    bool dummy;
    return telnet_feed(&F.io, s, strlen(s), stop ? stop : &dummy);
}

/* Feeds like the client does: append, feed the whole buffer, drop what was
 * consumed, keep the rest.  `step` bytes are appended per call.  Returns
 * the bytes left unconsumed at the end. */
static size_t
feed_steps(const char *s, size_t len, size_t step)
{
    static char buf[70000];
    size_t have = 0;
    for (size_t off = 0; off < len;) {
        size_t k = TS_MIN(step, len - off);
        ck_assert_uint_le(have + k, sizeof(buf));
        memcpy(buf + have, s + off, k);
        have += k;
        off += k;
        bool stop = false;
        size_t c = telnet_feed(&F.io, buf, have, &stop);
        ck_assert_uint_le(c, have);
        ck_assert(!stop);
        memmove(buf, buf + c, have - c);
        have -= c;
    }
    return have;
}

#define EMITTED_IS(want)                                                                  \
    do {                                                                                  \
        ck_assert_msg(F.emitted_len == strlen(want) &&                                   \
                          memcmp(F.emitted, want, F.emitted_len) == 0,                    \
                      "emitted [%s], want [%s]", esc(F.emitted, F.emitted_len),  \
                      esc(want, strlen(want))); \
    } while (0)

#define REPLIES_ARE(want)                                                                 \
    do {                                                                                  \
        ck_assert_msg(F.replies_len == strlen(want) &&                                   \
                          memcmp(F.replies, want, F.replies_len) == 0,                    \
                      "replies [%s], want [%s]", esc(F.replies, F.replies_len),  \
                      esc(want, strlen(want)));  \
    } while (0)

#define UNKNOWN(w) "unknown command: " w ".  Try `help'.\n"

START_TEST(test_one_line)
{
    bool stop = true;
    ck_assert_uint_eq(feed("put m 1 1 a=b\n", &stop), 14);
    ck_assert(!stop);
    EMITTED_IS("put m 1 1 a=b\n");
    REPLIES_ARE("");
    ck_assert_uint_eq(F.st.received, 1);
    ck_assert_uint_eq(F.st.invalid, 0);
    ck_assert_uint_eq(F.st.commands, 0);
    ck_assert_uint_eq(F.st.too_long, 0);
}
END_TEST

START_TEST(test_partial_line_kept)
{
    ck_assert_uint_eq(feed("put m 1 1 a", NULL), 0);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_uint_eq(F.st.received, 0);
    /* the client re-feeds the kept bytes with more appended */
    ck_assert_uint_eq(feed("put m 1 1 a=b\nput m 2", NULL), 14);
    EMITTED_IS("put m 1 1 a=b\n");
    ck_assert_uint_eq(feed("put m 2 2 b=c\n", NULL), 14);
    EMITTED_IS("put m 1 1 a=b\nput m 2 2 b=c\n");
    REPLIES_ARE("");
}
END_TEST

START_TEST(test_byte_by_byte)
{
    static const char in[] = "put m 1 1 a=b\r\nversion\nput  m 1 1 a=b\nput m 2 2  b=c a=d\n";
    ck_assert_uint_eq(feed_steps(in, sizeof(in) - 1, 1), 0);
    EMITTED_IS("put m 1 1 a=b\nput m 2 2 a=d b=c\n");
    REPLIES_ARE("put: illegal argument: empty metric name\n");
    ck_assert_int_eq(F.ncmd, 1);
    ck_assert_int_eq(F.cmds[0], TC_VERSION);
    ck_assert_uint_eq(F.st.received, 3);
    ck_assert_uint_eq(F.st.invalid, 1);
    ck_assert_uint_eq(F.st.commands, 1);
}
END_TEST

START_TEST(test_odd_splits)
{
    static const char in[] = "put m 1 1 a=b\nput m 2 2 a=b\r\nput m 3 3 a=b\n";
    for (size_t step = 2; step <= 7; step++) {
        setup();
        ck_assert_uint_eq(feed_steps(in, sizeof(in) - 1, step), 0);
        EMITTED_IS("put m 1 1 a=b\nput m 2 2 a=b\nput m 3 3 a=b\n");
    }
}
END_TEST

START_TEST(test_many_lines_one_feed)
{
    static const char in[] = "put m 1 1 a=b\nput m 2 2 b=c\r\nput m 3 x c=d\nput m 4 4 d=e\nput m";
    bool stop = true;
    size_t n = telnet_feed(&F.io, in, sizeof(in) - 1, &stop);
    ck_assert(!stop);
    ck_assert_uint_eq(n, sizeof(in) - 1 - 5); /* "put m" is kept */
    EMITTED_IS("put m 1 1 a=b\nput m 2 2 b=c\nput m 4 4 d=e\n");
    REPLIES_ARE("put: invalid value: Invalid character 'x' in x\n");
    ck_assert_uint_eq(F.st.received, 4);
    ck_assert_uint_eq(F.st.invalid, 1);
}
END_TEST

START_TEST(test_lone_cr_stays_in_line)
{
    /* only the "\r" right before "\n" goes */
    ck_assert_uint_eq(feed("put m\r 1 1 a=b\n", NULL), 15);
    ck_assert_uint_eq(feed("put m 1 1 a=b\r\r\n", NULL), 16);
    ck_assert_uint_eq(feed("put m 1 1 a=b\rc=d\n", NULL), 18);
    ck_assert_int_eq(F.nemit, 0);
    REPLIES_ARE("put: illegal argument: Invalid metric name (\"m\r\"): illegal character: \r\n"
                "put: illegal argument: Invalid tag value with key [a] (\"b\r\"): illegal "
                "character: \r\n"
                "put: illegal argument: invalid tag: a=b\rc=d\n");
    ck_assert_uint_eq(F.st.invalid, 3);
}
END_TEST

START_TEST(test_cr_waits_for_lf)
{
    /* a trailing "\r" may be the first half of "\r\n" */
    ck_assert_uint_eq(feed("put m 1 1 a=b\r", NULL), 0);
    ck_assert_uint_eq(feed("put m 1 1 a=b\r\n", NULL), 15);
    EMITTED_IS("put m 1 1 a=b\n");
}
END_TEST

START_TEST(test_blank_lines)
{
    ck_assert_uint_eq(feed("\n\r\n", NULL), 3);
    REPLIES_ARE(UNKNOWN("") UNKNOWN(""));
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.ncmd, 0);
    ck_assert_uint_eq(F.st.received, 0);
    ck_assert_uint_eq(F.st.invalid, 0);
}
END_TEST

START_TEST(test_leading_space)
{
    ck_assert_uint_eq(feed(" put m 1 1 a=b\n", NULL), 15);
    REPLIES_ARE(UNKNOWN(""));
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_uint_eq(F.st.received, 0);
}
END_TEST

START_TEST(test_case_sensitive)
{
    feed("PUT m 1 1 a=b\nPut m 1 1 a=b\nVersion\nEXIT\nputs m 1 1 a=b\nput\tm 1 1 a=b\n", NULL);
    REPLIES_ARE(UNKNOWN("PUT") UNKNOWN("Put") UNKNOWN("Version") UNKNOWN("EXIT")
                UNKNOWN("puts") UNKNOWN("put\tm"));
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.ncmd, 0);
    ck_assert_uint_eq(F.st.received, 0);
}
END_TEST

START_TEST(test_unknown_latin1_word)
{
    feed("caf\xE9 1 2\n", NULL);
    REPLIES_ARE(UNKNOWN("caf\xC3\xA9"));
}
END_TEST

START_TEST(test_commands_reach_owner)
{
    bool stop = true;
    static const char in[] =
        "version\nstats\nhelp\nversion extra words\nstats  \nstatus\nstatus x\nStatus\n";
    ck_assert_uint_eq(telnet_feed(&F.io, in, sizeof(in) - 1, &stop), sizeof(in) - 1);
    ck_assert(!stop);
    ck_assert_int_eq(F.ncmd, 7);
    ck_assert_int_eq(F.cmds[0], TC_VERSION);
    ck_assert_int_eq(F.cmds[1], TC_STATS);
    ck_assert_int_eq(F.cmds[2], TC_HELP);
    ck_assert_int_eq(F.cmds[3], TC_VERSION);
    ck_assert_int_eq(F.cmds[4], TC_STATS);
    ck_assert_int_eq(F.cmds[5], TC_STATUS); /* OpenTSDB 2.5's */
    ck_assert_int_eq(F.cmds[6], TC_STATUS);
    ck_assert_uint_eq(F.st.commands, 8);
    ck_assert_uint_eq(F.st.received, 0);
    REPLIES_ARE(UNKNOWN("Status")); /* the owner answers them, not the decoder */
}
END_TEST

START_TEST(test_help_text)
{
    ck_assert_uint_eq(telnet_help_len, strlen(telnet_help_text));
    ck_assert_str_eq(telnet_help_text,
                     "available commands: put rollup histogram stats version status help exit ");
}
END_TEST

START_TEST(test_exit_stops)
{
    static const char in[] = "put m 1 1 a=b\nexit\nput m 2 2 a=b\nversion\n";
    bool stop = false;
    size_t n = telnet_feed(&F.io, in, sizeof(in) - 1, &stop);
    ck_assert(stop);
    ck_assert_uint_eq(n, 19); /* up to and including "exit\n" */
    EMITTED_IS("put m 1 1 a=b\n");
    ck_assert_int_eq(F.ncmd, 1);
    ck_assert_int_eq(F.cmds[0], TC_EXIT);
    ck_assert_uint_eq(F.st.commands, 1);

    setup();
    stop = false;
    ck_assert_uint_eq(feed("exit\r\nput m 1 1 a=b\n", &stop), 6);
    ck_assert(stop);
    ck_assert_int_eq(F.nemit, 0);
    /* the next call starts with *stop cleared */
    ck_assert_uint_eq(feed("put m 1 1 a=b\n", &stop), 14);
    ck_assert(!stop);
}
END_TEST

START_TEST(test_refused_commands)
{
    ck_assert_uint_eq(feed("diediedie\ndropcaches\ndiediedie now\n", NULL), 35);
    REPLIES_ARE("diediedie: refused: tsrelay does not let clients shut down the TSD\n"
                "dropcaches: refused: tsrelay does not forward cache flushes to the TSD\n"
                "diediedie: refused: tsrelay does not let clients shut down the TSD\n");
    ck_assert_int_eq(F.ncmd, 0);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_uint_eq(F.st.received, 0);
}
END_TEST

START_TEST(test_rollup_histogram_forwarded)
{
    feed("rollup 1h-sum m 1 1  b=2 a=1\nhistogram m 1 0 AAEC a=b\nhistogram m 1 v\n", NULL);
    EMITTED_IS("rollup 1h-sum m 1 1 a=1 b=2\nhistogram m 1 0 AAEC a=b\n");
    REPLIES_ARE("histogram: illegal argument: not enough arguments (need least 5, got 3)\n");
    ck_assert_uint_eq(F.st.received, 3);
    ck_assert_uint_eq(F.st.invalid, 1);
    ck_assert_uint_eq(F.st.commands, 0); /* data lines are not commands */
}
END_TEST

START_TEST(test_put_errors_replied)
{
    feed("put\nput m 1 1\nput m\xD7 1 1 a=b\nput m 1 1 a=b a=c\n", NULL);
    REPLIES_ARE("put: illegal argument: not enough arguments (need least 4, got 0)\n"
                "put: illegal argument: not enough arguments (need least 4, got 3)\n"
                "put: illegal argument: Invalid metric name (\"m\xC3\x97\"): illegal character: "
                "\xC3\x97\n"
                "put: illegal argument: duplicate tag: a=c, tags={a=b}\n");
    ck_assert_uint_eq(F.st.received, 4);
    ck_assert_uint_eq(F.st.invalid, 4);
    ck_assert_int_eq(F.nemit, 0);
}
END_TEST

static void
fill(char *b, size_t n, char c)
{
    memset(b, c, n);
}

START_TEST(test_too_long_unterminated)
{
    F.io.max_line = 64;
    char buf[256];
    fill(buf, 100, 'x');
    bool stop = true;
    /* more than max_line without a newline: one error, everything dropped */
    ck_assert_uint_eq(telnet_feed(&F.io, buf, 100, &stop), 100);
    ck_assert(!stop);
    REPLIES_ARE("error: line too long: more than 64 bytes before a newline; discarded\n");
    ck_assert_uint_eq(F.st.too_long, 1);
    ck_assert(F.io.discarding);
    /* still inside it: dropped silently */
    ck_assert_uint_eq(telnet_feed(&F.io, buf, 50, &stop), 50);
    ck_assert_int_eq(F.nreply, 1);
    /* its end, then a good line: the connection goes on */
    ck_assert_uint_eq(feed("xxx put m 9 9 z=z\nput m 1 1 a=b\n", NULL), 32);
    ck_assert(!F.io.discarding);
    EMITTED_IS("put m 1 1 a=b\n");
    ck_assert_int_eq(F.nreply, 1);
    ck_assert_uint_eq(F.st.too_long, 1);
    ck_assert_uint_eq(F.st.received, 1);
    ck_assert_uint_eq(F.st.invalid, 0);
}
END_TEST

START_TEST(test_too_long_after_good_lines)
{
    F.io.max_line = 64;
    char buf[256];
    memcpy(buf, "put m 1 1 a=b\n", 14);
    fill(buf + 14, 70, 'y');
    ck_assert_uint_eq(telnet_feed(&F.io, buf, 84, &(bool){ false }), 84);
    EMITTED_IS("put m 1 1 a=b\n");
    ck_assert_int_eq(F.nreply, 1);
    ck_assert_uint_eq(F.st.too_long, 1);
    ck_assert_uint_eq(feed("yy\nversion\n", NULL), 11);
    ck_assert_int_eq(F.ncmd, 1);
}
END_TEST

START_TEST(test_too_long_byte_by_byte)
{
    F.io.max_line = 64;
    char in[200];
    fill(in, 150, 'z');
    memcpy(in + 150, "\nput m 1 1 a=b\n", 15);
    ck_assert_uint_eq(feed_steps(in, 165, 1), 0);
    ck_assert_int_eq(F.nreply, 1); /* one reply, not one per byte */
    ck_assert_uint_eq(F.st.too_long, 1);
    EMITTED_IS("put m 1 1 a=b\n");
}
END_TEST

START_TEST(test_max_line_boundary)
{
    F.io.max_line = 64;
    /* a complete line of exactly max_line bytes is accepted */
    char line[200];
    size_t n = (size_t)snprintf(line, sizeof(line), "put m 1 1 k=");
    fill(line + n, 64 - n, 'v');
    ck_assert_uint_eq(telnet_feed(&F.io, line, 64, &(bool){ false }), 0); /* kept, not too long */
    ck_assert_int_eq(F.nreply, 0);
    line[64] = '\n';
    ck_assert_uint_eq(telnet_feed(&F.io, line, 65, &(bool){ false }), 65);
    ck_assert_int_eq(F.nemit, 1);
    /* "\r\n" does not count */
    line[64] = '\r';
    line[65] = '\n';
    ck_assert_uint_eq(telnet_feed(&F.io, line, 66, &(bool){ false }), 66);
    ck_assert_int_eq(F.nemit, 2);
    ck_assert_int_eq(F.nreply, 0);
    /* a complete line of max_line + 1 bytes is rejected */
    memcpy(line, "put m 1 1 k=", 12);
    fill(line + 12, 65 - 12, 'v');
    line[65] = '\n';
    ck_assert_uint_eq(telnet_feed(&F.io, line, 66, &(bool){ false }), 66);
    ck_assert_int_eq(F.nemit, 2);
    REPLIES_ARE("error: line too long: more than 64 bytes before a newline; discarded\n");
    ck_assert_uint_eq(F.st.too_long, 1);
    ck_assert(!F.io.discarding); /* the newline was seen: nothing to discard */
    ck_assert_uint_eq(F.st.received, 2);
}
END_TEST

START_TEST(test_complete_too_long_then_more)
{
    F.io.max_line = 32;
    static const char in[] =
        "put m 1 1 a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nput m 2 2 a=b\n";
    ck_assert_uint_eq(feed(in, NULL), sizeof(in) - 1);
    EMITTED_IS("put m 2 2 a=b\n");
    REPLIES_ARE("error: line too long: more than 32 bytes before a newline; discarded\n");
    ck_assert_uint_eq(F.st.too_long, 1);
    ck_assert_uint_eq(F.st.received, 1);
}
END_TEST

START_TEST(test_relay_line_limit)
{
    /* valid for the TSD's grammar but over its 1024-byte line: the relay's
     * own error, and the connection goes on */
    F.io.max_line = 65536;
    static char in[1200];
    size_t n = (size_t)snprintf(in, sizeof(in), "put m 1 1 k=");
    fill(in + n, 1013, 'v');
    n += 1013;
    memcpy(in + n, "\nput m 1 1 a=b\n", 15);
    n += 15;
    ck_assert_uint_eq(telnet_feed(&F.io, in, n, &(bool){ false }), n);
    EMITTED_IS("put m 1 1 a=b\n");
    REPLIES_ARE("put: illegal argument: line too long for the TSD: 1025 bytes, the limit is 1024 "
                "(a TSD closes the connection on a longer line)\n");
    ck_assert_uint_eq(F.st.too_long, 0);
    ck_assert_uint_eq(F.st.invalid, 1);
}
END_TEST

START_TEST(test_counters_mixed)
{
    F.io.max_line = 40;
    feed("put m 1 1 a=b\nput m 1 x a=b\nversion\nbogus\n"
         "put m 1 1 a=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nhelp\nput m 2 2 c=d\n",
         NULL);
    ck_assert_uint_eq(F.st.received, 3);
    ck_assert_uint_eq(F.st.invalid, 1);
    ck_assert_uint_eq(F.st.too_long, 1);
    ck_assert_int_eq(F.ncmd, 2);
    ck_assert_int_eq(F.nemit, 2);
    REPLIES_ARE("put: invalid value: Invalid character 'x' in x\n" UNKNOWN("bogus")
                "error: line too long: more than 40 bytes before a newline; discarded\n");
}
END_TEST

/* The sink fills up: telnet_feed stops before the line it could not place
 * (io.blocked), and fed again from there, takes every line exactly once;
 * commands between the points are answered once. */
START_TEST(test_stops_before_the_line_without_room)
{
    char in[8192];
    size_t n = 0;
    for (int i = 0; i < 30; i++) {
        n += (size_t)snprintf(in + n, sizeof(in) - n, "put m %d %d h=a\r\n", 1500000000 + i, i);
        if (i % 10 == 5)
            n += (size_t)snprintf(in + n, sizeof(in) - n, "version\n");
    }
    size_t off = 0;
    int stops = 0;
    F.room = 4;
    while (off < n) {
        bool stop = false;
        size_t c = telnet_feed(&F.io, in + off, n - off, &stop);
        ck_assert(!stop);
        off += c;
        if (!F.io.blocked)
            break;
        /* stopped exactly at the start of a put line */
        ck_assert(strncmp(in + off, "put m ", 6) == 0);
        stops++;
        F.full = false;
        F.room = 4;
    }
    ck_assert_uint_eq(off, n);
    ck_assert_int_eq(stops, 7);
    ck_assert_int_eq(F.nemit, 30);
    ck_assert_uint_eq(F.st.received, 30);
    ck_assert_int_eq(F.ncmd, 3);
}
END_TEST

/* An auto listener's first bytes that cannot be telnet: a byte below 0x20
 * other than tab, or 0x7f and up, in the first word; what follows the
 * command (Latin-1 in names, as the TSD takes them) is not looked at. */
START_TEST(test_foreign_start)
{
    static const struct {
        const char *bytes;
        size_t len;
        long at;
    } v[] = {
        { "\xff\xff\xff\xff", 4, 0 },                 /* a framed length over 16 MiB */
        { "\x01\x00\x00\x10put", 7, 0 },
        { "A\x00\x00\x00", 4, 1 },                     /* 'A', then the length's NUL */
        { "p\xe9t m 1 1 a=b\n", 16, 1 },                /* non-ASCII in the command */
        { "\x7f", 1, 0 },
        { "\x1b[A", 3, 0 },
        { "put m\xe9 1 1 a=caf\xe9\n", 21, -1 },        /* Latin-1 after the command */
        { "put cpu.0.cpu.user 1795448825 9467 fqdn=host  \r\n", 49, -1 }, /* collectd */
        { "put m\x00x 1 1 a=b\n", 18, -1 },              /* the point's error, not ours */
        { "st\tats\n", 7, -1 },                          /* tab: an unknown command */
        { "stats\r\n", 7, -1 },
        { "\r\n", 2, -1 },
        { " put", 4, -1 },
        { "pu", 2, -1 },                                 /* so far, a command */
        { "", 0, -1 },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(v); i++)
        ck_assert_msg(telnet_foreign_start(v[i].bytes, v[i].len) == v[i].at,
                      "case %zu: got %ld, want %ld", i,
                      telnet_foreign_start(v[i].bytes, v[i].len), v[i].at);
}
END_TEST

START_TEST(test_foreign_reply)
{
    char line[400];
    size_t n = telnet_foreign_reply("\xff\xff\xff\xffput", 7, 0, line, sizeof(line));
    ck_assert_uint_eq(n, strlen(line));
    ck_assert_str_eq(line, "error: neither telnet nor HTTP: the connection began with bytes "
                           "ff ff ff ff (byte 0 is 0xff); a framed packet starts with its "
                           "length as 4 bytes big-endian, the first of them 0 (a frame is "
                           "under 16 MiB), a telnet line with a command such as put; closing");
    n = telnet_foreign_reply("A\x00", 2, 1, line, sizeof(line));
    ck_assert_msg(strstr(line, "began with bytes 41 00 (byte 1 is 0x00)") != NULL, "%s", line);
    ck_assert_uint_eq(telnet_foreign_reply("\x01", 1, 0, line, 10), 9); /* cut, terminated */
    ck_assert_uint_eq(strlen(line), 9);
}
END_TEST

static Suite *
telnet_suite(void)
{
    Suite *s = suite_create("telnet");
    TCase *tc = tcase_create("lines");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_one_line);
    tcase_add_test(tc, test_partial_line_kept);
    tcase_add_test(tc, test_byte_by_byte);
    tcase_add_test(tc, test_odd_splits);
    tcase_add_test(tc, test_many_lines_one_feed);
    tcase_add_test(tc, test_lone_cr_stays_in_line);
    tcase_add_test(tc, test_cr_waits_for_lf);
    suite_add_tcase(s, tc);

    tc = tcase_create("commands");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_blank_lines);
    tcase_add_test(tc, test_leading_space);
    tcase_add_test(tc, test_case_sensitive);
    tcase_add_test(tc, test_unknown_latin1_word);
    tcase_add_test(tc, test_commands_reach_owner);
    tcase_add_test(tc, test_help_text);
    tcase_add_test(tc, test_exit_stops);
    tcase_add_test(tc, test_refused_commands);
    tcase_add_test(tc, test_rollup_histogram_forwarded);
    tcase_add_test(tc, test_put_errors_replied);
    tcase_add_test(tc, test_foreign_start);
    tcase_add_test(tc, test_foreign_reply);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_too_long_unterminated);
    tcase_add_test(tc, test_too_long_after_good_lines);
    tcase_add_test(tc, test_too_long_byte_by_byte);
    tcase_add_test(tc, test_max_line_boundary);
    tcase_add_test(tc, test_complete_too_long_then_more);
    tcase_add_test(tc, test_relay_line_limit);
    tcase_add_test(tc, test_counters_mixed);
    tcase_add_test(tc, test_stops_before_the_line_without_room);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(telnet_suite)

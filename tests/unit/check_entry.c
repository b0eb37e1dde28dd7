/*
 * check_entry.c -- unit tests of the spool entry format and its codec
 * (src/spool/entry.c).
 *
 * Covers: the TSR2 header byte by byte (magic, codec, zero padding, line
 * count, raw length, id, staged unix ms, little-endian); level 0 stores
 * raw even what would compress; a level > 0 compresses what shrinks (the
 * body a standard zstd frame of the raw length) and stores raw what does
 * not (random bytes, an empty block); ids unique and increasing within a
 * codec; the counters of bytes in and out; entry_peek of TSR2 and of the
 * previous format TSR1 (24 bytes, no staging time) and its decode; every
 * corrupt or truncated input is an error, never a crash or a read past
 * the input (the sanitizer and valgrind runs check that): a wrong magic,
 * an unknown codec, a short header, a raw body longer or shorter than its
 * length, a length over the decoder's buffer, a zstd body that
 * decompresses to another length or past the buffer, garbage, every
 * truncation of a compressed entry, and every single-byte change of one
 * (an error, or exactly the length its header says); a round trip of
 * 20,000 put lines in 64 KiB blocks at levels 0, 1 and 3 through a second
 * codec (another relay reading the spool), byte for byte with the line
 * counts and staging times; entry_clock_ms is the unix time; zstd's
 * compression workspace is made at init (a warm-up block) and the first
 * entries neither grow it nor count the warm-up in the byte counters.
 */
#include "autoconf.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "spool/entry.h"
#include "unit.h"
#include "base/util.h"

#define MAX_RAW 65536

static struct entry_codec E, D;

static void
setup(void)
{
    ck_assert_int_eq(entry_codec_init(&E, MAX_RAW, 3), TS_OK);
    ck_assert_int_eq(entry_codec_init(&D, MAX_RAW, 0), TS_OK);
}

static void
teardown(void)
{
    entry_codec_free(&E);
    entry_codec_free(&D);
    entry_codec_free(&E); /* twice is harmless */
}

static uint32_t
le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static uint64_t
le64(const char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* n put lines into buf; returns the length. */
static size_t
lines(char *buf, size_t cap, unsigned first, unsigned n)
{
    size_t off = 0;
    for (unsigned i = first; i < first + n; i++) {
        int w = snprintf(buf + off, cap - off, "put sys.cpu.user %u %u.%u host=web%03u cpu=%u\n",
                         1700000000u + i, i % 100, i % 7, i % 300, i % 16);
        ck_assert_int_gt(w, 0);
        ck_assert_uint_lt(off + (size_t)w, cap);
        off += (size_t)w;
    }
    return off;
}

static char data[MAX_RAW];
static char copy[2 * MAX_RAW];

START_TEST(test_header_raw)
{
    E.level = 0;
    size_t len = lines(data, sizeof(data), 0, 50);
    size_t n = entry_build(&E, data, len, 50, 1712345678901ull);
    ck_assert_uint_eq(n, ENTRY_HDR + len);
    const char *h = E.zbuf;
    ck_assert(memcmp(h, "TSR2", 4) == 0);
    ck_assert_int_eq(h[4], ENTRY_RAW);
    ck_assert_int_eq(h[5] | h[6] | h[7], 0);
    ck_assert_uint_eq(le32(h + 8), 50);
    ck_assert_uint_eq(le32(h + 12), len);
    ck_assert_uint_eq(le64(h + 16), E.id_base + 1);
    ck_assert_uint_eq(le64(h + 24), 1712345678901ull);
    ck_assert(memcmp(h + ENTRY_HDR, data, len) == 0);
    struct entry_info info;
    ck_assert_int_eq(entry_peek(h, n, &info), 0);
    ck_assert_uint_eq(info.lines, 50);
    ck_assert_uint_eq(info.raw, len);
    ck_assert_uint_eq(info.id, E.id_base + 1);
    ck_assert_uint_eq(info.staged_ms, 1712345678901ull);
    ck_assert_int_eq(entry_decode(&D, h, n, &info), (long)len);
    ck_assert(memcmp(D.dbuf, data, len) == 0);
    ck_assert_uint_eq(E.raw_bytes, len);
    ck_assert_uint_eq(E.stored_bytes, n);
}
END_TEST

START_TEST(test_compressed_when_smaller)
{
    size_t len = lines(data, sizeof(data), 0, 1000);
    size_t n = entry_build(&E, data, len, 1000, 7);
    ck_assert_int_eq(E.zbuf[4], ENTRY_ZSTD);
    ck_assert_uint_lt(n, ENTRY_HDR + len / 2);
    ck_assert_uint_eq(le32(E.zbuf + 12), len);
    /* the body is a standard zstd frame of the raw length */
    ck_assert_uint_eq(ZSTD_getFrameContentSize(E.zbuf + ENTRY_HDR, n - ENTRY_HDR), len);
    struct entry_info info;
    ck_assert_int_eq(entry_decode(&D, E.zbuf, n, &info), (long)len);
    ck_assert(memcmp(D.dbuf, data, len) == 0);
    ck_assert_uint_eq(info.lines, 1000);
    ck_assert_uint_eq(info.staged_ms, 7);
    ck_assert_uint_eq(E.raw_bytes, len);
    ck_assert_uint_eq(E.stored_bytes, n);
    /* the same lines at level 0: raw */
    E.level = 0;
    ck_assert_uint_eq(entry_build(&E, data, len, 1000, 7), ENTRY_HDR + len);
    ck_assert_int_eq(E.zbuf[4], ENTRY_RAW);
}
END_TEST

START_TEST(test_raw_when_not_smaller)
{
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < 4096; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        data[i] = (char)(s >> 32);
    }
    size_t n = entry_build(&E, data, 4096, 1, 1);
    ck_assert_int_eq(E.zbuf[4], ENTRY_RAW);
    ck_assert_uint_eq(n, ENTRY_HDR + 4096);
    struct entry_info info;
    ck_assert_int_eq(entry_decode(&D, E.zbuf, n, &info), 4096);
    ck_assert(memcmp(D.dbuf, data, 4096) == 0);
    /* empty */
    n = entry_build(&E, data, 0, 0, 1);
    ck_assert_uint_eq(n, ENTRY_HDR);
    ck_assert_int_eq(E.zbuf[4], ENTRY_RAW);
    ck_assert_int_eq(entry_decode(&D, E.zbuf, n, &info), 0);
}
END_TEST

START_TEST(test_ids_unique)
{
    size_t len = lines(data, sizeof(data), 0, 3);
    uint64_t prev = 0;
    for (int i = 0; i < 100; i++) {
        size_t n = entry_build(&E, data, len, 3, 1);
        struct entry_info info;
        ck_assert_int_eq(entry_peek(E.zbuf, n, &info), 0);
        if (i > 0)
            ck_assert_uint_eq(info.id, prev + 1);
        prev = info.id;
    }
}
END_TEST

/* The previous format, by hand: 24 bytes, no staging time. */
static size_t
build_v1(char *out, const char *body, size_t len, uint32_t nlines, uint64_t id)
{
    memcpy(out, "TSR1", 4);
    out[4] = ENTRY_RAW;
    out[5] = out[6] = out[7] = 0;
    for (int i = 0; i < 4; i++) {
        out[8 + i] = (char)(nlines >> (8 * i));
        out[12 + i] = (char)(len >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        out[16 + i] = (char)(id >> (8 * i));
    memcpy(out + ENTRY_HDR_V1, body, len);
    return ENTRY_HDR_V1 + len;
}

START_TEST(test_previous_format)
{
    size_t len = lines(data, sizeof(data), 10, 20);
    size_t n = build_v1(copy, data, len, 20, 0x0102030405060708ull);
    struct entry_info info;
    memset(&info, 0xFF, sizeof(info));
    ck_assert_int_eq(entry_peek(copy, n, &info), 0);
    ck_assert_uint_eq(info.lines, 20);
    ck_assert_uint_eq(info.raw, len);
    ck_assert_uint_eq(info.id, 0x0102030405060708ull);
    ck_assert_uint_eq(info.staged_ms, 0);
    ck_assert_int_eq(entry_decode(&D, copy, n, &info), (long)len);
    ck_assert(memcmp(D.dbuf, data, len) == 0);
    /* a v1 header alone is too short to be a v2 one */
    memcpy(copy, "TSR2", 4);
    ck_assert_int_eq(entry_peek(copy, ENTRY_HDR_V1, &info), -1);
    ck_assert_int_eq(entry_decode(&D, copy, ENTRY_HDR_V1, &info), -1);
    /* a v1 zstd entry */
    build_v1(copy, data, 0, 20, 9);
    size_t z = ZSTD_compress(copy + ENTRY_HDR_V1, sizeof(copy) - ENTRY_HDR_V1, data, len, 1);
    ck_assert(!ZSTD_isError(z));
    copy[4] = ENTRY_ZSTD;
    for (int i = 0; i < 4; i++)
        copy[12 + i] = (char)(len >> (8 * i));
    ck_assert_int_eq(entry_decode(&D, copy, ENTRY_HDR_V1 + z, &info), (long)len);
    ck_assert(memcmp(D.dbuf, data, len) == 0);
}
END_TEST

START_TEST(test_corrupt_headers)
{
    struct entry_info info;
    char junk[64] = "not an entry at all, but long enough for a header";
    ck_assert_int_eq(entry_peek(junk, sizeof(junk), &info), -1);
    ck_assert_int_eq(entry_decode(&D, junk, sizeof(junk), &info), -1);
    ck_assert_int_eq(entry_peek("TSR2", 4, &info), -1);
    ck_assert_int_eq(entry_decode(&D, "TSR2", 4, &info), -1);
    ck_assert_int_eq(entry_decode(&D, "", 0, &info), -1);
    ck_assert_int_eq(entry_decode(&D, "TSR1", 4, &info), -1);

    E.level = 0;
    size_t len = lines(data, sizeof(data), 0, 10);
    size_t n = entry_build(&E, data, len, 10, 1);
    memcpy(copy, E.zbuf, n);
    copy[4] = 2; /* unknown codec */
    ck_assert_int_eq(entry_peek(copy, n, &info), -1);
    ck_assert_int_eq(entry_decode(&D, copy, n, &info), -1);
    copy[4] = ENTRY_RAW;
    copy[0] = 't';
    ck_assert_int_eq(entry_decode(&D, copy, n, &info), -1);
    copy[0] = 'T';
    /* a raw body shorter or longer than its length */
    ck_assert_int_eq(entry_decode(&D, copy, n - 1, &info), -1);
    memcpy(copy + n, "x", 1);
    ck_assert_int_eq(entry_decode(&D, copy, n + 1, &info), -1);
    ck_assert_int_eq(entry_decode(&D, copy, n, &info), (long)len);
    /* a length over the decoder's buffer */
    struct entry_codec small;
    ck_assert_int_eq(entry_codec_init(&small, 100, 0), TS_OK);
    ck_assert_int_eq(entry_decode(&small, copy, n, &info), -1);
    entry_codec_free(&small);
}
END_TEST

START_TEST(test_corrupt_zstd)
{
    struct entry_info info;
    size_t len = lines(data, sizeof(data), 0, 200);
    size_t n = entry_build(&E, data, len, 200, 1);
    ck_assert_int_eq(E.zbuf[4], ENTRY_ZSTD);
    memcpy(copy, E.zbuf, n);
    /* a raw length that is not what the body holds */
    for (int d = -1; d <= 1; d += 2) {
        uint32_t raw = (uint32_t)((long)len + d);
        for (int i = 0; i < 4; i++)
            copy[12 + i] = (char)(raw >> (8 * i));
        ck_assert_int_eq(entry_decode(&D, copy, n, &info), -1);
    }
    memcpy(copy, E.zbuf, n);
    /* a body larger than the decoder's buffer (the header lies small) */
    struct entry_codec small;
    ck_assert_int_eq(entry_codec_init(&small, 1000, 0), TS_OK);
    for (int i = 0; i < 4; i++)
        copy[12 + i] = (char)(1000u >> (8 * i));
    ck_assert_int_eq(entry_decode(&small, copy, n, &info), -1);
    entry_codec_free(&small);
    memcpy(copy, E.zbuf, n);
    /* garbage for a body */
    memset(copy + ENTRY_HDR, 0x41, n - ENTRY_HDR);
    ck_assert_int_eq(entry_decode(&D, copy, n, &info), -1);
    /* every truncation */
    for (size_t k = 0; k < n; k++) {
        memcpy(copy, E.zbuf, k);
        long r = entry_decode(&D, copy, k, &info);
        if (r != -1)
            ck_abort_msg("truncated to %zu of %zu bytes: decoded %ld", k, n, r);
    }
    /* every single-byte change: the magic, the codec or the raw length
     * changed is an error; the line count, id or staging time changed
     * decodes the same lines; a changed body is an error or decodes to
     * the length the header says (zstd frames carry no checksum here) */
    for (size_t k = 0; k < n; k++) {
        memcpy(copy, E.zbuf, n);
        copy[k] ^= (char)0x5A;
        long r = entry_decode(&D, copy, n, &info);
        bool must_fail = k < 5 || (k >= 12 && k < 16);
        bool must_decode = (k >= 8 && k < 12) || (k >= 16 && k < ENTRY_HDR);
        if (must_fail && r != -1)
            ck_abort_msg("header byte %zu changed: decoded %ld", k, r);
        if (must_decode && (r != (long)len || memcmp(D.dbuf, data, len) != 0))
            ck_abort_msg("header byte %zu changed: %ld, not the %zu bytes", k, r, len);
        if (r != -1 && r != (long)len)
            ck_abort_msg("byte %zu changed: decoded %ld of %zu", k, r, len);
    }
    /* intact, it still decodes */
    ck_assert_int_eq(entry_decode(&D, E.zbuf, n, &info), (long)len);
    ck_assert(memcmp(D.dbuf, data, len) == 0);
}
END_TEST

START_TEST(test_round_trip_many_lines)
{
    const int levels[] = { 0, 1, 3 };
    static char block[MAX_RAW];
    for (size_t l = 0; l < TS_ARRAY_LEN(levels); l++) {
        struct entry_codec enc;
        ck_assert_int_eq(entry_codec_init(&enc, MAX_RAW, levels[l]), TS_OK);
        unsigned done = 0;
        int entries = 0;
        while (done < 20000) {
            /* as many lines as fit a block */
            size_t off = 0;
            unsigned n = 0;
            char line[128];
            while (done + n < 20000) {
                int w = snprintf(line, sizeof(line), "put m.%u %u %u host=h%u\n",
                                 (done + n) % 37, 1700000000u + done + n, (done + n) * 7919u,
                                 (done + n) % 1000);
                if (off + (size_t)w > sizeof(block))
                    break;
                memcpy(block + off, line, (size_t)w);
                off += (size_t)w;
                n++;
            }
            uint64_t staged = 1700000000000ull + (uint64_t)entries;
            size_t elen = entry_build(&enc, block, off, n, staged);
            ck_assert_int_eq(enc.zbuf[4], levels[l] == 0 ? ENTRY_RAW : ENTRY_ZSTD);
            /* what Redis hands back is a copy */
            memcpy(copy, enc.zbuf, elen);
            struct entry_info info;
            long r = entry_decode(&D, copy, elen, &info);
            ck_assert_int_eq(r, (long)off);
            ck_assert(memcmp(D.dbuf, block, off) == 0);
            ck_assert_uint_eq(info.lines, n);
            ck_assert_uint_eq(info.staged_ms, staged);
            unsigned nl = 0;
            for (long i = 0; i < r; i++)
                nl += D.dbuf[i] == '\n';
            ck_assert_uint_eq(nl, n);
            done += n;
            entries++;
        }
        ck_assert_int_gt(entries, 10);
        if (levels[l] > 0)
            ck_assert_uint_lt(enc.stored_bytes, enc.raw_bytes / 2);
        else
            ck_assert_uint_eq(enc.stored_bytes, enc.raw_bytes + (uint64_t)entries * ENTRY_HDR);
        entry_codec_free(&enc);
    }
}
END_TEST

START_TEST(test_clock)
{
    uint64_t before = (uint64_t)time(NULL) * 1000u;
    uint64_t ms = entry_clock_ms();
    uint64_t after = (uint64_t)time(NULL) * 1000u + 1000u;
    ck_assert_uint_ge(ms, before);
    ck_assert_uint_le(ms, after);
}
END_TEST

/* zstd makes its compression workspace at the first compression: the
 * codec's warm-up makes it at init, so entries never allocate. */
START_TEST(test_workspace_at_init)
{
    size_t at_init = ZSTD_sizeof_CCtx(E.cctx);
    ck_assert_uint_gt(at_init, 64 * 1024);
    ck_assert_uint_eq(E.raw_bytes, 0);
    ck_assert_uint_eq(E.stored_bytes, 0);
    static char block[MAX_RAW];
    size_t n = 0;
    for (int i = 0; n + 64 < sizeof(block); i++)
        n += (size_t)snprintf(block + n, sizeof(block) - n, "put sys.cpu %d %d host=h%d\n",
                              1700000000 + i, i % 97, i % 13);
    for (int k = 0; k < 3; k++)
        ck_assert_uint_gt(entry_build(&E, block, n, 1, 0), ENTRY_HDR);
    /* the same workspace (zstd's accounting of it moves by a few bytes) */
    size_t after = ZSTD_sizeof_CCtx(E.cctx);
    ck_assert_uint_lt(after > at_init ? after - at_init : at_init - after, 4096);
    ck_assert_uint_lt(ZSTD_sizeof_CCtx(D.cctx), 64 * 1024); /* level 0: no workspace */
}
END_TEST

static Suite *
entry_suite(void)
{
    Suite *s = suite_create("entry");
    TCase *t = tcase_create("entry");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30); /* valgrind: zstd is slow there */
    tcase_add_test(t, test_header_raw);
    tcase_add_test(t, test_compressed_when_smaller);
    tcase_add_test(t, test_raw_when_not_smaller);
    tcase_add_test(t, test_ids_unique);
    tcase_add_test(t, test_previous_format);
    tcase_add_test(t, test_corrupt_headers);
    tcase_add_test(t, test_corrupt_zstd);
    tcase_add_test(t, test_round_trip_many_lines);
    tcase_add_test(t, test_clock);
    tcase_add_test(t, test_workspace_at_init);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(entry_suite)

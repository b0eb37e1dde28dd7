/*
 * entry.c -- a spool entry: how a block of put lines is stored in Redis.
 *
 * Little-endian header fields; the id is a per-process base (time, pid)
 * plus a sequence, so two relays on one Redis never write the same bytes.
 * Compression is used only when it saves space.  It never allocates past
 * init: zstd's compression workspace, which zstd makes at the first use,
 * is made at init by a warm-up block (codec_warm).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "spool/entry.h"
#include "base/util.h"

static void
put32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint32_t
get32(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)(unsigned char)p[i] << (8 * i);
    return v;
}

static void
put64(char *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get64(const char *p)
{
    return (uint64_t)get32(p) | ((uint64_t)get32(p + 4) << 32);
}

uint64_t
entry_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Compresses and decompresses one block of made-up put lines with random
 * fields: zstd allocates the compression workspace at its first use, and
 * the contexts' tables are touched where the data hashes to.  Done once
 * here, both contexts are whole and resident from the start -- otherwise
 * their pages joined the RSS a few at a time over the first dozens of
 * spool outages (a creep that looked like a leak). */
static void
codec_warm(struct entry_codec *ec)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t n = 0;
    while (n + 96 < ec->dcap) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int k = snprintf(ec->dbuf + n, ec->dcap - n, "put warm.%llx %llu %llu h=%llx\n",
                         (unsigned long long)(x >> 40), (unsigned long long)(x >> 33),
                         (unsigned long long)(x & 0xFFFFF), (unsigned long long)(x >> 7));
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    size_t z = ZSTD_compressCCtx(ec->cctx, ec->zbuf, ec->zcap, ec->dbuf, n, ec->level);
    if (!ZSTD_isError(z))
        (void)ZSTD_decompressDCtx(ec->dctx, ec->dbuf, ec->dcap, ec->zbuf, z);
}

int
entry_codec_init(struct entry_codec *ec, size_t max_raw, int level)
{
    memset(ec, 0, sizeof(*ec));
    ec->level = level;
    ec->cctx = ZSTD_createCCtx();
    ec->dctx = ZSTD_createDCtx();
    ec->dcap = max_raw;
    ec->zcap = ENTRY_HDR + ZSTD_compressBound(max_raw) + 64;
    ec->zbuf = malloc(ec->zcap);
    ec->dbuf = malloc(ec->dcap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ec->id_base = ((uint64_t)ts.tv_sec << 32) ^ ((uint64_t)getpid() << 20) ^ (uint64_t)ts.tv_nsec;
    if (ec->cctx == NULL || ec->dctx == NULL || ec->zbuf == NULL || ec->dbuf == NULL) {
        entry_codec_free(ec);
        return TS_ERROR;
    }
    if (level > 0)
        codec_warm(ec);
    return TS_OK;
}

void
entry_codec_free(struct entry_codec *ec)
{
    ZSTD_freeCCtx(ec->cctx);
    ZSTD_freeDCtx(ec->dctx);
    free(ec->zbuf);
    free(ec->dbuf);
    ec->cctx = ec->dctx = NULL;
    ec->zbuf = ec->dbuf = NULL;
}

size_t
entry_build(struct entry_codec *ec, const char *data, size_t len, uint32_t lines,
            uint64_t staged_ms)
{
    char *h = ec->zbuf;
    memcpy(h, "TSR2", 4);
    h[5] = h[6] = h[7] = 0;
    put32(h + 8, lines);
    put32(h + 12, (uint32_t)len);
    put64(h + 16, ec->id_base + ++ec->id_seq);
    put64(h + 24, staged_ms);
    size_t body = 0;
    if (ec->level > 0) {
        size_t z = ZSTD_compressCCtx(ec->cctx, h + ENTRY_HDR, ec->zcap - ENTRY_HDR, data, len,
                                     ec->level);
        if (!ZSTD_isError(z) && z < len) {
            h[4] = ENTRY_ZSTD;
            body = z;
        }
    }
    if (body == 0) {
        h[4] = ENTRY_RAW;
        memcpy(h + ENTRY_HDR, data, len);
        body = len;
    }
    ec->raw_bytes += len;
    ec->stored_bytes += ENTRY_HDR + body;
    return ENTRY_HDR + body;
}

int
entry_peek(const char *v, size_t n, struct entry_info *info)
{
    memset(info, 0, sizeof(*info));
    if (n >= ENTRY_HDR && memcmp(v, "TSR2", 4) == 0)
        info->staged_ms = get64(v + 24);
    else if (!(n >= ENTRY_HDR_V1 && memcmp(v, "TSR1", 4) == 0))
        return -1;
    if (v[4] != ENTRY_RAW && v[4] != ENTRY_ZSTD)
        return -1;
    info->lines = get32(v + 8);
    info->raw = get32(v + 12);
    info->id = get64(v + 16);
    return 0;
}

long
entry_decode(struct entry_codec *ec, const char *v, size_t n, struct entry_info *info)
{
    if (entry_peek(v, n, info) != 0 || info->raw > ec->dcap)
        return -1;
    size_t hdr = memcmp(v, "TSR2", 4) == 0 ? ENTRY_HDR : ENTRY_HDR_V1;
    const char *body = v + hdr;
    size_t blen = n - hdr;
    if (v[4] == ENTRY_RAW) {
        if (blen != info->raw)
            return -1;
        memcpy(ec->dbuf, body, blen);
        return (long)info->raw;
    }
    size_t d = ZSTD_decompressDCtx(ec->dctx, ec->dbuf, ec->dcap, body, blen);
    if (ZSTD_isError(d) || d != info->raw)
        return -1;
    return (long)info->raw;
}

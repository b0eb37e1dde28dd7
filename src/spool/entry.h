/*
 * entry.h -- a spool entry: how a block of put lines is stored in Redis.
 *
 * Owns the format and its codec: a 32-byte header ("TSR2", codec, line
 * count, raw length, a unique id, the unix time in ms the first line was
 * staged) and the lines, zstd-compressed when that is smaller.  Entries of
 * the previous format ("TSR1": 24 bytes, no staging time) still decode.
 * The id makes every entry's bytes unique, so an entry can be deleted by
 * value.  It must never allocate per entry and never trust a length it
 * has not checked.
 */
#ifndef TS_ENTRY_H
#define TS_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#define ENTRY_HDR_V1 24
#define ENTRY_HDR 32
enum entry_codec_kind { ENTRY_RAW = 0, ENTRY_ZSTD = 1 };

struct entry_info {
    uint32_t lines;
    uint32_t raw;           /* bytes of lines */
    uint64_t id;
    uint64_t staged_ms;     /* unix ms; 0 for the previous format */
};

struct entry_codec {
    void *cctx, *dctx;      /* ZSTD contexts */
    char *zbuf;             /* the entry being built */
    size_t zcap;
    char *dbuf;             /* the lines being decoded */
    size_t dcap;
    int level;              /* zstd level; 0 = store raw */
    uint64_t id_base, id_seq;
    uint64_t raw_bytes;     /* counters: lines in, entry bytes out */
    uint64_t stored_bytes;
};

/* max_raw: the largest block of lines (a pool block's data). */
int entry_codec_init(struct entry_codec *ec, size_t max_raw, int level);
void entry_codec_free(struct entry_codec *ec);

/* Encodes data[0..len) (`lines` complete lines) into ec->zbuf; returns the
 * entry's length. */
size_t entry_build(struct entry_codec *ec, const char *data, size_t len, uint32_t lines,
                   uint64_t staged_ms);
/* The header of v[0..n): 0, or -1 when it is not an entry. */
int entry_peek(const char *v, size_t n, struct entry_info *info);
/* Decodes into ec->dbuf; returns the raw length, or -1 (corrupt). */
long entry_decode(struct entry_codec *ec, const char *v, size_t n, struct entry_info *info);

/* Unix time in milliseconds. */
uint64_t entry_clock_ms(void);

#endif

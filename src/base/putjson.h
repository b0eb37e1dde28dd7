/*
 * putjson.h -- a canonical line as the TSD's HTTP API reads it: one JSON
 * datapoint of POST /api/put (a put line), /api/rollup (a rollup line) or
 * /api/histogram (a histogram line), and the key that finds it again in
 * the TSD's ?details answer.
 *
 * Owns the mapping line -> JSON: names from the line's ISO-8859-1 bytes to
 * UTF-8 (what the TSD's telnet decoder makes of them), escaped; the
 * timestamp as the integer the TSD's telnet parser reads (dots removed,
 * sign and leading zeros gone); the value as a JSON number when its text
 * is one, else as a JSON string (the TSD reads both as the same text and
 * parses it with the telnet rules); tags as an object; a rollup's word as
 * interval, aggregator and groupByAggregator, split as the TSD's telnet
 * parser splits it; a histogram's value as HistogramPojo holds it: a codec
 * id and its base64 value, or the simple histogram's buckets ("lo,hi":
 * count, each bound the shortest text of its float), underflow and
 * overflow, as parseTelnet reads its text.  There is JSON, valid, for
 * every line point.c accepts but a simple histogram without a bucket
 * (telnet takes it, /api/histogram refuses it: such a line is refused as
 * unsupported) -- tests/unit/check_putjson.c and tests/fuzz/fuzz_putjson.c
 * prove it on random and fuzzed lines.  It must never allocate and never write past
 * its buffer.
 */
#ifndef TS_PUTJSON_H
#define TS_PUTJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which endpoint a line goes to. */
enum putjson_kind { PJ_PUT = 0, PJ_ROLLUP, PJ_HISTOGRAM, PJ_OTHER };

#define PUTJSON_MAX 8192   /* a datapoint's JSON at most (a line is <= 1024 bytes) */

/* The endpoint of a canonical line, by its first word. */
enum putjson_kind putjson_kind(const char *line, size_t len);

/* The JSON object of one canonical line (with or without its "\n") into
 * out; returns its length, 0 when the line is not one it knows (PJ_OTHER,
 * or words missing) or cap is too small.  *key (when key is not NULL):
 * the line's match key (putjson_key_*), to find it in an answer. */
size_t putjson_write(const char *line, size_t len, char *out, size_t cap, uint64_t *key);
/* The match key alone (0 for a line it does not know). */
uint64_t putjson_key(const char *line, size_t len);

/* The match key of a datapoint: metric, timestamp and tags (in any order),
 * strings as UTF-8.  Built in steps: begin with the metric and timestamp,
 * add each tag. */
uint64_t putjson_key_begin(const char *metric, size_t mlen, int64_t ts);
uint64_t putjson_key_tag(uint64_t key, const char *k, size_t klen, const char *v, size_t vlen);

/* One byte of a JSON string's text, escaped as JSON wants it (a quote, a
 * backslash, a control byte) into out; with latin1, a byte of 0x80 and up
 * is an ISO-8859-1 character (as the TSD's strings are) written as UTF-8,
 * otherwise it is copied (already UTF-8).  Returns the bytes written. */
size_t putjson_escape_byte(unsigned char ch, bool latin1, char out[8]);

#endif

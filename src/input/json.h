/*
 * json.h -- OpenTSDB /api/put JSON datapoints (framed JSON and HTTP bodies),
 * and /api/rollup's and /api/histogram's.
 *
 * Owns the mapping from a JSON datapoint object (metric, timestamp, value,
 * tags; a rollup's or histogram's own fields through jsonkind.h) to a
 * point, with the TSD's HTTP pre-checks and Unicode-to-ISO-8859-1
 * conversion of names (a telnet line carries Latin-1 bytes).  Numbers keep
 * their original text, as the TSD reads them.  Each datapoint is
 * independent: good ones are emitted even when others fail.  It never keeps
 * JSON past a call.
 */
#ifndef TS_JSON_H
#define TS_JSON_H

#include <stddef.h>

#include "input/ingest.h"

struct json_result {
    size_t points;   /* datapoints taken in this pass */
    size_t ok;       /* emitted */
    size_t failed;   /* rejected */
    size_t handled;  /* elements done, passes before included: the skip
                        for the next pass when this one was stopped */
};

/* Parses one document (an object or an array of objects).  Returns TS_OK
 * when the document parsed (see res for the points), or TS_ERROR with a
 * document error in doc_err: not JSON, or a syntax error part-way (the
 * datapoints before it were emitted, and are counted in res). */
int json_ingest(struct sink *s, const char *buf, size_t len, struct json_result *res,
                struct point_error *doc_err);
/* The same for datapoints of cmd (/api/put, /api/rollup,
 * /api/histogram), passing over the first `skip` elements (handled by an
 * earlier pass).  TS_EAGAIN: the sink had no room for a point;
 * res->handled says where to start next time; nothing after it was taken. */
int json_ingest_from(struct sink *s, enum point_cmd cmd, const char *buf, size_t len,
                     size_t skip, struct json_result *res, struct point_error *doc_err);

/* A document in pieces (a body inflated as it goes), one at a time:
 * begin, feed each piece, end.  feed returns TS_OK, TS_EAGAIN (stopped:
 * no room; call end, then start a new pass with skip = res->handled) or
 * TS_ERROR (a document error in doc_err; call end).  end completes the
 * parse and returns TS_OK or TS_ERROR with doc_err. */
int json_stream_begin(struct sink *s, enum point_cmd cmd, size_t skip, struct json_result *res);
int json_stream_feed(const char *buf, size_t len, struct point_error *doc_err);
int json_stream_end(struct point_error *doc_err);

/* Formats a double as the shortest text that reads back to the same value
 * and keeps a '.' or exponent (so the TSD keeps it a float).  Returns len. */
size_t json_format_double(double d, char *out, size_t cap);

/* Sets up the parser's arena (reset per document); call once at start. */
void json_init(void);

#endif

/*
 * ingest.c -- from a decoded line to a canonical put line, or an error.
 *
 * The one place a point is parsed, validated, counted and serialized for
 * telnet and framed text.  It formats into a stack buffer (a canonical line
 * is at most 1025 bytes) and never allocates.
 */
#include "autoconf.h"

#include "input/ingest.h"
#include "base/pointline.h"
#include "base/util.h"

int
ingest_line(struct sink *s, enum point_cmd cmd, bool implicit_put, const char *line,
            size_t len)
{
    struct point p;
    struct point_error err;
    s->stats->received++;
    if (pointline_parse(s->rules, cmd, implicit_put, line, len, &p, &err) != TS_OK) {
        ingest_reject(s, &err, line, len, NULL);
        return TS_ERROR;
    }
    char out[POINT_LINE_MAX + 2];
    size_t n = point_format(&p, out, sizeof(out));
    TS_ASSERT(n > 0); /* the parse bounded the canonical line */
    int rc = s->emit(s, out, n, point_output_hash(&p, out, n), &err);
    if (rc == TS_EAGAIN)
        s->stats->received--; /* not taken: it comes again */
    if (rc == TS_REFUSED) {
        ingest_refused(s, &err, line, len, NULL);
        return TS_ERROR;
    }
    return rc;
}

void
ingest_reject(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
              const void *json_dp)
{
    s->stats->invalid++;
    if (s->on_error != NULL)
        s->on_error(s, e, input, ilen, json_dp);
}

void
ingest_refused(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
               const void *json_dp)
{
    s->stats->refused++;
    if (s->on_error != NULL)
        s->on_error(s, e, input, ilen, json_dp);
}

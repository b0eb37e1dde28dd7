/*
 * json.c -- OpenTSDB /api/put JSON datapoints to canonical put lines (and
 * /api/rollup's and /api/histogram's to rollup and histogram lines).
 *
 * YAJL parses the document as a stream of events; each datapoint object is
 * assembled in a fixed scratch area and validated when its closing brace
 * arrives, so nothing is built per value and nothing is kept between
 * datapoints.  YAJL hands numbers over as their original text, which is
 * what the TSD (Jackson, reading values as strings) validates: "1.50" stays
 * "1.50", and an integer too big for 64 bits fails only its own point.
 * Names are converted from UTF-8 to the ISO-8859-1 bytes a telnet line
 * carries; a character above U+00FF cannot be relayed and is rejected.
 * A rollup's or histogram's own fields go to jsonkind.c, which checks
 * them and words the point's telnet line.  YAJL's allocations go to an
 * arena reset after every document (jsonarena.c).  A syntax error ends
 * the document: datapoints before it were already forwarded.
 */
#include "autoconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "input/json.h"
#include "input/jsonarena.h"
#include "input/jsonkind.h"
#include "base/util.h"

void
json_init(void)
{
    jsonarena_init();
}

/* ---- helpers ----------------------------------------------------------- */

size_t
json_format_double(double d, char *out, size_t cap)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, cap, "%.*g", prec, d);
        if (n < 0 || (size_t)n >= cap)
            return 0;
        if (strtod(out, NULL) == d)
            break;
    }
    if (strpbrk(out, ".eEn") == NULL) { /* keep it a float for the TSD */
        if ((size_t)n + 2 >= cap)
            return 0;
        memcpy(out + n, ".0", 3);
        n += 2;
    }
    return (size_t)n;
}

/* UTF-8 -> ISO-8859-1.  Returns bytes written, -1 if a character is above
 * U+00FF (*bad gets it), -2 if out is too small. */
static long
utf8_to_latin1(const char *in, size_t len, char *out, size_t cap, unsigned *bad)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)in[i];
        unsigned cp;
        size_t n;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < len) {
            cp = ((c & 0x1Fu) << 6) | ((unsigned char)in[i + 1] & 0x3Fu);
            n = 2;
        } else {
            /* 3- and 4-byte sequences are all above U+00FF; name it */
            cp = 0x100;
            if ((c & 0xF0) == 0xE0 && i + 2 < len)
                cp = ((c & 0x0Fu) << 12) | (((unsigned char)in[i + 1] & 0x3Fu) << 6) |
                     ((unsigned char)in[i + 2] & 0x3Fu);
            else if ((c & 0xF8) == 0xF0 && i + 3 < len)
                cp = ((c & 0x07u) << 18) | (((unsigned char)in[i + 1] & 0x3Fu) << 12) |
                     (((unsigned char)in[i + 2] & 0x3Fu) << 6) |
                     ((unsigned char)in[i + 3] & 0x3Fu);
            *bad = cp;
            return -1;
        }
        if (cp > 0xFF) {
            *bad = cp;
            return -1;
        }
        if (o >= cap)
            return -2;
        out[o++] = (char)cp;
        i += n;
    }
    return (long)o;
}

/* ---- the datapoint assembler ------------------------------------------- */

enum field { F_NONE = 0, F_METRIC, F_TS, F_VALUE, F_TAGS, F_OTHER };
enum vkind { V_MISSING = 0, V_NULL, V_TEXT, V_BAD };

struct jp {
    struct sink *s;
    struct json_result *res;
    yajl_handle h;
    const char *doc;         /* the piece being parsed */
    size_t base;             /* document offset of doc[0] */
    size_t skip;             /* elements handled by an earlier pass: pass over */
    size_t index;            /* elements (datapoints or not) finished so far */
    bool blocked;            /* the sink had no room: parse cancelled */
    bool started;            /* the first non-blank byte was checked */
    bool doc_failed;          /* a document error was reported */
    int depth;               /* maps and arrays open */
    bool root_array;
    int dp_depth;            /* depth of the datapoint map, 0 outside */
    size_t dp_start;         /* document offset of its '{' */
    size_t echo_len;         /* bytes of the datapoint from earlier pieces */
    enum point_cmd cmd;      /* what the document's datapoints are */
    enum field key;          /* field whose value comes next */
    enum jsonkind_field kfield; /* ... F_OTHER: the kind's field it is */
    bool in_tags;
    bool in_buckets;         /* a histogram's "buckets" map (its keys in tagkey) */
    /* the datapoint so far */
    enum vkind metric_kind, ts_kind, value_kind;
    bool tags_seen, tags_bad;
    int tag_entries;         /* pairs seen in "tags", converted or not */
    char tagkey[POINT_LINE_MAX * 2]; /* UTF-8 as received (a tag of a 1024-byte line) */
    size_t tagkey_len;       /* SIZE_MAX: too long */
    char metric_raw[POINT_LINE_MAX * 2]; /* UTF-8 as received */
    size_t metric_len;                   /* SIZE_MAX: too long */
    int64_t ts;
    char value[POINT_LINE_MAX + 16];
    size_t value_len;
    bool value_unrepresentable;
    size_t nested_start;     /* a nested array in the root array */
    struct point p;
    struct point_error err;  /* the error reported for this datapoint */
    struct point_error conv; /* first name conversion error, reported after
                                the TSD's own pre-checks */
    bool failed;
    bool conv_failed;
    size_t used;
    char sc[POINT_LINE_MAX * 3];   /* names, then the kind's telnet words */
    struct jsonkind kind;           /* a rollup's or histogram's own fields */
    char echo[INGEST_ECHO_MAX]; /* the open datapoint's start, from earlier pieces */
};

static void
dp_reset(struct jp *j)
{
    j->key = F_NONE;
    j->kfield = JK_NONE;
    j->in_tags = false;
    j->in_buckets = false;
    jsonkind_reset(&j->kind, j->cmd);
    j->metric_kind = j->ts_kind = j->value_kind = V_MISSING;
    j->tags_seen = j->tags_bad = false;
    j->tag_entries = 0;
    j->value_unrepresentable = false;
    j->failed = false;
    j->conv_failed = false;
    j->used = 0;
    j->p.ntags = 0;
    j->p.ntag_words = 0;
}

static void
vset(struct point_error *e, bool *flag, enum point_err_kind kind, bool relay, const char *fmt,
     va_list ap) __attribute__((format(printf, 5, 0)));

static void
vset(struct point_error *e, bool *flag, enum point_err_kind kind, bool relay, const char *fmt,
     va_list ap)
{
    if (*flag)
        return;
    *flag = true;
    e->kind = kind;
    e->cmd = CMD_PUT;
    e->relay = relay;
    int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    e->len = n < 0 ? 0 : TS_MIN((size_t)n, sizeof(e->msg) - 1);
}

/* The datapoint's error (first one wins). */
static void
set_error(struct jp *j, enum point_err_kind kind, bool relay, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
set_error(struct jp *j, enum point_err_kind kind, bool relay, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(&j->err, &j->failed, kind, relay, fmt, ap);
    va_end(ap);
}

/* A name that cannot be relayed: reported after the pre-checks. */
static void
conv_error(struct jp *j, bool relay, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conv_error(struct jp *j, bool relay, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(&j->conv, &j->conv_failed, PE_ILLEGAL_ARGUMENT, relay, fmt, ap);
    va_end(ap);
}

/* Copies a name into the scratch area as ISO-8859-1. */
static bool
take_name(struct jp *j, const char *s, size_t len, const char *what, const char **out,
          size_t *outlen)
{
    unsigned bad = 0;
    long n = utf8_to_latin1(s, len, j->sc + j->used, sizeof(j->sc) - j->used, &bad);
    if (n == -1) {
        conv_error(j, false,
                   "Invalid %s: character U+%04X cannot be relayed (the telnet protocol "
                   "carries ISO-8859-1 only)", what, bad);
        return false;
    }
    if (n == -2) {
        conv_error(j, true, "line too long for the TSD: names exceed 1024 bytes");
        return false;
    }
    *out = j->sc + j->used;
    *outlen = (size_t)n;
    j->used += (size_t)n;
    return true;
}

/* A scalar for a field of the kind's own (a rollup's, a histogram's):
 * strings go as ISO-8859-1. */
static void
kind_scalar(struct jp *j, const char *s, size_t len, enum jsonkind_type type)
{
    char buf[JSONKIND_TEXT_MAX];
    unsigned bad = 0;
    if (j->kfield == JK_NONE)
        return;
    if (type != JK_STRING) {
        jsonkind_scalar(&j->kind, j->kfield, s, len, type, true);
        return;
    }
    long n = utf8_to_latin1(s, len, buf, sizeof(buf), &bad);
    jsonkind_scalar(&j->kind, j->kfield, buf, n < 0 ? 0 : (size_t)n, type, n >= 0);
}

/* A scalar (string, number text, literal) for the current field. */
static void
field_text(struct jp *j, const char *s, size_t len, bool is_string, bool is_number)
{
    enum field f = j->key;
    j->key = F_NONE;
    switch (f) {
    case F_METRIC:
        if (!is_string) {
            j->metric_kind = V_BAD;
        } else if (len == 0) {
            j->metric_kind = V_NULL;
        } else {
            /* copied now (the parser reuses its buffer), converted at the end */
            j->metric_kind = V_TEXT;
            if (len <= sizeof(j->metric_raw)) {
                memcpy(j->metric_raw, s, len);
                j->metric_len = len;
            } else {
                j->metric_len = SIZE_MAX;
            }
        }
        break;
    case F_TS:
        j->ts_kind = V_TEXT;
        j->ts = 0;
        if (is_number || is_string) {
            /* Jackson: integer text, or a float truncated to long */
            struct point_error e2;
            int64_t v = 0;
            if (point_parse_long(s, len, &v, &e2) == TS_OK) {
                j->ts = v;
            } else if (is_number) {
                char tmp[64];
                size_t k = TS_MIN(len, sizeof(tmp) - 1);
                memcpy(tmp, s, k);
                tmp[k] = '\0';
                double d = strtod(tmp, NULL);
                j->ts = (d > 0 && d < 9.2e18) ? (int64_t)d : 0;
            }
        }
        break;
    case F_VALUE:
        if (len == 0 && is_string) {
            j->value_kind = V_NULL;
            break;
        }
        j->value_kind = V_TEXT;
        if (is_string) {
            unsigned bad = 0;
            long n = utf8_to_latin1(s, len, j->value, sizeof(j->value), &bad);
            if (n < 0) {
                j->value_unrepresentable = true;
                n = 0;
            }
            j->value_len = (size_t)n;
        } else {
            size_t k = TS_MIN(len, sizeof(j->value));
            memcpy(j->value, s, k);
            j->value_len = k;
            if (k < len)
                j->value_unrepresentable = true;
        }
        break;
    case F_TAGS:
        j->tags_seen = true;
        j->tags_bad = true;
        break;
    case F_OTHER:
        kind_scalar(j, s, len, is_string ? JK_STRING : is_number ? JK_NUMBER : JK_LITERAL);
        break;
    default:
        break;
    }
}

/* The datapoint's own text goes along whole; the consumer truncates. */
static void
reject(struct jp *j, const char *input, size_t ilen)
{
    j->res->failed++;
    j->err.cmd = j->cmd; /* a rollup's or histogram's, as the document's */
    ingest_reject(j->s, &j->err, input, ilen, NULL);
}

/* The text of the datapoint that ends at document offset end: in the
 * current piece, or its start kept in echo (at most INGEST_ECHO_MAX). */
static const char *
dp_text(struct jp *j, size_t end, size_t *ilen)
{
    *ilen = end - j->dp_start;
    if (j->dp_start >= j->base)
        return j->doc + (j->dp_start - j->base);
    size_t take = TS_MIN(end - j->base, sizeof(j->echo) - j->echo_len);
    memcpy(j->echo + j->echo_len, j->doc, take);
    j->echo_len += take;
    return j->echo;
}

/* An element of an earlier pass comes by again: true to pass over it. */
static bool
handled_before(struct jp *j)
{
    if (j->index >= j->skip)
        return false;
    j->index++;
    return true;
}

/* The TSD's HTTP pre-checks, in its order (IncomingDataPoint.validate;
 * a histogram's value is optional: HistogramPojo.validate), with the
 * relay's own for what it cannot carry.  Then the metric's name. */
static void
dp_prechecks(struct jp *j)
{
    bool need_value = j->cmd != CMD_HISTOGRAM;
    if (j->failed) {
    } else if (j->metric_kind == V_MISSING || j->metric_kind == V_NULL) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "Metric name was empty");
    } else if (j->metric_kind == V_BAD) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "Metric name must be a string");
    } else if (j->ts_kind != V_TEXT || j->ts <= 0) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "Invalid timestamp");
    } else if (need_value && (j->value_kind == V_MISSING || j->value_kind == V_NULL)) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "Empty value");
    } else if (j->value_kind == V_BAD) {
        set_error(j, PE_INVALID_VALUE, false, "value is not a number");
    } else if (j->value_unrepresentable) {
        set_error(j, PE_INVALID_VALUE, false, "Invalid character in the value");
    } else if (!j->tags_seen || j->tag_entries == 0) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "Missing tags");
    } else if (j->tags_bad) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "invalid tag: tags must map names to strings");
    }
    struct point *p = &j->p;
    if (!j->failed && j->metric_len == SIZE_MAX)
        conv_error(j, true, "line too long for the TSD: the metric name exceeds 1024 bytes");
    else if (!j->failed)
        take_name(j, j->metric_raw, j->metric_len, "metric name", &p->metric, &p->metric_len);
    if (!j->failed && j->conv_failed) {
        j->err = j->conv;
        j->failed = true;
    }
}

/* The point's own checks (a put's, or the kind's) on its fields; tsbuf
 * holds the timestamp's text.  TS_OK or TS_ERROR with j->err. */
static int
dp_check(struct jp *j, char *tsbuf, size_t tscap)
{
    struct point *p = &j->p;
    int n = snprintf(tsbuf, tscap, "%lld", (long long)j->ts);
    p->cmd = j->cmd;
    p->spec = p->codec = NULL;
    p->spec_len = p->codec_len = 0;
    p->canon_len = p->tags_bytes = 0;
    p->tags_checked = false;
    p->timestamp = j->ts;
    p->ts = tsbuf;
    p->ts_len = (size_t)n;
    p->value = j->value;
    p->value_len = j->value_kind == V_TEXT ? j->value_len : 0;
    if (j->cmd == CMD_PUT)
        return point_check(j->s->rules, p, &j->err);
    if (jsonkind_finish(&j->kind, j->s->rules, p, j->sc + j->used, sizeof(j->sc) - j->used,
                        &j->err) != TS_OK)
        return TS_ERROR;
    return point_finish(p, &j->err);
}

/* The datapoint's closing brace: pre-checks, its checks, emit.  Returns
 * 0 to stop the parse: the sink had no room (nothing counted). */
static int
dp_finish(struct jp *j, size_t end)
{
    if (handled_before(j))
        return 1;
    size_t ilen;
    const char *input = dp_text(j, end, &ilen);
    struct point *p = &j->p;
    char tsbuf[24];
    j->res->points++;
    j->s->stats->received++;
    dp_prechecks(j);
    if (j->failed || dp_check(j, tsbuf, sizeof(tsbuf)) != TS_OK) {
        j->failed = true;
        reject(j, input, ilen);
        j->index++;
        return 1;
    }
    char out[POINT_LINE_MAX + 2];
    size_t len = point_format(p, out, sizeof(out));
    TS_ASSERT(len > 0); /* the checks bounded the canonical line */
    int rc = j->s->emit(j->s, out, len, point_output_hash(p, out, len), &j->err);
    if (rc == TS_EAGAIN) {
        j->res->points--;
        j->s->stats->received--; /* it comes again */
        j->blocked = true;
        return 0;
    }
    if (rc == TS_REFUSED) {
        j->res->failed++;
        j->err.cmd = j->cmd;
        ingest_refused(j->s, &j->err, input, ilen, NULL);
        j->index++;
        return 1;
    }
    j->res->ok++;
    j->index++;
    return 1;
}

/* A scalar where a datapoint object was expected (root array element). */
static void
not_an_object(struct jp *j, const char *text, size_t len)
{
    if (handled_before(j))
        return;
    j->index++;
    j->failed = false;
    set_error(j, PE_ILLEGAL_ARGUMENT, false, "Datapoint is not a JSON object");
    j->res->points++;
    j->s->stats->received++;
    reject(j, text, len);
}

/* ---- YAJL callbacks ----------------------------------------------------- */

/* Document offset of the parser's position. */
static size_t
offset(struct jp *j)
{
    return j->base + yajl_get_bytes_consumed(j->h);
}

/* The current piece's text from document offset start to the parser's
 * position (an element that began in an earlier piece is cut). */
static const char *
piece_from(struct jp *j, size_t start, size_t *len)
{
    size_t end = offset(j);
    if (start < j->base)
        start = j->base;
    *len = end > start ? end - start : 0;
    return j->doc + (start - j->base);
}

/* A tag whose value is not a string (number, literal, map, array). */
static void
bad_tag_value(struct jp *j)
{
    if (!j->tags_bad && j->tagkey_len != SIZE_MAX)
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "invalid tag: %.*s (the value must be a string)",
                  (int)TS_MIN(j->tagkey_len, (size_t)200), j->tagkey);
    j->tags_bad = true;
}

/* An entry of "tags": a string value under its key. */
static void
tag_scalar(struct jp *j, const char *s, size_t len, bool is_string)
{
    if (j->tagkey_len == SIZE_MAX) {
        conv_error(j, true, "line too long for the TSD: tag too long");
        return;
    }
    j->tag_entries++;
    if (!is_string) {
        bad_tag_value(j);
        return;
    }
    struct point_tag t;
    size_t kl, vl;
    if (j->conv_failed || !take_name(j, j->tagkey, j->tagkey_len, "tag name", &t.k, &kl) ||
        !take_name(j, s, len, "tag value", &t.v, &vl))
        return;
    if (kl == 0 || vl == 0) {
        set_error(j, PE_ILLEGAL_ARGUMENT, false, "invalid tag: %.*s=%.*s", (int)kl, t.k,
                  (int)vl, t.v);
        return;
    }
    t.klen = (uint32_t)kl;
    t.vlen = (uint32_t)vl;
    struct point *p = &j->p;
    for (int i = 0; i < TS_MIN(p->ntags, POINT_MAX_TAGS); i++) {
        if (p->tags[i].klen == t.klen && memcmp(p->tags[i].k, t.k, kl) == 0) {
            p->tags[i] = t; /* a repeated key: the last one wins, as in Jackson */
            return;
        }
    }
    if (p->ntags < POINT_MAX_TAGS)
        p->tags[p->ntags] = t;
    p->ntags++;
    p->ntag_words++;
}

/* An entry of a histogram's "buckets": a count under its bounds. */
static void
bucket_scalar(struct jp *j, const char *s, size_t len, enum jsonkind_type type)
{
    if (j->tagkey_len == SIZE_MAX)
        jsonkind_nested(&j->kind, JK_BUCKETS); /* no bounds are that long */
    else
        jsonkind_bucket(&j->kind, j->tagkey, j->tagkey_len, s, len, type);
}

/* Is this scalar the value of a datapoint field (or a tag)? */
static bool
scalar(struct jp *j, const char *s, size_t len, bool is_string, bool is_number)
{
    if (j->dp_depth == 0) {
        if (j->root_array && j->depth == 1) {
            /* echo the element as it was written */
            size_t end = offset(j);
            size_t back = len + (is_string ? 2 : 0);
            size_t elen;
            const char *text = piece_from(j, end >= back ? end - back : 0, &elen);
            not_an_object(j, text, elen);
        }
        return true;
    }
    if (j->in_tags && j->depth == j->dp_depth + 1) {
        tag_scalar(j, s, len, is_string);
        return true;
    }
    if (j->in_buckets && j->depth == j->dp_depth + 1) {
        bucket_scalar(j, s, len, is_string ? JK_STRING : is_number ? JK_NUMBER : JK_LITERAL);
        return true;
    }
    if (j->depth == j->dp_depth)
        field_text(j, s, len, is_string, is_number);
    return true;
}

static int
cb_null(void *ctx)
{
    struct jp *j = ctx;
    if (j->dp_depth == 0 && j->root_array && j->depth == 1) {
        not_an_object(j, "null", 4);
        return 1;
    }
    if (j->in_tags && j->depth == j->dp_depth + 1) {
        j->tag_entries++;
        bad_tag_value(j);
        return 1;
    }
    if (j->in_buckets && j->depth == j->dp_depth + 1) {
        bucket_scalar(j, "", 0, JK_NULL);
        return 1;
    }
    if (j->depth == j->dp_depth) {
        if (j->key == F_OTHER)
            kind_scalar(j, "", 0, JK_NULL);
        else if (j->key == F_VALUE)
            j->value_kind = V_NULL;
        else if (j->key == F_METRIC)
            j->metric_kind = V_NULL;
        else if (j->key == F_TS)
            j->ts_kind = V_NULL;
        else if (j->key == F_TAGS)
            j->tags_seen = false;
        j->key = F_NONE;
    }
    return 1;
}

static int
cb_boolean(void *ctx, int b)
{
    /* Jackson turns a boolean into the text "true"/"false" */
    return scalar(ctx, b ? "true" : "false", b ? 4 : 5, false, false);
}

static int
cb_number(void *ctx, const char *s, size_t len)
{
    return scalar(ctx, s, len, false, true);
}

static int
cb_string(void *ctx, const unsigned char *s, size_t len)
{
    return scalar(ctx, (const char *)s, len, true, false);
}

static int
cb_key(void *ctx, const unsigned char *s, size_t len)
{
    struct jp *j = ctx;
    if (j->dp_depth == 0)
        return 1;
    if ((j->in_tags || j->in_buckets) && j->depth == j->dp_depth + 1) {
        if (len >= sizeof(j->tagkey)) {
            j->tagkey_len = SIZE_MAX;
        } else {
            memcpy(j->tagkey, s, len);
            j->tagkey_len = len;
        }
        return 1;
    }
    if (j->depth != j->dp_depth)
        return 1;
#define KEY(name) (len == sizeof(name) - 1 && memcmp(s, name, len) == 0)
    j->key = KEY("metric") ? F_METRIC : KEY("timestamp") ? F_TS : KEY("value") ? F_VALUE
           : KEY("tags") ? F_TAGS : F_OTHER;
#undef KEY
    j->kfield = j->key == F_OTHER ? jsonkind_key(&j->kind, (const char *)s, len) : JK_NONE;
    return 1;
}

/* A map or array as the value of a field. */
static void
nested(struct jp *j)
{
    if (j->in_tags && j->depth == j->dp_depth + 1) {
        j->tag_entries++;
        bad_tag_value(j);
        return;
    }
    if (j->in_buckets && j->depth == j->dp_depth + 1)
        jsonkind_nested(&j->kind, JK_BUCKETS);
    if (j->depth != j->dp_depth)
        return;
    switch (j->key) {
    case F_METRIC: j->metric_kind = V_BAD; break;
    case F_TS: j->ts_kind = V_BAD; break;
    case F_VALUE: j->value_kind = V_BAD; break;
    case F_OTHER: jsonkind_nested(&j->kind, j->kfield); break;
    default: break;
    }
}

static int
cb_start_map(void *ctx)
{
    struct jp *j = ctx;
    if (j->dp_depth == 0 && ((j->depth == 0 && !j->root_array) ||
                             (j->depth == 1 && j->root_array))) {
        j->depth++;
        j->dp_depth = j->depth;
        j->dp_start = offset(j) - 1;
        j->echo_len = 0;
        dp_reset(j);
        return 1;
    }
    if (j->dp_depth > 0 && j->depth == j->dp_depth && j->key == F_TAGS) {
        j->key = F_NONE;
        j->in_tags = true;
        j->tags_seen = true;
        j->depth++;
        return 1;
    }
    if (j->dp_depth > 0 && j->depth == j->dp_depth && j->key == F_OTHER &&
        j->kfield == JK_BUCKETS) {
        j->key = F_NONE;
        j->in_buckets = true;
        jsonkind_buckets_begin(&j->kind);
        j->depth++;
        return 1;
    }
    nested(j);
    if (j->depth == j->dp_depth)
        j->key = F_NONE;
    j->depth++;
    return 1;
}

static int
cb_end_map(void *ctx)
{
    struct jp *j = ctx;
    if (j->depth == j->dp_depth + 1)
        j->in_tags = j->in_buckets = false;
    if (j->dp_depth > 0 && j->depth == j->dp_depth) {
        if (!dp_finish(j, offset(j)))
            return 0; /* no room: cancel, the caller comes back */
        j->dp_depth = 0;
        j->echo_len = 0;
    }
    j->depth--;
    return 1;
}

static int
cb_start_array(void *ctx)
{
    struct jp *j = ctx;
    if (j->depth == 0) {
        j->root_array = true;
        j->depth++;
        return 1;
    }
    if (j->dp_depth == 0 && j->root_array && j->depth == 1)
        j->nested_start = offset(j) - 1; /* reported at its end */
    nested(j);
    if (j->depth == j->dp_depth) {
        if (j->key == F_TAGS) {
            j->tags_seen = true;
            j->tags_bad = true;
        }
        j->key = F_NONE;
    }
    j->depth++;
    return 1;
}

static int
cb_end_array(void *ctx)
{
    struct jp *j = ctx;
    j->depth--;
    if (j->dp_depth == 0 && j->root_array && j->depth == 1) {
        /* an array inside the array: not a datapoint */
        size_t elen;
        const char *text = piece_from(j, j->nested_start, &elen);
        not_an_object(j, text, elen);
    }
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_key,
    .yajl_end_map = cb_end_map,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* One document at a time: the parser's state and its scratch are large. */
static struct jp j;

static void
doc_error(struct point_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
doc_error(struct point_error *e, const char *fmt, ...)
{
    e->cmd = j.cmd;
    e->relay = false;
    e->kind = PE_ILLEGAL_ARGUMENT;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->len = k < 0 ? 0 : TS_MIN((size_t)k, sizeof(e->msg) - 1);
}

int
json_stream_begin(struct sink *s, enum point_cmd cmd, size_t skip, struct json_result *res)
{
    memset(res, 0, sizeof(*res));
    memset(&j, 0, offsetof(struct jp, p));
    j.s = s;
    j.cmd = cmd;
    j.res = res;
    j.skip = skip;
    j.h = yajl_alloc(&callbacks, jsonarena_funcs(), &j);
    return j.h != NULL ? TS_OK : TS_ERROR;
}

/* The parse stopped: the message for doc_err, from the piece at hand.
 * yajl ends its message with a newline, which must not reach a reply
 * line (or show as \u000a in a JSON answer): line ends and other control
 * bytes become spaces, trailing ones go. */
static void
syntax_error(struct point_error *doc_err, const char *buf, size_t len)
{
    unsigned char *msg = yajl_get_error(j.h, 0, (const unsigned char *)buf, len);
    size_t n = msg ? strlen((const char *)msg) : 0;
    for (size_t i = 0; i < n; i++)
        if (msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = ' ';
    while (n > 0 && msg[n - 1] == ' ')
        msg[--n] = '\0';
    doc_error(doc_err, "Unable to parse the given JSON: %s (at byte %zu%s)",
              n > 0 ? (const char *)msg : "syntax error", offset(&j),
              j.res->points ? "; the datapoints before it were taken" : "");
    if (msg != NULL)
        yajl_free_error(j.h, msg);
}

int
json_stream_feed(const char *buf, size_t len, struct point_error *doc_err)
{
    if (!j.started) {
        size_t i = 0;
        while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
            i++;
        if (i == len)
            return TS_OK; /* blanks so far */
        j.started = true;
        if (buf[i] != '{' && buf[i] != '[') {
            j.doc_failed = true;
            doc_error(doc_err, "The JSON must start as an object or an array");
            return TS_ERROR;
        }
    }
    j.doc = buf;
    yajl_status st = yajl_parse(j.h, (const unsigned char *)buf, len);
    if (j.blocked) {
        j.res->handled = j.index;
        return TS_EAGAIN;
    }
    if (st != yajl_status_ok) {
        syntax_error(doc_err, buf, len);
        j.doc_failed = true;
        return TS_ERROR;
    }
    /* a datapoint still open: keep what echoes need of it */
    if (j.dp_depth > 0 && j.echo_len < sizeof(j.echo)) {
        size_t from = j.dp_start > j.base ? j.dp_start - j.base : 0;
        size_t take = TS_MIN(len - TS_MIN(from, len), sizeof(j.echo) - j.echo_len);
        memcpy(j.echo + j.echo_len, buf + from, take);
        j.echo_len += take;
    }
    j.base += len;
    return TS_OK;
}

int
json_stream_end(struct point_error *doc_err)
{
    int rc = TS_OK;
    if (!j.started) {
        doc_error(doc_err, "The JSON must start as an object or an array");
        rc = TS_ERROR;
    } else if (!j.doc_failed && !j.blocked) {
        j.doc = "";
        if (yajl_complete_parse(j.h) != yajl_status_ok) {
            syntax_error(doc_err, "", 0);
            rc = TS_ERROR;
        }
    }
    j.res->handled = j.index;
    yajl_free(j.h);
    j.h = NULL;
    jsonarena_reset();
    return rc;
}

int
json_ingest_from(struct sink *s, enum point_cmd cmd, const char *buf, size_t len, size_t skip,
                 struct json_result *res, struct point_error *doc_err)
{
    if (json_stream_begin(s, cmd, skip, res) != TS_OK) {
        doc_error(doc_err, "out of memory");
        return TS_ERROR;
    }
    int rc = json_stream_feed(buf, len, doc_err);
    if (rc == TS_EAGAIN) {
        json_stream_end(doc_err);
        return TS_EAGAIN;
    }
    if (rc != TS_OK) {
        json_stream_end(doc_err);
        return TS_ERROR;
    }
    return json_stream_end(doc_err);
}

int
json_ingest(struct sink *s, const char *buf, size_t len, struct json_result *res,
            struct point_error *doc_err)
{
    return json_ingest_from(s, CMD_PUT, buf, len, 0, res, doc_err);
}

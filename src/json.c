/*
 * json.c -- OpenTSDB /api/put JSON datapoints to canonical put lines.
 *
 * jansson parses the document.  Its allocations go to an arena that is
 * reset after every document, so the steady state makes no malloc calls;
 * a document that outgrows the arena falls back to malloc (counted).
 * Names are converted from UTF-8 to ISO-8859-1 bytes, since the relay
 * speaks telnet to the TSD; a character above U+00FF cannot be carried and
 * is rejected with a clear message.
 */
#include "autoconf.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

/* ---- arena allocator for jansson -------------------------------------- */

#define ARENA_BYTES (4u << 20)

static struct {
    char *base;
    size_t used;
    size_t live;           /* arena allocations not yet freed */
    size_t live_fallback;  /* malloc'd blocks not yet freed */
    uint64_t fallback_mallocs;
} arena;

struct arena_hdr {
    size_t size;
    size_t from_heap;
};

static void *
arena_malloc(size_t n)
{
    size_t need = (n + sizeof(struct arena_hdr) + 15) & ~(size_t)15;
    struct arena_hdr *h;
    if (arena.base != NULL && arena.used + need <= ARENA_BYTES) {
        h = (struct arena_hdr *)(void *)(arena.base + arena.used);
        arena.used += need;
        arena.live++;
        h->from_heap = 0;
    } else {
        h = malloc(need);
        if (h == NULL)
            return NULL;
        h->from_heap = 1;
        arena.live_fallback++;
        arena.fallback_mallocs++;
    }
    h->size = n;
    return h + 1;
}

static void
arena_free(void *p)
{
    if (p == NULL)
        return;
    struct arena_hdr *h = (struct arena_hdr *)p - 1;
    if (h->from_heap) {
        arena.live_fallback--;
        free(h);
    } else {
        arena.live--;
    }
    /* arena memory is reclaimed all at once after the document */
}

/* Reclaims the arena once nothing allocated from it is alive. */
static void
arena_reset(void)
{
    if (arena.live == 0)
        arena.used = 0;
}

void
json_init(void)
{
    if (arena.base == NULL)
        arena.base = malloc(ARENA_BYTES);
    json_set_alloc_funcs(arena_malloc, arena_free);
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

/* UTF-8 -> ISO-8859-1.  Returns bytes written, or -1 if a character is
 * above U+00FF (*bad gets it), or -2 if out is too small. */
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

/* Copies a JSON text with every integer literal of 19+ digits turned into a
 * string ("..."), so jansson can parse it.  NULL on allocation failure. */
static char *
quote_big_integers(const char *in, size_t len)
{
    size_t cap = len * 2 + 1, o = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    bool in_str = false;
    for (size_t i = 0; i < len;) {
        char c = in[i];
        if (in_str) {
            out[o++] = c;
            if (c == '\\' && i + 1 < len) {
                out[o++] = in[i + 1];
                i += 2;
                continue;
            }
            if (c == '"')
                in_str = false;
            i++;
            continue;
        }
        if (c == '"') {
            in_str = true;
            out[o++] = c;
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + (c == '-'), digits = 0;
            while (j < len && in[j] >= '0' && in[j] <= '9') {
                j++;
                digits++;
            }
            bool integer = !(j < len && (in[j] == '.' || in[j] == 'e' || in[j] == 'E'));
            if (integer && digits >= 19) {
                out[o++] = '"';
                memcpy(out + o, in + i, j - i);
                o += j - i;
                out[o++] = '"';
                i = j;
                continue;
            }
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
    return out;
}

struct scratch {
    char buf[POINT_LINE_MAX * 2];
    size_t used;
};

/* Converts a JSON string into scratch; TS_OK or TS_ERROR with err set. */
static int
take_string(struct scratch *sc, const json_t *j, const char *what, const char **out,
            size_t *outlen, struct point_error *err)
{
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    unsigned bad = 0;
    long n = utf8_to_latin1(s, len, sc->buf + sc->used, sizeof(sc->buf) - sc->used, &bad);
    if (n == -1) {
        err->kind = PE_ILLEGAL_ARGUMENT;
        err->len = (size_t)snprintf(err->msg, sizeof(err->msg),
                                    "Invalid %s: character U+%04X cannot be relayed (the "
                                    "telnet protocol carries ISO-8859-1 only)",
                                    what, bad);
        return TS_ERROR;
    }
    if (n == -2) {
        err->kind = PE_ILLEGAL_ARGUMENT;
        err->relay = true;
        err->len = (size_t)snprintf(err->msg, sizeof(err->msg),
                                    "line too long for the TSD: names exceed 1024 bytes");
        return TS_ERROR;
    }
    *out = sc->buf + sc->used;
    *outlen = (size_t)n;
    sc->used += (size_t)n;
    return TS_OK;
}

static int
precheck(struct point_error *err, const char *msg)
{
    err->kind = PE_ILLEGAL_ARGUMENT;
    err->len = (size_t)snprintf(err->msg, sizeof(err->msg), "%s", msg);
    return TS_ERROR;
}

/* One datapoint object -> validated point (fields in sc). */
static int
datapoint(const struct point_rules *rules, json_t *dp, struct scratch *sc, struct point *p,
          char *tsbuf, char *valbuf, size_t valcap, struct point_error *err)
{
    memset(p, 0, offsetof(struct point, tags));
    p->cmd = CMD_PUT;
    err->cmd = CMD_PUT;
    err->relay = false;
    if (!json_is_object(dp))
        return precheck(err, "Datapoint is not a JSON object");

    json_t *m = json_object_get(dp, "metric");
    if (m == NULL || json_is_null(m) || (json_is_string(m) && json_string_length(m) == 0))
        return precheck(err, "Metric name was empty");
    if (!json_is_string(m))
        return precheck(err, "Metric name must be a string");

    json_t *t = json_object_get(dp, "timestamp");
    int64_t ts = 0;
    if (json_is_integer(t)) {
        ts = json_integer_value(t);
    } else if (json_is_real(t)) {
        double d = json_real_value(t);
        ts = (d > 0 && d < 9.2e18) ? (int64_t)d : 0;
    } else if (json_is_string(t)) {
        struct point_error e2;
        if (point_parse_long(json_string_value(t), json_string_length(t), &ts, &e2) != TS_OK)
            ts = 0;
    }
    if (ts <= 0)
        return precheck(err, "Invalid timestamp");

    json_t *v = json_object_get(dp, "value");
    size_t vlen = 0;
    if (v == NULL || json_is_null(v)) {
        return precheck(err, "Empty value");
    } else if (json_is_integer(v)) {
        vlen = (size_t)snprintf(valbuf, valcap, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        vlen = json_format_double(json_real_value(v), valbuf, valcap);
    } else if (json_is_string(v)) {
        if (json_string_length(v) == 0)
            return precheck(err, "Empty value");
        unsigned bad;
        long n = utf8_to_latin1(json_string_value(v), json_string_length(v), valbuf, valcap,
                                &bad);
        if (n < 0) {
            /* not a number the TSD could parse either */
            err->kind = PE_INVALID_VALUE;
            err->len = (size_t)snprintf(err->msg, sizeof(err->msg), n == -1
                                        ? "Invalid character U+%04X in the value"
                                        : "Value too long", bad);
            return TS_ERROR;
        }
        vlen = (size_t)n;
        /* no line breaks may reach the put line; the TSD trims them anyway */
        for (size_t i = 0; i < vlen; i++)
            if (valbuf[i] == '\n')
                valbuf[i] = ' ';
        if (vlen == 0)
            return precheck(err, "Empty value");
    } else if (json_is_boolean(v)) {
        vlen = (size_t)snprintf(valbuf, valcap, "%s", json_is_true(v) ? "true" : "false");
    } else {
        err->kind = PE_INVALID_VALUE;
        err->len = (size_t)snprintf(err->msg, sizeof(err->msg), "value is not a number");
        return TS_ERROR;
    }

    json_t *tags = json_object_get(dp, "tags");
    if (!json_is_object(tags) || json_object_size(tags) == 0)
        return precheck(err, "Missing tags");

    if (take_string(sc, m, "metric name", &p->metric, &p->metric_len, err) != TS_OK)
        return TS_ERROR;
    p->timestamp = ts;
    p->ts = tsbuf;
    p->ts_len = (size_t)snprintf(tsbuf, 24, "%lld", (long long)ts);
    p->value = valbuf;
    p->value_len = vlen;

    const char *key;
    json_t *val;
    json_object_foreach(tags, key, val) {
        if (!json_is_string(val)) {
            err->kind = PE_ILLEGAL_ARGUMENT;
            err->len = (size_t)snprintf(err->msg, sizeof(err->msg),
                                        "invalid tag: %s (the value must be a string)", key);
            return TS_ERROR;
        }
        struct point_tag tg;
        size_t kl, vl;
        json_t *kj = json_string(key);
        int rc = take_string(sc, kj, "tag name", &tg.k, &kl, err);
        json_decref(kj);
        if (rc != TS_OK || take_string(sc, val, "tag value", &tg.v, &vl, err) != TS_OK)
            return TS_ERROR;
        if (kl == 0 || vl == 0) {
            err->kind = PE_ILLEGAL_ARGUMENT;
            err->len = (size_t)snprintf(err->msg, sizeof(err->msg), "invalid tag: %s=%s", key,
                                        json_string_value(val));
            return TS_ERROR;
        }
        tg.klen = (uint32_t)kl;
        tg.vlen = (uint32_t)vl;
        if (p->ntags < POINT_MAX_TAGS)
            p->tags[p->ntags] = tg;
        p->ntags++;
        p->ntag_words++;
    }
    return point_check(rules, p, err);
}

static int
one(struct sink *s, json_t *dp, struct json_result *res)
{
    struct scratch sc;
    struct point p;
    struct point_error err;
    char tsbuf[24];
    char valbuf[512];
    sc.used = 0;
    res->points++;
    s->stats->received++;
    if (datapoint(s->rules, dp, &sc, &p, tsbuf, valbuf, sizeof(valbuf), &err) != TS_OK) {
        char in[512];
        size_t n = json_dumpb(dp, in, sizeof(in), JSON_COMPACT | JSON_ENCODE_ANY);
        if (n > sizeof(in)) { /* json_dumpb left `in` undefined: dump, then cut */
            char *all = json_dumps(dp, JSON_COMPACT | JSON_ENCODE_ANY);
            n = all ? TS_MIN(strlen(all), sizeof(in)) : 0;
            if (all != NULL) {
                json_free_t jfree;
                memcpy(in, all, n);
                json_get_alloc_funcs(NULL, &jfree);
                jfree(all);
            }
        }
        res->failed++;
        ingest_reject(s, &err, in, n, dp);
        return TS_ERROR;
    }
    char out[POINT_LINE_MAX + 2];
    size_t n = point_format(&p, out, sizeof(out));
    s->emit(s, out, n);
    res->ok++;
    return TS_OK;
}

int
json_ingest(struct sink *s, const char *buf, size_t len, struct json_result *res,
            struct point_error *doc_err)
{
    memset(res, 0, sizeof(*res));
    doc_err->cmd = CMD_PUT;
    doc_err->relay = false;
    doc_err->kind = PE_ILLEGAL_ARGUMENT;
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (i == len || (buf[i] != '{' && buf[i] != '[')) {
        doc_err->len = (size_t)snprintf(doc_err->msg, sizeof(doc_err->msg),
                                        "The JSON must start as an object or an array");
        return TS_ERROR;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);
    if (root == NULL && strstr(jerr.text, "too big integer") != NULL) {
        /* jansson refuses integers beyond 64 bits; the TSD reads numbers as
         * text and fails only that point: quote them and parse again */
        char *q = quote_big_integers(buf, len);
        if (q != NULL) {
            root = json_loadb(q, strlen(q), 0, &jerr);
            free(q);
        }
    }
    if (root == NULL) {
        doc_err->len = (size_t)snprintf(doc_err->msg, sizeof(doc_err->msg),
                                        "Unable to parse the given JSON: %s (line %d, column %d)",
                                        jerr.text, jerr.line, jerr.column);
        arena_reset();
        return TS_ERROR;
    }
    if (json_is_array(root)) {
        size_t k;
        json_t *dp;
        json_array_foreach(root, k, dp) {
            one(s, dp, res);
        }
    } else {
        one(s, root, res);
    }
    json_decref(root);
    arena_reset();
    return TS_OK;
}

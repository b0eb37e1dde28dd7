/*
 * putanswer.c -- a TSD's answer to POST /api/put?details, read as it
 * streams in, and the table of its per-point error texts.
 *
 * The answer is {"success":n,"failed":n[,"timeouts":n],"errors":[{"datapoint":
 * {...},"error":"..."},...]} (200, or 400 when some point failed the TSD's
 * checks), or a whole-request error {"error":{"code":n,"message":"..."}}.
 * Keys come in any order (the TSD serializes a HashMap).  YAJL hands the
 * events over; the parser keeps only the entry being read (its
 * datapoint's metric, timestamp and the running sum of its tags' hashes,
 * its error text) and calls the owner back once the entry closes.  YAJL's
 * memory comes from an arena in the struct (past it: malloc, counted, and
 * charged to the budget when one is given).
 *
 * The table, from OpenTSDB's PutDataPointRpc.processDataPoint (2.4, 2.5):
 *
 *   text                                   source                      fate
 *   "Unknown metric"                       NoSuchUniqueName            final
 *   "Unable to parse value to a number"    NumberFormatException       final
 *   "Metric name was empty", "Invalid      IncomingDataPoint.validate  final
 *    timestamp", "Empty value", "Missing
 *    tags", "Unexpected null datapoint..."
 *   "Please throttle"                      PleaseThrottleException     retried, rate backs off
 *   "Storage exception: <msg>"             the write's errback (HBase, retried (throttled
 *                                          PleaseThrottleException)    when <msg> says so)
 *   "Timeout exception"                    TimeoutException            retried
 *   "Write timedout"                       sync_timeout passed         retried
 *   "Unexpected exception"                 RuntimeException (HBase     retried
 *                                          errors of UID lookups)
 *   anything else                          IllegalArgumentException    final
 *                                          (TSDB.addPoint's checks:
 *                                          tags, names, NaN, timestamp)
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>

#include "base/pool.h"
#include "base/putjson.h"
#include "base/util.h"
#include "output/putanswer.h"

/* ---- the table ------------------------------------------------------------- */

const char *
putanswer_reason_name(enum pa_reason r)
{
    static const char *const names[PA_NREASONS] = {
        "unknown_metric", "illegal_argument", "invalid_value", "invalid", "unsupported",
        "throttle",       "storage",          "timeout",       "unexpected",
    };
    return (unsigned)r < PA_NREASONS ? names[r] : "?";
}

static bool
pa_starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(s, prefix, k) == 0;
}

static bool
pa_contains_ci(const char *s, size_t n, const char *what)
{
    size_t k = strlen(what);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(s + i, what, k) == 0)
            return true;
    return false;
}

enum pa_reason
putanswer_classify(const char *s, size_t n)
{
    static const char *const invalid[] = {
        "Metric name was empty", "Invalid timestamp", "Empty value", "Missing tags",
        "Unexpected null datapoint",
    };
    if (pa_starts(s, n, "Unknown metric"))
        return PA_UNKNOWN_METRIC;
    if (pa_starts(s, n, "Unable to parse value to a number"))
        return PA_INVALID_VALUE;
    for (size_t i = 0; i < TS_ARRAY_LEN(invalid); i++)
        if (pa_starts(s, n, invalid[i]))
            return PA_INVALID;
    if (pa_starts(s, n, "Please throttle"))
        return PA_THROTTLE;
    if (pa_starts(s, n, "Storage exception:"))
        return pa_contains_ci(s, n, "throttle") ? PA_THROTTLE : PA_STORAGE;
    if (pa_starts(s, n, "Timeout exception") || pa_starts(s, n, "Write timedout"))
        return PA_TIMEOUT;
    if (pa_starts(s, n, "Unexpected exception"))
        return PA_UNEXPECTED;
    return PA_ILLEGAL_ARGUMENT;
}

/* ---- YAJL's memory ------------------------------------------------------------ */

struct pa_hdr {              /* 32 bytes: what follows stays 16-aligned */
    _Alignas(16) size_t size;
    size_t heap;       /* 0: in the arena; else the bytes malloc'd */
    size_t charged;    /* of them, charged to a->budget */
};

static void *
pa_malloc(void *ctx, size_t n)
{
    struct putanswer *a = ctx;
    size_t need = (n + sizeof(struct pa_hdr) + 15) & ~(size_t)15;
    struct pa_hdr *h;
    if (a->arena_used + need <= sizeof(a->arena)) {
        h = (struct pa_hdr *)(void *)(a->arena + a->arena_used);
        a->arena_used += need;
        h->heap = 0;
        h->charged = 0;
    } else {
        /* YAJL does not survive a NULL here: refused by the budget, the
         * bytes are taken uncharged for the rest of this feed call (at
         * most its length), and the reading stops after it */
        size_t charged = 0;
        if (a->budget != NULL) {
            if (pool_charge(a->budget, need, POOL_CONTROL) == TS_OK)
                charged = need;
            else
                a->too_large = true;
        }
        h = malloc(need);
        if (h == NULL) {
            if (charged != 0)
                pool_uncharge(a->budget, charged, POOL_CONTROL);
            return NULL;
        }
        h->heap = need;
        h->charged = charged;
        a->mallocs++;
        a->heap_bytes += need;
    }
    h->size = n;
    return h + 1;
}

static void
pa_free(void *ctx, void *p)
{
    struct putanswer *a = ctx;
    if (p == NULL)
        return;
    struct pa_hdr *h = (struct pa_hdr *)p - 1;
    if (h->heap != 0) {
        a->heap_bytes -= h->heap;
        if (h->charged != 0)
            pool_uncharge(a->budget, h->charged, POOL_CONTROL);
        free(h);
    }
}

static void *
pa_realloc(void *ctx, void *p, size_t n)
{
    if (p == NULL)
        return pa_malloc(ctx, n);
    struct pa_hdr *h = (struct pa_hdr *)p - 1;
    if (n <= h->size)
        return p;
    void *q = pa_malloc(ctx, n);
    if (q == NULL)
        return NULL;
    memcpy(q, p, h->size);
    pa_free(ctx, p);
    return q;
}

/* ---- the events ------------------------------------------------------------- */

enum pa_key {
    K_NONE = 0, K_SUCCESS, K_FAILED, K_TIMEOUTS, K_ERRORS, K_ERROR, K_DATAPOINT,
    K_METRIC, K_TIMESTAMP, K_TAGS, K_MESSAGE, K_DETAILS, K_OTHER,
};

static enum pa_key
pa_key_of(const unsigned char *s, size_t n)
{
    static const struct { const char *name; enum pa_key key; } names[] = {
        { "success", K_SUCCESS }, { "failed", K_FAILED },     { "timeouts", K_TIMEOUTS },
        { "errors", K_ERRORS },   { "error", K_ERROR },       { "datapoint", K_DATAPOINT },
        { "metric", K_METRIC },   { "timestamp", K_TIMESTAMP }, { "tags", K_TAGS },
        { "message", K_MESSAGE }, { "details", K_DETAILS },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(names); i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0)
            return names[i].key;
    return K_OTHER;
}

static void
pa_keep(char *dst, size_t cap, size_t *len, const unsigned char *s, size_t n)
{
    size_t room = cap - 1 - *len;
    size_t take = TS_MIN(n, room);
    memcpy(dst + *len, s, take);
    *len += take;
    dst[*len] = '\0';
}

static void
pa_entry_begin(struct putanswer *a)
{
    a->in_entry = true;
    a->dp_null = true;
    a->dp_metric = a->dp_ts = false;
    a->dp_tags = 0;
    a->text_len = 0;
    a->text[0] = '\0';
}

static void
pa_entry_end(struct putanswer *a)
{
    a->in_entry = false;
    a->errors++;
    bool has = !a->dp_null && a->dp_metric && a->dp_ts;
    uint64_t key = 0;
    if (has)
        key = putjson_key_begin(a->metric, a->metric_len, a->dp_timestamp) + a->dp_tags;
    if (a->on_error != NULL)
        a->on_error(a->ctx, has, key, a->text, a->text_len);
}

static int
pa_on_start_map(void *ctx)
{
    struct putanswer *a = ctx;
    a->depth++;
    if (a->depth == 2 && a->key == K_ERROR) {
        a->in_error_obj = true;
        a->whole_error = true;
    } else if (a->depth == 3 && a->in_errors) {
        pa_entry_begin(a);
    } else if (a->depth == 4 && a->in_entry && a->key == K_DATAPOINT) {
        a->in_dp = true;
        a->dp_null = false;
    } else if (a->depth == 5 && a->in_dp && a->key == K_TAGS) {
        a->in_tags = true;
    }
    a->key = K_NONE;
    return 1;
}

static int
pa_on_end_map(void *ctx)
{
    struct putanswer *a = ctx;
    if (a->depth == 2)
        a->in_error_obj = false;
    else if (a->depth == 3 && a->in_entry)
        pa_entry_end(a);
    else if (a->depth == 4)
        a->in_dp = false;
    else if (a->depth == 5)
        a->in_tags = false;
    a->depth--;
    a->key = K_NONE;
    return 1;
}

static int
pa_on_start_array(void *ctx)
{
    struct putanswer *a = ctx;
    a->depth++;
    if (a->depth == 2 && a->key == K_ERRORS)
        a->in_errors = true;
    a->key = K_NONE;
    return 1;
}

static int
pa_on_end_array(void *ctx)
{
    struct putanswer *a = ctx;
    if (a->depth == 2)
        a->in_errors = false;
    a->depth--;
    a->key = K_NONE;
    return 1;
}

static int
pa_on_map_key(void *ctx, const unsigned char *s, size_t n)
{
    struct putanswer *a = ctx;
    if (a->in_tags && a->depth == 5) {
        a->tagk_len = 0;
        pa_keep(a->tagk, sizeof(a->tagk), &a->tagk_len, s, n);
        a->key = K_OTHER;
        return 1;
    }
    a->key = pa_key_of(s, n);
    return 1;
}

static int
pa_on_string(void *ctx, const unsigned char *s, size_t n)
{
    struct putanswer *a = ctx;
    if (a->in_tags && a->depth == 5) {
        a->dp_tags = putjson_key_tag(a->dp_tags, a->tagk, a->tagk_len, (const char *)s, n);
    } else if (a->in_dp && a->depth == 4 && a->key == K_METRIC) {
        a->metric_len = 0;
        pa_keep(a->metric, sizeof(a->metric), &a->metric_len, s, n);
        a->dp_metric = true;
    } else if (a->in_entry && a->depth == 3 && a->key == K_ERROR) {
        a->text_len = 0;
        pa_keep(a->text, sizeof(a->text), &a->text_len, s, n);
    } else if (a->in_error_obj && a->depth == 2 &&
               (a->key == K_MESSAGE || a->key == K_DETAILS)) {
        if (a->message_len > 0)
            pa_keep(a->message, sizeof(a->message), &a->message_len,
                    (const unsigned char *)": ", 2);
        pa_keep(a->message, sizeof(a->message), &a->message_len, s, n);
    }
    a->key = K_NONE;
    return 1;
}

static int
pa_on_number(void *ctx, const char *s, size_t n)
{
    struct putanswer *a = ctx;
    char buf[32];
    size_t k = TS_MIN(n, sizeof(buf) - 1);
    memcpy(buf, s, k);
    buf[k] = '\0';
    int64_t v = strtoll(buf, NULL, 10);
    if (a->depth == 1) {
        if (a->key == K_SUCCESS)
            a->has_success = true, a->success = v;
        else if (a->key == K_FAILED)
            a->has_failed = true, a->failed = v;
        else if (a->key == K_TIMEOUTS)
            a->has_timeouts = true, a->timeouts = v;
    } else if (a->in_dp && a->depth == 4 && a->key == K_TIMESTAMP) {
        a->dp_timestamp = v;
        a->dp_ts = true;
    }
    a->key = K_NONE;
    return 1;
}

static int
pa_on_scalar(void *ctx)
{
    ((struct putanswer *)ctx)->key = K_NONE;
    return 1;
}

static int
pa_on_bool(void *ctx, int b)
{
    (void)b;
    return pa_on_scalar(ctx);
}

static const yajl_callbacks pa_callbacks = {
    .yajl_null = pa_on_scalar,
    .yajl_boolean = pa_on_bool,
    .yajl_number = pa_on_number,
    .yajl_string = pa_on_string,
    .yajl_start_map = pa_on_start_map,
    .yajl_map_key = pa_on_map_key,
    .yajl_end_map = pa_on_end_map,
    .yajl_start_array = pa_on_start_array,
    .yajl_end_array = pa_on_end_array,
};

/* ---- public -------------------------------------------------------------------- */

void
putanswer_reset(struct putanswer *a)
{
    if (a->h != NULL)
        yajl_free(a->h);
    a->h = NULL;
    a->arena_used = 0;
}

void
putanswer_begin(struct putanswer *a, putanswer_error_fn on_error, void *ctx)
{
    putanswer_reset(a);
    uint64_t mallocs = a->mallocs;
    struct pool *budget = a->budget;
    memset(a, 0, offsetof(struct putanswer, arena));
    a->mallocs = mallocs;
    a->budget = budget;
    a->on_error = on_error;
    a->ctx = ctx;
    yajl_alloc_funcs af = { pa_malloc, pa_realloc, pa_free, a };
    a->h = yajl_alloc(&pa_callbacks, &af, a);
    if (a->h == NULL)
        a->syntax_error = true;
}

bool
putanswer_feed(struct putanswer *a, const char *data, size_t len)
{
    if (a->syntax_error || a->h == NULL)
        return false;
    if (yajl_parse(a->h, (const unsigned char *)data, len) != yajl_status_ok)
        a->syntax_error = true;
    if (a->heap_bytes > PA_HEAP_MAX) /* one call adds at most about len */
        a->too_large = true;
    if (a->too_large)
        a->syntax_error = true;
    return !a->syntax_error;
}

bool
putanswer_end(struct putanswer *a)
{
    if (!a->syntax_error && a->h != NULL && yajl_complete_parse(a->h) != yajl_status_ok)
        a->syntax_error = true;
    return !a->syntax_error;
}

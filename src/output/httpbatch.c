/*
 * httpbatch.c -- a batch of an HTTP backend's lane: its lines, its request
 * body, its answer's entries matched to its lines.
 *
 * A batch is a run of a lane's queue [start, end); offs[i] is where line i
 * starts in it and bits[i] what became of it.  A new batch takes the
 * unsent lines from the queue's `sent`; a retry walks the batch's lines
 * and takes those still pending.  The JSON goes straight into the body's
 * block, or into the backend's scratch buffer to be gzip-compressed into
 * it; when the compressed body would not fit its bound the batch is built
 * again with half the points.  The request's lines are kept as (key,
 * line) pairs sorted by key, so an answer's entry finds its line in
 * O(log n) and two points of the same key are told apart by being taken
 * one after the other.  It never allocates.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "output/httpbatch.h"

/* ---- lines in a lane's queue --------------------------------------------------- */

struct hb_cursor {
    const struct queue *q;
    uint64_t off;               /* the next line's stream offset */
    const char *p;              /* its bytes, while in the same block */
    size_t left;
};

/* The next line (with its "\n") without taking it; 0 at the end. */
static size_t
httpbatch_peek(struct hb_cursor *cu, const char **line)
{
    if (cu->left == 0)
        cu->left = queue_peek(cu->q, cu->off, &cu->p);
    const char *nl = cu->left > 0 ? memchr(cu->p, '\n', cu->left) : NULL;
    TS_ASSERT(cu->left == 0 || nl != NULL); /* blocks hold whole lines */
    *line = cu->p;
    return nl != NULL ? (size_t)(nl - cu->p) + 1 : 0;
}

static void
httpbatch_skip(struct hb_cursor *cu, size_t n)
{
    cu->p += n;
    cu->left -= n;
    cu->off += n;
}

/* A line of batch b refused for good: counted, logged, reported upward. */
void
httpbatch_report(struct hb_batch *b, uint32_t idx, enum pa_reason why, const char *text,
                 size_t tlen)
{
    struct hb_lane *l = b->lane;
    struct backend *be = l->hb->be;
    struct hb_cursor cu = { .q = &l->c->q, .off = b->start + b->offs[idx] };
    const char *line;
    size_t n = httpbatch_peek(&cu, &line);
    l->hb->st.rejected[why]++;
    LOG_RL(LOG_WARN, "backend %s refused a point for good (%s: %.*s): %.*s", be->cfg->name,
           putanswer_reason_name(why), (int)TS_MIN(tlen, 200), text,
           (int)(n > 0 ? TS_MIN(n - 1, 300) : 0), line);
    if (be->env->on_rejected != NULL && n > 0)
        be->env->on_rejected(be->env->ctx, be, l->c->idx, cu.off, line, n,
                             putanswer_reason_name(why), text, tlen);
}

/* ---- building a request --------------------------------------------------------- */

struct hb_out {
    char *p;
    size_t len;
    size_t cap;                 /* JSON bytes at most, "]" included */
    size_t hard;                /* the first point may take up to this */
};

static void
httpbatch_reset(struct hb_batch *b, uint64_t start)
{
    b->start = b->end = start;
    b->nlines = b->npending = b->nrejected = b->ninreq = b->nkv = 0;
    b->attempts = 0;
    b->kind = PJ_PUT;
}

/* One line's JSON into the request; false when it does not fit. */
static bool
httpbatch_put_point(struct hb_batch *b, struct hb_out *o, const char *line, size_t len,
                    uint32_t idx)
{
    size_t cap = b->ninreq == 0 ? o->hard : o->cap;
    if (o->len + 2 >= cap)
        return false;
    size_t n = putjson_write(line, len, o->p + o->len + 1, cap - o->len - 2, NULL);
    if (n == 0)
        return false;
    o->p[o->len] = b->ninreq == 0 ? '[' : ',';
    o->len += 1 + n;
    b->kv[b->nkv++] = (struct hb_kv){ .key = 0, .idx = idx, .used = 0 }; /* keyed if asked */
    b->keyed = false;
    b->bits[idx] |= HB_INREQ;
    b->ninreq++;
    return true;
}

static size_t
httpbatch_body_limit(const struct hb_backend *hb)
{
    return TS_MIN((size_t)hb->be->cfg->http_batch_bytes, hb->be->env->pool->data_size);
}

static struct hb_out
httpbatch_out_for(struct hb_backend *hb, struct hb_batch *b, bool gzip)
{
    size_t limit = httpbatch_body_limit(hb), data = hb->be->env->pool->data_size;
    if (gzip)
        return (struct hb_out){ .p = hb->json, .cap = TS_MIN(limit * HB_GZIP_RATIO, hb->json_cap),
                                .hard = hb->json_cap };
    return (struct hb_out){ .p = b->body->data, .cap = limit, .hard = data };
}

/* Closes the JSON array and makes the body (compressed with gzip).
 * false: the compressed body is over its bound (take fewer points). */
static bool
httpbatch_finish_body(struct hb_backend *hb, struct hb_batch *b, struct hb_out *o, bool gzip)
{
    o->p[o->len++] = ']';
    if (!gzip) {
        b->body_len = o->len;
        return true;
    }
    size_t cap = b->ninreq > 1 ? httpbatch_body_limit(hb) : hb->be->env->pool->data_size;
    deflateReset(&hb->zs);
    hb->zs.next_in = (Bytef *)o->p;
    hb->zs.avail_in = (uInt)o->len;
    hb->zs.next_out = (Bytef *)b->body->data;
    hb->zs.avail_out = (uInt)cap;
    if (deflate(&hb->zs, Z_FINISH) != Z_STREAM_END)
        return false;
    b->body_len = cap - hb->zs.avail_out;
    hb->st.gzip_in += o->len;
    hb->st.gzip_out += b->body_len;
    return true;
}

/* A new batch: the lane's next unsent lines, at most `most`, of one kind
 * (a line no endpoint takes is marked refused and goes with it). */
static void
httpbatch_fill_new(struct hb_lane *l, struct hb_batch *b, uint32_t most, struct hb_out *o)
{
    struct queue *q = &l->c->q;
    struct hb_cursor cu = { .q = q, .off = q->sent };
    httpbatch_reset(b, q->sent);
    b->unmatched_rounds = 0;
    while (b->nlines < most && b->nlines < l->hb->batch_cap) {
        const char *line;
        size_t n = httpbatch_peek(&cu, &line);
        if (n == 0)
            break;
        enum putjson_kind k = putjson_kind(line, n);
        uint32_t idx = b->nlines;
        b->bits[idx] = 0;
        b->offs[idx] = (uint32_t)(cu.off - b->start);
        if (k != PJ_OTHER && b->ninreq > 0 && k != b->kind)
            break; /* one endpoint per request */
        if (k != PJ_OTHER && !httpbatch_put_point(b, o, line, n, idx)) {
            if (b->ninreq > 0)
                break; /* full */
            k = PJ_OTHER; /* no JSON for it at all: refused */
        }
        if (k == PJ_OTHER) {
            b->bits[idx] = HB_UNSUP;
        } else {
            b->kind = k;
            b->bits[idx] |= HB_PENDING;
            b->npending++;
        }
        b->nlines++;
        httpbatch_skip(&cu, n);
    }
    b->end = cu.off;
}

/* A retry: the batch's lines still pending, at most `most`, into a new
 * request (those left out wait for the next try). */
static void
httpbatch_fill_retry(struct hb_lane *l, struct hb_batch *b, uint32_t most, struct hb_out *o)
{
    struct hb_cursor cu = { .q = &l->c->q, .off = b->start };
    b->ninreq = b->nkv = 0;
    for (uint32_t i = 0; i < b->nlines; i++) {
        const char *line;
        size_t n = httpbatch_peek(&cu, &line);
        b->bits[i] &= (uint8_t)~(HB_INREQ | HB_RETRY | HB_FINAL);
        if (n > 0 && (b->bits[i] & HB_PENDING) && b->ninreq < most)
            httpbatch_put_point(b, o, line, n, i);
        httpbatch_skip(&cu, n);
    }
}

/* The lines refused before sending: reported now that the batch stands. */
void
httpbatch_commit_unsupported(struct hb_batch *b)
{
    static const char why[] = "no HTTP endpoint for this line (protocol = http sends put, "
                              "rollup and histogram lines that fit a request)";
    for (uint32_t i = 0; i < b->nlines; i++) {
        if (!(b->bits[i] & HB_UNSUP))
            continue;
        b->bits[i] = 0;
        b->nrejected++;
        httpbatch_report(b, i, PA_UNSUPPORTED, why, sizeof(why) - 1);
    }
}

void
httpbatch_refuse_request(struct hb_batch *b, enum pa_reason why, const char *text, size_t tlen)
{
    for (uint32_t i = 0; i < b->nlines; i++)
        if (b->bits[i] & HB_INREQ) {
            b->bits[i] |= HB_FINAL;
            httpbatch_report(b, i, why, text, tlen);
        }
}

static int
httpbatch_kv_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct hb_kv *)a)->key, y = ((const struct hb_kv *)b)->key;
    return x < y ? -1 : x > y;
}

/* The request's lines' keys, sorted: only once an answer names a failed
 * point (most answers name none). */
static void
httpbatch_key_lines(struct hb_batch *b)
{
    struct hb_cursor cu = { .q = &b->lane->c->q, .off = b->start };
    size_t k = 0;
    for (uint32_t i = 0; i < b->nlines && k < b->nkv; i++) {
        const char *line;
        size_t n = httpbatch_peek(&cu, &line);
        if (b->kv[k].idx == i)
            b->kv[k++].key = putjson_key(line, n);
        httpbatch_skip(&cu, n);
    }
    httpbatch_sort(b);
    b->keyed = true;
}

/* The request's line with this key no entry took yet, or NULL. */
struct hb_kv *
httpbatch_find(struct hb_batch *b, uint64_t key)
{
    if (!b->keyed)
        httpbatch_key_lines(b);
    size_t lo = 0, hi = b->nkv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->kv[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < b->nkv && b->kv[lo].key == key; lo++)
        if (!b->kv[lo].used)
            return &b->kv[lo];
    return NULL;
}

/* ---- building a request (the caller's side) -------------------------------------- */

typedef void httpbatch_fill_fn(struct hb_lane *l, struct hb_batch *b, uint32_t most,
                               struct hb_out *o);

/* Fills b's request with fill, then its body; compressed past the bound,
 * again with half the points. */
static void
httpbatch_build(struct hb_backend *hb, struct hb_lane *l, struct hb_batch *b, uint32_t most,
                httpbatch_fill_fn *fill)
{
    b->gzip = hb->be->cfg->http_gzip != 0;
    for (;;) {
        struct hb_out o = httpbatch_out_for(hb, b, b->gzip);
        fill(l, b, most, &o);
        if (b->ninreq == 0 || httpbatch_finish_body(hb, b, &o, b->gzip))
            return;
        most = TS_MAX(b->ninreq / 2, 1u);
    }
}

void
httpbatch_build_new(struct hb_backend *hb, struct hb_lane *l, struct hb_batch *b, uint32_t most)
{
    httpbatch_build(hb, l, b, most, httpbatch_fill_new);
}

void
httpbatch_build_retry(struct hb_backend *hb, struct hb_lane *l, struct hb_batch *b,
                      uint32_t most)
{
    if (b->unmatched_rounds >= 2)
        most = 1; /* answers that name no point: one at a time, each failure its own */
    httpbatch_build(hb, l, b, most, httpbatch_fill_retry);
}

void
httpbatch_sort(struct hb_batch *b)
{
    qsort(b->kv, b->nkv, sizeof(b->kv[0]), httpbatch_kv_cmp);
}

uint32_t
httpbatch_decide(struct hb_batch *b, bool trust)
{
    uint32_t done = 0;
    for (uint32_t i = 0; i < b->nlines; i++) {
        uint8_t bits = b->bits[i];
        if (!(bits & HB_INREQ))
            continue;
        b->bits[i] = bits & (uint8_t)~(HB_INREQ | HB_RETRY | HB_FINAL);
        if (bits & HB_FINAL) {
            b->bits[i] &= (uint8_t)~HB_PENDING;
            b->nrejected++;
        } else if (!trust || (bits & HB_RETRY)) {
            continue; /* pending: sent again */
        } else {
            b->bits[i] &= (uint8_t)~HB_PENDING;
            b->lane->hb->st.delivered++;
        }
        b->npending--;
        done++;
    }
    return done;
}

/*
 * proxyhead.c -- the heads of a passed request and of its answer,
 * rewritten for the next hop.
 *
 * Lines are walked as received ("Name: value\r\n"); a line is kept or
 * dropped whole, never edited, except X-Forwarded-For, which is written
 * anew at the end: the client's own value(s), then the address the relay
 * saw.  No state, no allocation.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/proxyhead.h"
#include "input/httpreply.h"
#include "base/util.h"

/* One header line of a head: its name and value (trimmed), and where the
 * next line starts. */
struct proxyhead_line {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
    size_t next;             /* offset after the line's "\r\n" */
};

/* The line at off of in; false at the end. */
static bool
proxyhead_next(const char *in, size_t len, size_t off, struct proxyhead_line *l)
{
    if (off >= len)
        return false;
    const char *p = in + off, *end = in + len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *stop = eol != NULL ? eol : end;
    const char *colon = memchr(p, ':', (size_t)(stop - p));
    if (colon == NULL)
        colon = stop;
    l->name = p;
    l->nlen = (size_t)(colon - p);
    const char *v = colon < stop ? colon + 1 : stop;
    const char *ve = stop;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    l->value = v;
    l->vlen = (size_t)(ve - v);
    l->next = (size_t)((eol != NULL ? eol + 1 : end) - in);
    return true;
}

static bool
proxyhead_named(const struct proxyhead_line *l, const char *name)
{
    size_t n = strlen(name);
    return l->nlen == n && strncasecmp(l->name, name, n) == 0;
}

/* Whether token (tlen bytes) is one of the comma-separated tokens. */
static bool
proxyhead_listed(const char *tok, size_t tlen, const char *list, size_t llen)
{
    size_t i = 0;
    while (i < llen) {
        while (i < llen && (list[i] == ',' || list[i] == ' ' || list[i] == '\t'))
            i++;
        size_t s = i;
        while (i < llen && list[i] != ',' && list[i] != ' ' && list[i] != '\t')
            i++;
        if (i - s == tlen && tlen > 0 && strncasecmp(list + s, tok, tlen) == 0)
            return true;
    }
    return false;
}

bool
proxyhead_hop(const char *name, size_t nlen, const char *conn, size_t clen)
{
    static const char *const hop[] = { "Connection", "Keep-Alive", "Proxy-Connection", "TE",
                                       "Trailer", "Transfer-Encoding", "Upgrade",
                                       "Proxy-Authenticate", "Proxy-Authorization" };
    for (size_t i = 0; i < TS_ARRAY_LEN(hop); i++)
        if (strlen(hop[i]) == nlen && strncasecmp(hop[i], name, nlen) == 0)
            return true;
    return conn != NULL && proxyhead_listed(name, nlen, conn, clen);
}

size_t
proxyhead_connection_tokens(const char *in, size_t len, char *out, size_t cap)
{
    struct proxyhead_line l;
    size_t n = 0;
    for (size_t off = 0; proxyhead_next(in, len, off, &l); off = l.next) {
        if (!proxyhead_named(&l, "Connection") || l.vlen + 1 > cap - n)
            continue;
        if (n > 0)
            out[n++] = ',';
        memcpy(out + n, l.value, l.vlen);
        n += l.vlen;
    }
    return n;
}

static bool
proxyhead_put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (len > cap - *n)
        return false;
    memcpy(out + *n, s, len);
    *n += len;
    return true;
}

/* X-Forwarded-For: the client's values, then origin. */
static bool
proxyhead_forwarded(const char *in, size_t len, const char *origin, char *out, size_t cap,
                    size_t *n)
{
    struct proxyhead_line l;
    bool any = false;
    if (!proxyhead_put(out, cap, n, "X-Forwarded-For: ", 17))
        return false;
    for (size_t off = 0; proxyhead_next(in, len, off, &l); off = l.next) {
        if (!proxyhead_named(&l, "X-Forwarded-For") || l.vlen == 0)
            continue;
        if ((any && !proxyhead_put(out, cap, n, ", ", 2)) ||
            !proxyhead_put(out, cap, n, l.value, l.vlen))
            return false;
        any = true;
    }
    return (!any || proxyhead_put(out, cap, n, ", ", 2)) &&
           proxyhead_put(out, cap, n, origin, strlen(origin)) &&
           proxyhead_put(out, cap, n, "\r\n", 2);
}

size_t
proxyhead_request(const char *in, size_t len, const char *origin, char *out, size_t cap,
                  struct proxyhead_info *info)
{
    char conn[512];
    size_t clen = proxyhead_connection_tokens(in, len, conn, sizeof(conn));
    struct proxyhead_line l;
    size_t n = 0;
    memset(info, 0, sizeof(*info));
    for (size_t off = 0; proxyhead_next(in, len, off, &l); off = l.next) {
        if (proxyhead_named(&l, "Expect")) {
            info->expect_continue = l.vlen == 12 && strncasecmp(l.value, "100-continue", 12) == 0;
            continue;
        }
        if (l.nlen == 0 || proxyhead_hop(l.name, l.nlen, conn, clen) ||
            proxyhead_named(&l, "Content-Length") || proxyhead_named(&l, "X-Forwarded-For"))
            continue;
        info->has_host = info->has_host || proxyhead_named(&l, "Host");
        if (!proxyhead_put(out, cap, &n, l.name, l.nlen) ||
            !proxyhead_put(out, cap, &n, ": ", 2) ||
            !proxyhead_put(out, cap, &n, l.value, l.vlen) ||
            !proxyhead_put(out, cap, &n, "\r\n", 2))
            return 0;
    }
    if (!proxyhead_forwarded(in, len, origin, out, cap, &n))
        return 0;
    return n;
}

size_t
proxyhead_answer(char *lines, size_t len, bool drop_length)
{
    char conn[512];
    size_t clen = proxyhead_connection_tokens(lines, len, conn, sizeof(conn));
    struct proxyhead_line l;
    size_t w = 0, off = 0;
    while (proxyhead_next(lines, len, off, &l)) {
        size_t start = off;
        off = l.next;
        if (proxyhead_hop(l.name, l.nlen, conn, clen) ||
            (drop_length && proxyhead_named(&l, "Content-Length")))
            continue;
        memmove(lines + w, lines + start, off - start);
        w += off - start;
    }
    return w;
}

size_t
proxyhead_status_line(int status, const char *reason, size_t rlen, char *out, size_t cap)
{
    if (rlen == 0) {
        reason = httpreply_status_text(status);
        rlen = strlen(reason);
    }
    int n = snprintf(out, cap, "HTTP/1.1 %03d %.*s\r\n", status, (int)TS_MIN(rlen, 63), reason);
    return n > 0 ? TS_MIN((size_t)n, cap - 1) : 0;
}

/*
 * fuzz_rules.c -- libFuzzer target for the rules (rulecfg.c, pattern.c,
 * matchcache.c, rules.c, groups.c, flow.c): (rule set, point) pairs.
 *
 * Input: configuration text, a line "%%", then put/rollup/histogram
 * lines (a line without a command word is an implicit put, as framed
 * text).  The text is appended to a fixed head: [relay] with a small
 * rule-cache, backends a and b.  A file config_load refuses, or whose
 * rules do not build (pattern, back-reference, empty template), is the
 * end of that input: the refusal must name the file and a line.
 * Otherwise each valid point goes through the rules, and:
 *   - rules_apply returns TS_OK or TS_REFUSED; a refusal is PE_REFUSED,
 *     one NUL-terminated message under POINT_ERR_MAX naming a rule, and
 *     its refuse_rule is a rule of the set;
 *   - a point kept leaves as a line the TSD's checks accept: canonical
 *     (fuzz_check_emitted: a fixed point of parse and format, tags sorted
 *     and distinct, at most max-tags, <= 1024 bytes, valid timestamp and
 *     value) with the hash of that line, and goes to at least one group
 *     of the set, each of which routes it somewhere;
 *   - an unchanged point leaves as the same bytes and hash;
 *   - the same rules built with the cache off give the same verdict and
 *     the same line (the cache never changes an answer).
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pointline.h"
#include "base/config.h"
#include "base/point.h"
#include "base/util.h"
#include "core/flow.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TEXT_MAX 16384

static const char head[] = "[relay]\nlisten = 127.0.0.1:4242\nrule-cache = 16K\n"
                           "rule-match-limit = 20000\n"
                           "[backend a]\naddress = 127.0.0.1:1\n[backend b]\naddress = 127.0.0.1:2\n";

static struct config cfg;
static char text[TEXT_MAX];
static char err[CFG_ERR_MAX];

static struct flow *
fuzz_flow(void)
{
    static const char *const names[2] = { "a", "b" };
    static const bool routable[2] = { true, true };
    struct flow *f = flow_build(&cfg, names, routable, 2, err, sizeof(err));
    if (f == NULL) {
        /* "FILE:LINE: [...": the file's name and a line */
        FUZZ_CHECK(strncmp(err, "F:", 2) == 0 || strstr(err, "out of memory") != NULL);
    }
    return f;
}

static void
check_kept(const struct point_rules *pr, const struct flow *f, const struct rules_verdict *v)
{
    fuzz_check_emitted(pr, v->line, v->len, v->hash);
    FUZZ_CHECK(v->groups != 0);
    FUZZ_CHECK(f->groups.n == 64 || (v->groups >> f->groups.n) == 0);
}

/* One valid point (its canonical line) through both rule sets. */
static void
one_point(const struct point_rules *pr, struct flow *f, struct flow *g, const char *canon,
          size_t n, uint64_t h)
{
    static struct point_error why, why2;
    static char first[POINT_LINE_MAX + 2];
    struct rules_verdict v, w;
    memset(&why, 0, sizeof(why));
    int rc = rules_apply(f->rules, canon, n, h, &v, &why);
    FUZZ_CHECK(rc == TS_OK || rc == TS_REFUSED);
    size_t flen = 0;
    if (rc == TS_REFUSED) {
        FUZZ_CHECK(why.kind == PE_REFUSED);
        FUZZ_CHECK(why.len < POINT_ERR_MAX && why.msg[why.len] == '\0');
        FUZZ_CHECK(strncmp(why.msg, "rule ", 5) == 0);
        FUZZ_CHECK(v.refuse_rule >= 0 && v.refuse_rule < f->rules->nrules);
    } else if (v.drop_rule < 0) {
        check_kept(pr, f, &v);
        if (v.line == canon)
            FUZZ_CHECK(v.len == n && v.hash == h);
        int slots[CFG_MAX_BACKENDS];
        FUZZ_CHECK(flow_targets(f, v.groups, v.hash, NULL, slots) >= 1);
        memcpy(first, v.line, v.len);
        flen = v.len;
    }
    rules_commit(f->rules, &v);
    int rc2 = rules_apply(g->rules, canon, n, h, &w, &why2);
    FUZZ_CHECK(rc2 == rc);
    FUZZ_CHECK(w.drop_rule == v.drop_rule && w.refuse_rule == v.refuse_rule);
    if (rc == TS_OK && v.drop_rule < 0) {
        FUZZ_CHECK(w.len == flen && memcmp(w.line, first, flen) == 0);
        FUZZ_CHECK(w.groups == v.groups && w.hash == v.hash);
    }
    if (rc == TS_REFUSED)
        FUZZ_CHECK(why2.len == why.len && memcmp(why2.msg, why.msg, why.len) == 0);
    rules_commit(g->rules, &w);
}

static void
points(struct flow *f, struct flow *g, const char *s, size_t n)
{
    static struct point_rules pr;
    static struct point p;
    static struct point_error perr;
    static char canon[POINT_LINE_MAX + 2];
    point_rules_init(&pr, cfg.max_tags, cfg.allow_specialchars);
    while (n > 0) {
        const char *nl = memchr(s, '\n', n);
        size_t len = nl ? (size_t)(nl - s) : n;
        const char *sp = memchr(s, ' ', len);
        size_t w = sp ? (size_t)(sp - s) : len;
        enum point_cmd cmd = CMD_PUT;
        bool implicit = !(w == 3 && memcmp(s, "put", 3) == 0);
        if (w == 6 && memcmp(s, "rollup", 6) == 0)
            cmd = CMD_ROLLUP, implicit = false;
        if (w == 9 && memcmp(s, "histogram", 9) == 0)
            cmd = CMD_HISTOGRAM, implicit = false;
        if (pointline_parse(&pr, cmd, implicit, s, len, &p, &perr) == TS_OK) {
            size_t cn = point_format(&p, canon, sizeof(canon));
            one_point(&pr, f, g, canon, cn, point_output_hash(&p, canon, cn));
        }
        s += len + (nl ? 1 : 0);
        n -= len + (nl ? 1 : 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *sep = memmem(s, size, "\n%%\n", 4);
    size_t rlen = sep ? (size_t)(sep - s) + 1 : size;
    if (sizeof(head) + rlen + 32 > sizeof(text) || memchr(s, '\0', rlen) != NULL)
        return 0;
    memcpy(text, head, sizeof(head) - 1);
    memcpy(text + sizeof(head) - 1, s, rlen);
    text[sizeof(head) - 1 + rlen] = '\0';
    if (config_load_string(&cfg, "F", text, err, sizeof(err)) != TS_OK)
        return 0;
    struct flow *f = fuzz_flow();
    if (f == NULL)
        return 0;
    cfg.rule_cache_bytes = 0; /* the same rules, every pattern run each time */
    struct flow *g = fuzz_flow();
    FUZZ_CHECK(g != NULL);
    FUZZ_CHECK(g->rules->cache.nslots == 0);
    if (sep != NULL)
        points(f, g, sep + 4, size - rlen - 3);
    flow_free(f);
    flow_free(g);
    return 0;
}

/*
 * rules.c -- the relay's rules: what happens to a valid point before it
 * is routed.
 *
 * A point arrives as its canonical line.  It is opened in place: the
 * command word (and a rollup's spec), the metric, the words up to the
 * tags (timestamp, a histogram's codec id, value), and -- only when a
 * rule needs them -- the tags, as pointers into the line.  The rules run
 * in order.  A rule's match = pattern is answered by the metric cache
 * (matchcache.c: every match pattern runs once per metric name, not per
 * point); its tag = conditions run on the tag values.  Changes are made
 * to that view: a rewritten metric goes to one of two fixed buffers,
 * tags are pointers into the line or into the rule set's own text.  A
 * changed point is checked once, at the end, by the TSD's rules as a
 * point whose fields are split (those of its text, then point_check:
 * the JSON path's checks, with the TSD's error text), and written out
 * canonical into the fixed output buffer, with its new series hash; debug
 * builds (and the fuzzers) also parse that line again as text and
 * require it to read back as itself.  Counts wait for rules_commit: a point the queues had no
 * room for is offered again and must not be counted twice.  It must
 * never allocate per point.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* the metric cache hashes every point's metric: inlined, not a library call */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/pointline.h"
#include "base/histogram.h"
#include "base/javanum.h"
#include "base/log.h"
#include "base/point.h"
#include "base/rollup.h"
#include "base/rulecfg.h"
#include "base/util.h"
#include "core/rules.h"

#define RULE_MIN_LINE 10         /* the shortest canonical input: framed "m 1 1 a=b\n" */

/* The fixed per-point state of a rule set. */
struct rule_work {
    enum point_cmd cmd;
    const char *line;            /* the point as it came */
    const char *end;             /* its end, before the "\n" */
    const char *metric_end;      /* of its metric */
    size_t head_len;             /* "put " or "rollup SPEC ": before the metric */
    const char *mid;             /* " TS VALUE" (codec id too): after the metric; NULL:
                                    not read yet */
    size_t mid_len;
    const char *tagtext;         /* "k=v k=v", without the "\n" */
    size_t taglen;
    const char *metric;          /* in the line, or in mbuf[mcur] */
    size_t mlen;
    char mbuf[2][RULE_METRIC_MAX];
    int mcur;
    const uint64_t *mask;        /* the cache's answer for this metric, or NULL */
    bool mask_ready;
    struct rule_kv tags[POINT_MAX_TAGS];
    int ntags;
    bool tags_open;
    bool changed;
    int last_changer;
    int matched[CFG_MAX_RULES];
    int nmatched;
    char out[POINT_LINE_MAX + 2];
    struct point p;              /* the changed point, for point_check */
    struct point reparse;        /* debug builds: what leaves, parsed again */
    struct point_error perr;
};

/* ---- building ---------------------------------------------------------- */

static int rules_fail(const struct config *cfg, int line, const char *rule, const char *key,
                      char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static int
rules_fail(const struct config *cfg, int line, const char *rule, const char *key, char *err,
           size_t errlen, const char *fmt, ...)
{
    const struct rulecfg_err e = { .file = cfg->path, .buf = err, .len = errlen };
    va_list ap;
    va_start(ap, fmt);
    rulecfg_vfail(&e, line, "rule", rule, key, fmt, ap);
    va_end(ap);
    return TS_ERROR;
}

/* The template in parts: runs of literal bytes, and \1..\9. */
static void
rules_parse_template(struct rule *ru, const char *t, size_t n)
{
    ru->tmpl = t;
    ru->nparts = 0;
    size_t lit = 0;
    for (size_t i = 0; i <= n; i++) {
        bool ref = i + 1 < n && t[i] == '\\' && t[i + 1] >= '1' && t[i + 1] <= '9';
        if ((ref || i == n) && i > lit && ru->nparts < RULE_PARTS)
            ru->parts[ru->nparts++] = (struct rule_part){ (uint32_t)lit, (uint32_t)(i - lit), 0 };
        if (ref && ru->nparts < RULE_PARTS) {
            ru->parts[ru->nparts++] = (struct rule_part){ 0, 0, (uint32_t)(t[i + 1] - '0') };
            lit = i + 2;
            i++;
        }
    }
}

/* The template's back-references exist, and one made of nothing else is
 * proved never to be empty. */
static int
rules_check_template(const struct config *cfg, const struct cfg_rule *cr, struct rule *ru,
                     char *err, size_t errlen)
{
    const char *t = rulecfg_str(&cfg->rules, cr->metric);
    if (ru->nparts == RULE_PARTS)
        return rules_fail(cfg, cr->metric_line, ru->name, "metric", err, errlen,
                          "more than %d literal runs and back-references", RULE_PARTS - 1);
    bool literal = false, proved = false;
    for (int i = 0; i < ru->nparts; i++) {
        const struct rule_part *p = &ru->parts[i];
        if (p->ref == 0) {
            literal = true;
            continue;
        }
        if (!ru->has_match || p->ref > ru->match.captures)
            return rules_fail(cfg, cr->metric_line, ru->name, "metric", err, errlen,
                              "\\%u: match has %u capture groups", p->ref,
                              ru->has_match ? ru->match.captures : 0);
        proved = proved || pattern_group_nonempty(rulecfg_str(&cfg->rules, cr->match),
                                                  cr->match.len, p->ref);
    }
    if (!literal && !proved)
        return rules_fail(cfg, cr->metric_line, ru->name, "metric", err, errlen,
                          "'%s' could yield an empty metric: no group it names is sure to "
                          "match at least one byte (add a literal, or make a group match "
                          "one byte or more, as (.+) does)", t);
    return TS_OK;
}

/* Growth of a point under this rule (for the queues' read bound). */
static void
rules_note_growth(struct ruleset *rs, const struct rule *ru)
{
    if (ru->action == RULE_SET_TAGS)
        for (int i = 0; i < ru->nkv; i++)
            rs->grow_fixed += 2 + ru->kv[i].klen + ru->kv[i].vlen;
    if (ru->action != RULE_REWRITE)
        return;
    unsigned refs = 0;
    for (int i = 0; i < ru->nparts; i++) {
        refs += ru->parts[i].ref != 0;
        rs->grow_fixed += ru->parts[i].len;
    }
    rs->grow_mult = TS_MIN(rs->grow_mult * TS_MAX(refs, 1u), 64u);
}

static int
rules_compile_patterns(struct ruleset *rs, const struct config *cfg, const struct cfg_rule *cr,
                       struct rule *ru, char *err, size_t errlen)
{
    char why[300];
    ru->has_match = cr->match_line != 0 && cr->match.len > 0;
    if (ru->has_match && pattern_compile(&ru->match, rulecfg_str(&cfg->rules, cr->match),
                                         cr->match.len, why, sizeof(why)) != TS_OK)
        return rules_fail(cfg, cr->match_line, ru->name, "match", err, errlen, "%s", why);
    for (int i = 0; i < cr->ntags; i++) {
        struct rule_cond *c = &ru->cond[i];
        c->key = rs->text + cr->tags[i].a.off;
        c->klen = cr->tags[i].a.len;
        if (pattern_compile(&c->pat, rulecfg_str(&cfg->rules, cr->tags[i].b), cr->tags[i].b.len,
                            why, sizeof(why)) != TS_OK)
            return rules_fail(cfg, cr->tag_line[i], ru->name, "tag", err, errlen, "%s", why);
        ru->nconds = i + 1;
    }
    return TS_OK;
}

static int
rules_compile_one(struct ruleset *rs, const struct config *cfg, int i, char *err,
                  size_t errlen)
{
    const struct cfg_rule *cr = &cfg->rules.rules[i];
    struct rule *ru = &rs->rules[i];
    snprintf(ru->name, sizeof(ru->name), "%s", cr->name);
    ru->action = cr->action;
    ru->stop = cr->stop;
    ru->to = cr->to;
    if (rules_compile_patterns(rs, cfg, cr, ru, err, errlen) != TS_OK)
        return TS_ERROR;
    if (ru->action == RULE_REWRITE) {
        rules_parse_template(ru, rs->text + cr->metric.off, cr->metric.len);
        if (rules_check_template(cfg, cr, ru, err, errlen) != TS_OK)
            return TS_ERROR;
    }
    bool kv = ru->action == RULE_SET_TAGS || ru->action == RULE_DROP_TAGS ||
              ru->action == RULE_KEEP_TAGS;
    for (int k = 0; kv && k < cr->nitems; k++) {
        ru->kv[k] = (struct rule_kv){ rs->text + cr->items[k].a.off,
                                      rs->text + cr->items[k].b.off, cr->items[k].a.len,
                                      cr->items[k].b.len };
        ru->nkv = k + 1;
    }
    if (ru->action == RULE_SEND)
        rs->reach |= ru->to;
    if (ru->action != RULE_SEND && ru->action != RULE_DROP)
        rs->changes = true;
    rules_note_growth(rs, ru);
    return TS_OK;
}

/* The shared match state and the metric cache, once the rules are known. */
static int
rules_prepare(struct ruleset *rs, const struct config *cfg, char *err, size_t errlen)
{
    uint32_t caps = 0;
    bool any_match = false;
    for (int i = 0; i < rs->nrules; i++) {
        any_match = any_match || rs->rules[i].has_match;
        caps = TS_MAX(caps, rs->rules[i].match.captures);
        for (int c = 0; c < rs->rules[i].nconds; c++)
            caps = TS_MAX(caps, rs->rules[i].cond[c].pat.captures);
    }
    if (pattern_ctx_init(&rs->pc, caps, cfg->rule_match_limit) != TS_OK ||
        matchcache_init(&rs->cache, any_match ? cfg->rule_cache_bytes : 0, rs->nrules) != TS_OK) {
        snprintf(err, errlen, "%s: out of memory for the rules", cfg->path);
        return TS_ERROR;
    }
    return TS_OK;
}

struct ruleset *
rules_build(const struct config *cfg, char *err, size_t errlen)
{
    const struct cfg_rules *rc = &cfg->rules;
    struct ruleset *rs = calloc(1, sizeof(*rs));
    if (rs == NULL || (rs->w = calloc(1, sizeof(*rs->w))) == NULL ||
        (rs->text = malloc(rc->text_len + 1)) == NULL ||
        (rs->rules = calloc((size_t)rc->nrules + 1, sizeof(*rs->rules))) == NULL) {
        snprintf(err, errlen, "%s: out of memory for the rules", cfg->path);
        rules_free(rs);
        return NULL;
    }
    memcpy(rs->text, rc->text, rc->text_len);
    rs->text[rc->text_len] = '\0';
    point_rules_init(&rs->prules, cfg->max_tags, cfg->allow_specialchars);
    rs->default_group = rc->ngroups == 0 ? 0 : rulecfg_group_index(rc, cfg->default_group);
    TS_ASSERT(rs->default_group >= 0); /* config.c checked it */
    rs->default_group = TS_MAX(rs->default_group, 0);
    rs->reach = 1ull << rs->default_group;
    rs->grow_mult = 1;
    for (int i = 0; i < rc->nrules; i++) {
        rs->nrules = i + 1; /* what rules_free must release */
        if (rules_compile_one(rs, cfg, i, err, errlen) != TS_OK) {
            rules_free(rs);
            return NULL;
        }
    }
    if (rules_prepare(rs, cfg, err, errlen) != TS_OK) {
        rules_free(rs);
        return NULL;
    }
    return rs;
}

void
rules_free(struct ruleset *rs)
{
    if (rs == NULL)
        return;
    for (int i = 0; i < rs->nrules && rs->rules != NULL; i++) {
        pattern_free(&rs->rules[i].match);
        for (int c = 0; c < rs->rules[i].nconds; c++)
            pattern_free(&rs->rules[i].cond[c].pat);
    }
    pattern_ctx_free(&rs->pc);
    matchcache_free(&rs->cache);
    free(rs->rules);
    free(rs->text);
    free(rs->w);
    free(rs);
}

size_t
rules_bytes(const struct ruleset *rs)
{
    return sizeof(*rs) + sizeof(*rs->w) + (size_t)rs->nrules * sizeof(*rs->rules) +
           matchcache_bytes(&rs->cache);
}

void
rules_carry(struct ruleset *rs, const struct ruleset *prev)
{
    if (prev == NULL)
        return;
    rs->cache.hits += prev->cache.hits;
    rs->cache.misses += prev->cache.misses;
    rs->cache.uncached += prev->cache.uncached;
    for (int i = 0; i < rs->nrules; i++)
        for (int k = 0; k < prev->nrules; k++)
            if (strcmp(rs->rules[i].name, prev->rules[k].name) == 0)
                rs->rules[i].st = prev->rules[k].st;
}

size_t
rules_out_bound(const struct ruleset *rs, size_t in_bytes)
{
    if (!rs->changes)
        return in_bytes;
    size_t lines = in_bytes / RULE_MIN_LINE + 1;
    size_t grown = in_bytes * rs->grow_mult + lines * rs->grow_fixed;
    return TS_MAX(in_bytes, TS_MIN(grown, lines * (POINT_LINE_MAX + 1)));
}

/* ---- the point, opened in place ---------------------------------------- */

#define RULES_ONES 0x0101010101010101ull

/* Byte c among the 8 bytes of x (little-endian: the byte at the lowest
 * address first): its index, or 8.  (A zero byte of x ^ cccccccc is a c;
 * the lowest one found is the first.) */
static inline int
rules_byte_in(uint64_t x, unsigned char c)
{
    x ^= RULES_ONES * c;
    uint64_t z = (x - RULES_ONES) & ~x & (RULES_ONES << 7);
    return z != 0 ? __builtin_ctzll(z) >> 3 : 8;
}

/* The first byte c of [p, end), or end.  Eight bytes at a time; the last
 * few as the 8 bytes that end at end, shifted: a line has at least 8
 * bytes before its end (rules_open checks), so nothing outside it is ever
 * read. */
static inline const char *
rules_find(const char *p, const char *end, unsigned char c)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t x;
    while (end - p >= 8) {
        memcpy(&x, p, 8);
        int k = rules_byte_in(x, c);
        if (k < 8)
            return p + k;
        p += 8;
    }
    if (p >= end)
        return end;
    memcpy(&x, end - 8, 8);
    /* p's byte first; the bytes shifted in are zeros: c is not 0 */
    x >>= 8 * (8 - (end - p));
    int k = rules_byte_in(x, c);
    return k < end - p ? p + k : end;
#else
    while (p < end && (unsigned char)*p != c)
        p++;
    return p;
#endif
}

/* Next word of [p, end) up to a space: its end. */
static inline const char *
rules_word_end(const char *p, const char *end)
{
    return rules_find(p, end, ' ');
}

/* The command and the metric of a canonical line (the rest is read when
 * a rule needs it: rules_open_mid).  false when it does not read as one
 * (cannot happen). */
static bool
rules_open(struct rule_work *w, const char *line, size_t len)
{
    const char *end = line + len - (len > 0 && line[len - 1] == '\n');
    if (end - line < 13) /* "put m 1 1 a=b": rules_word_end reads 8 bytes back */
        return false;
    const char *p = rules_word_end(line, end);
    size_t cl = (size_t)(p - line);
    w->cmd = cl == 6 ? CMD_ROLLUP : cl == 9 ? CMD_HISTOGRAM : CMD_PUT;
    if (p == end)
        return false;
    if (w->cmd == CMD_ROLLUP && (p = rules_word_end(p + 1, end)) == end)
        return false;
    w->line = line;
    w->end = end;
    w->metric = p + 1;
    w->head_len = (size_t)(w->metric - line);
    w->mlen = (size_t)(rules_word_end(w->metric, end) - w->metric);
    w->metric_end = w->metric + w->mlen;
    w->mid = NULL;
    w->tags_open = false;
    w->changed = false;
    w->mask_ready = false;
    w->mcur = 0;
    return true;
}

/* The words between the metric and the tags (timestamp, a histogram's
 * codec id, value) and where the tags start. */
static void
rules_open_mid(struct rule_work *w)
{
    if (w->mid != NULL)
        return;
    const char *end = w->end;
    const char *p = w->metric_end; /* of the metric as it came */
    w->mid = p;
    int words = 2;
    for (int k = 0; k < words && p < end; k++) {
        const char *q = rules_word_end(p + 1, end);
        if (k == 1 && w->cmd == CMD_HISTOGRAM && javanum_is_int(p + 1, (size_t)(q - p - 1)))
            words = 3; /* a codec id before the value */
        p = q;
    }
    w->mid_len = (size_t)(p - w->mid);
    w->tagtext = p < end ? p + 1 : end;
    w->taglen = (size_t)(end - w->tagtext);
}

static void
rules_open_tags(struct rule_work *w)
{
    if (w->tags_open)
        return;
    rules_open_mid(w);
    w->tags_open = true;
    w->ntags = 0;
    const char *p = w->tagtext, *end = w->tagtext + w->taglen;
    while (p < end && w->ntags < POINT_MAX_TAGS) {
        const char *q = rules_word_end(p, end);
        const char *eq = p;
        while (eq < q && *eq != '=')
            eq++;
        if (eq < q)
            w->tags[w->ntags++] = (struct rule_kv){ p, eq + 1, (size_t)(eq - p),
                                                    (size_t)(q - eq - 1) };
        p = q + 1;
    }
}

static int
rules_find_tag(const struct rule_work *w, const char *k, size_t kl)
{
    for (int i = 0; i < w->ntags; i++)
        if (w->tags[i].klen == kl && memcmp(w->tags[i].k, k, kl) == 0)
            return i;
    return -1;
}

/* ---- conditions -------------------------------------------------------- */

/* A pattern of ru that PCRE2 gave up on (rule-match-limit, the JIT
 * stack): no match, counted, logged (rate-limited). */
static void
rules_gave_up(struct rule *ru)
{
    ru->st.errors++;
    LOG_RL(LOG_WARN, "rule %s: a pattern gave up (over rule-match-limit): taken as no match",
           ru->name);
}

/* Every match pattern on the metric, remembered in the cache's entry. */
static void
rules_fill_mask(struct ruleset *rs, struct rule_work *w, uint64_t *mask)
{
    for (int i = 0; i < rs->nrules; i++) {
        struct rule *ru = &rs->rules[i];
        int m = ru->has_match ? pattern_match(&ru->match, &rs->pc, w->metric, w->mlen) : 1;
        if (m < 0)
            rules_gave_up(ru);
        if (m == 1)
            mask[i / 64] |= 1ull << (i % 64);
    }
}

/* The cache's answer for the current metric (computed and remembered on
 * a miss); NULL when the metric is not cached. */
static void
rules_get_mask(struct ruleset *rs, struct rule_work *w)
{
    w->mask_ready = true;
    w->mask = NULL;
    if (rs->cache.nslots == 0) /* off: rule-cache = 0, or no rule has a match */
        return;
    uint64_t h = XXH3_64bits(w->metric, w->mlen);
    w->mask = matchcache_get(&rs->cache, w->metric, w->mlen, h);
    if (w->mask != NULL)
        return;
    uint64_t *slot = matchcache_put(&rs->cache, w->metric, w->mlen, h);
    if (slot != NULL)
        rules_fill_mask(rs, w, slot);
    w->mask = slot;
}

/* The first rule from `from` on that may hold: with the cache's mask,
 * the next whose match held (or that has none); without, from itself. */
static inline int
rules_next(struct ruleset *rs, struct rule_work *w, int from)
{
    if (!w->mask_ready)
        rules_get_mask(rs, w);
    if (w->mask == NULL || from >= rs->nrules)
        return from;
    int k = from / 64;
    uint64_t bits = w->mask[k] & (~0ull << (from % 64));
    while (bits == 0) {
        if (++k * 64 >= rs->nrules)
            return rs->nrules;
        bits = w->mask[k];
    }
    return k * 64 + __builtin_ctzll(bits);
}

/* Whether rule i's match holds for the metric (known from the mask when
 * rules_next chose i with one). */
static bool
rules_metric_holds(struct ruleset *rs, struct rule_work *w, int i)
{
    struct rule *ru = &rs->rules[i];
    if (!ru->has_match || w->mask != NULL)
        return true;
    int m = pattern_match(&ru->match, &rs->pc, w->metric, w->mlen);
    if (m < 0)
        rules_gave_up(ru);
    return m == 1;
}

/* Whether the '=' at e ends tag key k (kl bytes): " k=" in the line. */
static inline bool
rules_key_before(const struct rule_work *w, const char *e, const char *k, size_t kl)
{
    return (size_t)(e - w->metric_end) > kl && e[-1] == k[kl - 1] &&
           e[-(ptrdiff_t)kl - 1] == ' ' && memcmp(e - kl, k, kl) == 0;
}

/* Tag k of the point as it came, found without opening the tags: in a
 * put or rollup line a '=' is always a tag's, after its key.  A
 * histogram's value may ("u=1:o=0:..."): there, and once the tags are
 * open (they may have changed), the opened ones are read. */
static bool
rules_tag_value(struct rule_work *w, const char *k, size_t kl, const char **v, size_t *vn)
{
    if (w->tags_open || w->cmd == CMD_HISTOGRAM) {
        rules_open_tags(w);
        int t = rules_find_tag(w, k, kl);
        if (t < 0)
            return false;
        *v = w->tags[t].v;
        *vn = w->tags[t].vlen;
        return true;
    }
    const char *end = w->end;
    for (const char *e = w->metric_end; (e = rules_find(e + 1, end, '=')) < end;)
        if (rules_key_before(w, e, k, kl)) {
            *v = e + 1;
            *vn = (size_t)(rules_word_end(*v, end) - *v);
            return true;
        }
    return false;
}

/* Its conditions hold (for a rewrite with groups, the match runs last,
 * so that its groups are the ones read). */
static bool
rules_holds(struct ruleset *rs, struct rule_work *w, int i)
{
    struct rule *ru = &rs->rules[i];
    if (!rules_metric_holds(rs, w, i))
        return false;
    for (int c = 0; c < ru->nconds; c++) {
        const char *v;
        size_t vn;
        if (!rules_tag_value(w, ru->cond[c].key, ru->cond[c].klen, &v, &vn))
            return false;
        int m = pattern_match(&ru->cond[c].pat, &rs->pc, v, vn);
        if (m < 0)
            rules_gave_up(ru);
        if (m != 1)
            return false;
    }
    if (ru->action == RULE_REWRITE && ru->match.captures > 0) {
        int m = pattern_match(&ru->match, &rs->pc, w->metric, w->mlen);
        if (m < 0)
            rules_gave_up(ru);
        return m == 1;
    }
    return true;
}

/* ---- actions ----------------------------------------------------------- */

static int rules_refuse(struct ruleset *rs, int i, struct rules_verdict *v,
                        struct point_error *why, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The point is refused after rule i: why says so, in the TSD's shape. */
static int
rules_refuse(struct ruleset *rs, int i, struct rules_verdict *v, struct point_error *why,
             const char *fmt, ...)
{
    why->kind = PE_REFUSED;
    why->cmd = rs->w->cmd;
    why->relay = true;
    int n = snprintf(why->msg, sizeof(why->msg), "rule %s ", rs->rules[i].name);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(why->msg))
        vsnprintf(why->msg + n, sizeof(why->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    why->len = strlen(why->msg);
    v->refuse_rule = i;
    return TS_REFUSED;
}

static int
rules_rewrite(struct ruleset *rs, int i, struct rules_verdict *v, struct point_error *why)
{
    struct rule_work *w = rs->w;
    const struct rule *ru = &rs->rules[i];
    char *dst = w->mbuf[w->mcur ^ 1];
    size_t o = 0;
    for (int k = 0; k < ru->nparts; k++) {
        const struct rule_part *p = &ru->parts[k];
        const char *s = ru->tmpl + p->off;
        size_t n = p->len;
        if (p->ref != 0)
            pattern_group(&rs->pc, w->metric, p->ref, &s, &n);
        if (n > RULE_METRIC_MAX - o)
            return rules_refuse(rs, i, v, why, "made a metric longer than %d bytes",
                                RULE_METRIC_MAX);
        memcpy(dst + o, s, n);
        o += n;
    }
    if (o == w->mlen && memcmp(dst, w->metric, o) == 0)
        return TS_OK;
    w->metric = dst;
    w->mlen = o;
    w->mcur ^= 1;
    w->mask_ready = false;
    w->changed = true;
    w->last_changer = i;
    return TS_OK;
}

static int
rules_set_tags(struct ruleset *rs, int i, struct rules_verdict *v, struct point_error *why)
{
    struct rule_work *w = rs->w;
    const struct rule *ru = &rs->rules[i];
    rules_open_tags(w);
    for (int k = 0; k < ru->nkv; k++) {
        const struct rule_kv *kv = &ru->kv[k];
        int t = rules_find_tag(w, kv->k, kv->klen);
        if (t >= 0 && w->tags[t].vlen == kv->vlen && memcmp(w->tags[t].v, kv->v, kv->vlen) == 0)
            continue;
        if (t < 0 && w->ntags == POINT_MAX_TAGS)
            return rules_refuse(rs, i, v, why, "made a point of more than %d tags",
                                POINT_MAX_TAGS);
        if (t < 0)
            t = w->ntags++;
        w->tags[t] = *kv;
        w->changed = true;
        w->last_changer = i;
    }
    return TS_OK;
}

static bool
rules_listed(const struct rule *ru, const struct rule_kv *t)
{
    for (int k = 0; k < ru->nkv; k++)
        if (ru->kv[k].klen == t->klen && memcmp(ru->kv[k].k, t->k, t->klen) == 0)
            return true;
    return false;
}

/* Whether the point has one of the rule's tag keys (as rules_tag_value
 * finds them: one pass over the line for them all). */
static bool
rules_any_tag(struct rule_work *w, const struct rule *ru)
{
    if (w->tags_open || w->cmd == CMD_HISTOGRAM) {
        rules_open_tags(w);
        for (int t = 0; t < w->ntags; t++)
            if (rules_listed(ru, &w->tags[t]))
                return true;
        return false;
    }
    const char *end = w->end;
    for (const char *e = w->metric_end; (e = rules_find(e + 1, end, '=')) < end;)
        for (int k = 0; k < ru->nkv; k++)
            if (rules_key_before(w, e, ru->kv[k].k, ru->kv[k].klen))
                return true;
    return false;
}

/* drop-tags: the listed keys go; keep-tags: the others go. */
static void
rules_trim_tags(struct ruleset *rs, int i)
{
    struct rule_work *w = rs->w;
    const struct rule *ru = &rs->rules[i];
    bool keep = ru->action == RULE_KEEP_TAGS;
    if (!keep && !rules_any_tag(w, ru)) /* most points have none of the keys */
        return;
    rules_open_tags(w);
    for (int t = w->ntags - 1; t >= 0; t--) {
        if (rules_listed(ru, &w->tags[t]) == keep)
            continue;
        w->tags[t] = w->tags[--w->ntags];
        w->changed = true;
        w->last_changer = i;
    }
}

/* Rule i's action.  TS_OK, or TS_REFUSED. */
static int
rules_act(struct ruleset *rs, int i, struct rules_verdict *v, bool *routed,
          struct point_error *why)
{
    const struct rule *ru = &rs->rules[i];
    switch (ru->action) {
    case RULE_DROP:
        v->drop_rule = i;
        return TS_OK;
    case RULE_REWRITE:
        return rules_rewrite(rs, i, v, why);
    case RULE_SET_TAGS:
        return rules_set_tags(rs, i, v, why);
    case RULE_DROP_TAGS:
    case RULE_KEEP_TAGS:
        rules_trim_tags(rs, i);
        return TS_OK;
    case RULE_SEND:
        v->groups = (*routed ? v->groups : 0) | ru->to;
        *routed = true;
        return TS_OK;
    case RULE_NONE:
        break;
    }
    TS_ASSERT(0); /* config.c refuses a rule without an action */
    return TS_OK;
}

/* ---- the changed point, written out and checked ----------------------- */

static const char *
rules_kind(enum point_err_kind k)
{
    return k == PE_INVALID_VALUE ? "invalid value" : k == PE_HBASE ? "HBase error"
                                                   : "illegal argument";
}

/* The point as its fields now are, in the form the TSD's checks of a
 * point already split take (point_check: the JSON path): the command
 * (and a rollup's spec), the metric, the words after it (timestamp, a
 * histogram's codec id, value) read from the line, the tags. */
static void
rules_fill_point(struct rule_work *w, struct point *p)
{
    p->cmd = w->cmd;
    p->spec = w->cmd == CMD_ROLLUP ? w->line + 7 : NULL;
    p->spec_len = w->cmd == CMD_ROLLUP ? w->head_len - 8 : 0;
    p->metric = w->metric;
    p->metric_len = w->mlen;
    const char *end = w->mid + w->mid_len, *q = w->mid;
    const char *s[3] = { end, end, end };
    size_t n[3] = { 0, 0, 0 };
    int k = 0;
    while (q < end && k < 3) {
        s[k] = q + 1;
        q = rules_word_end(s[k], end);
        n[k] = (size_t)(q - s[k]);
        k++;
    }
    TS_ASSERT(k == 2 || (k == 3 && w->cmd == CMD_HISTOGRAM)); /* rules_open_mid read them */
    k = k < 2 ? 2 : k; /* (cannot be: then an empty value, refused by point_check) */
    p->ts = s[0];
    p->ts_len = n[0];
    p->codec = k == 3 ? s[1] : NULL;
    p->codec_len = k == 3 ? n[1] : 0;
    p->value = s[k - 1];
    p->value_len = n[k - 1];
    p->ntags = p->ntag_words = w->ntags;
    for (int t = 0; t < w->ntags; t++)
        p->tags[t] = (struct point_tag){ w->tags[t].k, w->tags[t].v, (uint32_t)w->tags[t].klen,
                                         (uint32_t)w->tags[t].vlen };
    p->tags_checked = false;
    p->canon_len = p->tags_bytes = 0;
}

/* The TSD's checks of a text line a point's fields cannot show once split
 * (table 2.1, checks 2, 3, 6 and 7: a metric, a timestamp, tags k=v with
 * both sides, a key once); the rules make none of these wrong, this says
 * so.  TS_OK, or TS_ERROR with err filled. */
static int
rules_check_text(struct point *p, struct point_error *err)
{
    err->kind = PE_ILLEGAL_ARGUMENT;
    err->cmd = p->cmd;
    err->relay = false;
    const char *what = p->metric_len == 0 ? "empty metric name" : NULL;
    if (point_parse_timestamp(p->ts, p->ts_len, &p->timestamp, err) != TS_OK)
        return TS_ERROR;
    for (int t = 0; t < p->ntags && what == NULL; t++) {
        if (p->tags[t].klen == 0 || p->tags[t].vlen == 0)
            what = "invalid tag";
        for (int u = 0; u < t && what == NULL; u++)
            if (p->tags[u].klen == p->tags[t].klen &&
                memcmp(p->tags[u].k, p->tags[t].k, p->tags[t].klen) == 0)
                what = "duplicate tag";
    }
    TS_ASSERT(what == NULL); /* the rules make a metric, tags k=v, each key once */
    if (what == NULL)
        return TS_OK;
    err->len = (size_t)snprintf(err->msg, sizeof(err->msg), "%s", what);
    return TS_ERROR;
}

/* Debug builds: what leaves reads back, by the text parser, as itself. */
static void
rules_assert_reparses(struct ruleset *rs, const char *out, size_t n)
{
#ifdef TS_ASSERTS
    struct rule_work *w = rs->w;
    int rc = pointline_parse(&rs->prules, w->cmd, false, out, n - 1, &w->reparse, &w->perr);
    TS_ASSERT(rc == TS_OK);
    char again[POINT_LINE_MAX + 2];
    TS_ASSERT(point_format(&w->reparse, again, sizeof(again)) == n && memcmp(again, out, n) == 0);
#else
    (void)rs;
    (void)out;
    (void)n;
#endif
}

/* The TSD's rules for a split point of its command: a put's (point_check),
 * a rollup's (its spec, then rollup_check) or a histogram's (its simple
 * text read, then histogram_check, as a telnet client is answered); then
 * point_finish.  TS_OK or TS_ERROR with err filled. */
static int
rules_check_point(const struct point_rules *pr, struct point *p, struct point_error *err)
{
    struct rollup_spec sp;
    struct histogram h;
    switch (p->cmd) {
    case CMD_ROLLUP:
        if (rollup_spec_parse(p->spec, p->spec_len, &sp, err) != TS_OK ||
            rollup_check(pr, p, &sp, err) != TS_OK)
            return TS_ERROR;
        return point_finish(p, err);
    case CMD_HISTOGRAM:
        if (p->codec == NULL && histogram_parse_text(p->value, p->value_len, &h, err) != TS_OK)
            return TS_ERROR;
        if (histogram_check(pr, p, p->codec == NULL ? &h : NULL, true, err) != TS_OK)
            return TS_ERROR;
        return point_finish(p, err);
    case CMD_PUT:
        break;
    }
    return point_check(pr, p, err);
}

/* The changed point, checked by the TSD's rules (those of its text, then
 * those of its command -- for a put point_check's: value, timestamp range, tag count, characters, the
 * 1024-byte line) and written out canonical.  TS_OK, or TS_REFUSED
 * counted under the rule that changed it last. */
static int
rules_finish(struct ruleset *rs, struct rules_verdict *v, struct point_error *why)
{
    struct rule_work *w = rs->w;
    rules_open_tags(w); /* and the words before them */
    struct point *p = &w->p;
    rules_fill_point(w, p);
    if (rules_check_text(p, &w->perr) != TS_OK ||
        rules_check_point(&rs->prules, p, &w->perr) != TS_OK)
        return rules_refuse(rs, w->last_changer, v, why, "made a point the TSD refuses: %s: "
                            "%.*s", rules_kind(w->perr.kind), (int)w->perr.len, w->perr.msg);
    size_t n = point_format(p, w->out, sizeof(w->out));
    TS_ASSERT(n > 0); /* point_check bounded the canonical line */
    rules_assert_reparses(rs, w->out, n);
    v->line = w->out;
    v->len = n;
    v->hash = point_output_hash(p, w->out, n);
    return TS_OK;
}

/* ---- applying ---------------------------------------------------------- */

int
rules_run(struct ruleset *rs, const char *line, size_t len, struct rules_verdict *v,
          struct point_error *why)
{
    struct rule_work *w = rs->w;
    w->nmatched = 0;
    bool opened = rules_open(w, line, len);
    TS_ASSERT(opened); /* a canonical line */
    if (!opened)
        return TS_OK;
    bool routed = false;
    for (int i = rules_next(rs, w, 0); i < rs->nrules; i = rules_next(rs, w, i + 1)) {
        if (!rules_holds(rs, w, i))
            continue;
        w->matched[w->nmatched++] = i;
        int rc = rules_act(rs, i, v, &routed, why);
        if (rc != TS_OK || v->drop_rule >= 0)
            return rc;
        if (rs->rules[i].stop)
            break;
    }
    return w->changed ? rules_finish(rs, v, why) : TS_OK;
}

void
rules_count(struct ruleset *rs, const struct rules_verdict *v)
{
    const struct rule_work *w = rs->w;
    for (int k = 0; k < w->nmatched; k++)
        rs->rules[w->matched[k]].st.matched++;
    if (v->drop_rule >= 0)
        rs->rules[v->drop_rule].st.dropped++;
    if (v->refuse_rule >= 0)
        rs->rules[v->refuse_rule].st.refused++;
}

int
rules_last_matched(const struct ruleset *rs, int *idx, int cap)
{
    int n = TS_MIN(rs->w->nmatched, cap);
    memcpy(idx, rs->w->matched, sizeof(*idx) * (size_t)n);
    return n;
}

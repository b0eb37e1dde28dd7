/*
 * rollup.c -- OpenTSDB 2.4's rules for a rolled-up or pre-aggregated point.
 *
 * Mirrors RollupDataPointRpc.importDataPoint (the telnet word) and
 * TSDB.addAggregatePoint / addAggregatePointInternal (the checks), as a
 * TSD with rollups enabled runs them, in their order:
 *   8, 9  the value: a long, or a finite float/double (point.c's step);
 *         then the group-by aggregator must not be empty;
 *   10    a timestamp in seconds: any timestamp >= 2^32 is "bad" (a put
 *         takes milliseconds there);
 *         the aggregate tag: added as the upper-cased group-by aggregator
 *         (or the raw value when tsd.rollups.tag_raw is on), or, when the
 *         point carries it, equal to the group-by aggregator ignoring case;
 *         the group-by aggregator is one of the TSD's aggregators, and not
 *         a derived one (avg, dev) while tsd.rollups.block_derived is on;
 *   11-14 the tags, counted and checked with the aggregate tag;
 *         the rollup aggregator is not a derived one either.
 * The interval and the rollup aggregator are looked up in the TSD's
 * rollup configuration: that, and the UIDs, are the TSD's to answer.
 * Messages print the tag map as the TSD's HashMap holds it at that step.
 * The forwarded line keeps the point's own tags: the TSD adds its tag.
 */
#include "autoconf.h"

#include <string.h>

#include "base/pointerr.h"
#include "base/rollup.h"
#include "base/util.h"

/* Aggregators.get's names (OpenTSDB 2.4; "squareSum" is never found: the
 * TSD looks up the lower-cased name). */
static const char *const rollup_aggregators[] = {
    "sum", "min", "max", "avg", "none", "median", "mult", "dev", "diff", "count", "zimsum",
    "mimmin", "mimmax", "first", "last", "pfsum", "squareSum",
    "p999", "p99", "p95", "p90", "p75", "p50",
    "ep999r3", "ep99r3", "ep95r3", "ep90r3", "ep75r3", "ep50r3",
    "ep999r7", "ep99r7", "ep95r7", "ep90r7", "ep75r7", "ep50r7",
};

/* ---- Java's case of ISO-8859-1 chars ----------------------------------- */

static unsigned char
rollup_upper1(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7))
        return (unsigned char)(c - 0x20);
    return c;
}

/* String.toUpperCase into out (cap >= 2 * n): 0xDF becomes "SS"; the two
 * Latin-1 letters whose capital is outside Latin-1 (0xB5, 0xFF) stay as
 * they are (only a message's text can differ: such a name is no
 * aggregator, and the point is refused either way).  Returns the length. */
static size_t
rollup_upper(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0xDF) {
            out[o++] = 'S';
            out[o++] = 'S';
        } else {
            out[o++] = (char)rollup_upper1(c);
        }
    }
    return o;
}

/* String.equalsIgnoreCase. */
static bool
rollup_equal_ignoring_case(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && rollup_upper1(x) != rollup_upper1(y) &&
            ts_latin1_lower(rollup_upper1(x)) != ts_latin1_lower(rollup_upper1(y)))
            return false;
    }
    return true;
}

/* Is s, upper-cased, "AVG" or "DEV" (the aggregations a rollup may not
 * be derived from)? */
static bool
rollup_derived(const char *s, size_t n)
{
    if (n != 3)
        return false;
    char u[6];
    rollup_upper(s, n, u);
    return memcmp(u, "AVG", 3) == 0 || memcmp(u, "DEV", 3) == 0;
}

bool
rollup_aggregator_known(const char *name, size_t len)
{
    char low[16];
    if (len == 0 || len >= sizeof(low))
        return false;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)ts_latin1_lower((unsigned char)name[i]);
    for (size_t i = 0; i < TS_ARRAY_LEN(rollup_aggregators); i++)
        if (strlen(rollup_aggregators[i]) == len && memcmp(rollup_aggregators[i], low, len) == 0)
            return true;
    return false;
}

/* ---- the telnet word --------------------------------------------------- */

int
rollup_spec_parse(const char *word, size_t len, struct rollup_spec *sp, struct point_error *err)
{
    memset(sp, 0, sizeof(*sp));
    /* String.split(":"): the parts, less the empty ones at the end */
    const char *c1 = memchr(word, ':', len);
    size_t f0 = c1 ? (size_t)(c1 - word) : len;
    const char *p1 = c1 ? c1 + 1 : NULL;
    size_t rest = c1 ? len - f0 - 1 : 0;
    const char *c2 = p1 ? memchr(p1, ':', rest) : NULL;
    size_t f1 = p1 ? (c2 ? (size_t)(c2 - p1) : rest) : 0;
    bool only_colons = true;
    for (size_t i = 0; i < len && only_colons; i++)
        only_colons = word[i] == ':';
    if (only_colons) {
        perr_start(err, PE_ILLEGAL_ARGUMENT, "the interval/aggregator word holds nothing but "
                   "':' (the TSD fails on it and answers nothing)");
        err->relay = true;
        return TS_ERROR;
    }
    /* a second part is there when anything but ':' follows the first ':' */
    bool second = false;
    for (size_t i = f0 + 1; i < len && !second; i++)
        second = word[i] != ':';
    const char *dash = memchr(word, '-', f0);
    if (dash != NULL) {
        sp->interval = word;
        sp->interval_len = (size_t)(dash - word);
        sp->agg = dash + 1;
        sp->agg_len = f0 - sp->interval_len - 1;
        sp->has_interval = sp->has_agg = true;
    } else if (!second) {
        sp->groupby = word;
        sp->groupby_len = f0;
        sp->has_groupby = true;
    }
    if (second) {
        sp->groupby = p1;
        sp->groupby_len = f1;
        sp->has_groupby = true;
    }
    if (sp->has_groupby && !sp->has_agg) {
        sp->agg = sp->groupby;
        sp->agg_len = sp->groupby_len;
        sp->has_agg = true;
    }
    return TS_OK;
}

/* ---- the checks -------------------------------------------------------- */

/* The aggregate tag as the TSD sets it: added at the end of the map, or
 * its value replaced in place; undone before the point goes on. */
struct agg_tag {
    bool added;
    int replaced;            /* index of the tag whose value was replaced, -1 */
    struct point_tag old;
    bool tags_checked, tags_ok;
    char value[2 * POINT_AGG_TAG_MAX + 2 * 64];
};

/* " <metric> <tags>", the end of the group-by messages. */
static int
rollup_fail_with_map(const struct point *p, struct point_error *err)
{
    perr_str(err, " with metric ");
    perr_put(err, p->metric, p->metric_len);
    perr_str(err, " ");
    perr_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
    return TS_ERROR;
}

static int
rollup_no_groupby_agg(const struct point *p, struct point_error *err)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "Cannot write a group by data point without "
               "specifying the aggregation function. Metric=");
    perr_put(err, p->metric, p->metric_len);
    perr_str(err, " tags=");
    perr_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
    return TS_ERROR;
}

/* Check 10 for a rollup: seconds only. */
static int
rollup_bad_timestamp(const struct point *p, struct point_value *v, struct point_error *err)
{
    if (((uint64_t)p->timestamp & 0xFFFFFFFF00000000ull) == 0)
        return TS_OK;
    return point_timestamp_refused(p, v, err);
}

static int
rollup_tag_mismatch(const struct point_rules *r, const struct point *p,
                    const struct rollup_spec *sp, const struct point_tag *t,
                    struct point_error *err)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "Given tag value for ");
    perr_str(err, r->agg_tag);
    perr_str(err, " of ");
    perr_put(err, t->v, t->vlen);
    perr_str(err, " did not match the group by aggregator of ");
    if (sp->has_groupby)
        perr_put(err, sp->groupby, sp->groupby_len);
    else
        perr_str(err, "null");
    perr_str(err, " for ");
    perr_put(err, p->metric, p->metric_len);
    perr_str(err, " ");
    perr_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
    return TS_ERROR;
}

/* Appends tag k=v to p (it may be past what p tracks: then only counted). */
static void
rollup_append(const struct point_rules *r, struct point *p, const char *k, size_t kl,
              const char *v, size_t vl)
{
    if (p->ntags < POINT_MAX_TAGS)
        p->tags[p->ntags] = (struct point_tag){ k, v, (uint32_t)kl, (uint32_t)vl };
    p->ntags++;
    for (size_t i = 0; i < kl; i++)
        p->tags_ok = p->tags_ok && r->name_ok[(unsigned char)k[i]];
    for (size_t i = 0; i < vl; i++)
        p->tags_ok = p->tags_ok && r->name_ok[(unsigned char)v[i]];
}

/* The aggregate tag, as addAggregatePointInternal sets it. */
static int
rollup_set_agg_tag(const struct point_rules *r, struct point *p, const struct rollup_spec *sp,
                   struct agg_tag *at, struct point_error *err)
{
    size_t kl = strlen(r->agg_tag);
    int found = -1;
    at->added = false;
    at->replaced = -1;
    at->tags_checked = p->tags_checked;
    at->tags_ok = p->tags_ok;
    for (int i = 0; i < TS_MIN(p->ntags, POINT_MAX_TAGS) && found < 0; i++)
        if (p->tags[i].klen == kl && memcmp(p->tags[i].k, r->agg_tag, kl) == 0)
            found = i;
    size_t gl = TS_MIN(sp->groupby_len, (sizeof(at->value) - 2) / 2);
    if (found < 0) {
        if (sp->has_groupby) {
            size_t ul = rollup_upper(sp->groupby, gl, at->value);
            rollup_append(r, p, r->agg_tag, kl, at->value, ul);
            at->added = true;
        } else if (r->raw_agg_value[0] != '\0') {
            rollup_append(r, p, r->agg_tag, kl, r->raw_agg_value, strlen(r->raw_agg_value));
            at->added = true;
        }
        return TS_OK;
    }
    struct point_tag *t = &p->tags[found];
    if (!sp->has_groupby || !rollup_equal_ignoring_case(t->v, t->vlen, sp->groupby, gl))
        return rollup_tag_mismatch(r, p, sp, t, err);
    at->replaced = found;
    at->old = *t;
    t->v = at->value;
    t->vlen = (uint32_t)rollup_upper(sp->groupby, gl, at->value);
    for (uint32_t i = 0; i < t->vlen; i++)
        p->tags_ok = p->tags_ok && r->name_ok[(unsigned char)t->v[i]];
    return TS_OK;
}

static void
rollup_undo_agg_tag(struct point *p, const struct agg_tag *at)
{
    if (at->added)
        p->ntags--;
    if (at->replaced >= 0)
        p->tags[at->replaced] = at->old;
    p->tags_checked = at->tags_checked;
    p->tags_ok = at->tags_ok;
}

/* From the aggregate tag on: the group-by aggregator, the tags with the
 * aggregate tag, the rollup aggregator. */
static int
rollup_check_aggregation(const struct point_rules *r, const struct point *p,
                         const struct rollup_spec *sp, struct point_error *err)
{
    if (sp->has_groupby) {
        if (!rollup_aggregator_known(sp->groupby, sp->groupby_len)) {
            perr_start(err, PE_ILLEGAL_ARGUMENT, "Invalid group by aggregator ");
            perr_put(err, sp->groupby, sp->groupby_len);
            return rollup_fail_with_map(p, err);
        }
        if (r->block_derived && rollup_derived(sp->groupby, sp->groupby_len)) {
            perr_start(err, PE_ILLEGAL_ARGUMENT, "Derived group by aggregations are not allowed ");
            perr_put(err, sp->groupby, sp->groupby_len);
            return rollup_fail_with_map(p, err);
        }
    }
    if (point_check_series(r, p, err) != TS_OK)
        return TS_ERROR;
    if (sp->has_agg && r->block_derived && rollup_derived(sp->agg, sp->agg_len)) {
        char u[6];
        perr_start(err, PE_ILLEGAL_ARGUMENT, "Derived rollup aggregations are not allowed ");
        perr_put(err, u, rollup_upper(sp->agg, 3, u));
        return rollup_fail_with_map(p, err);
    }
    return TS_OK;
}

int
rollup_check(const struct point_rules *r, struct point *p, const struct rollup_spec *sp,
             struct point_error *err)
{
    struct point_value v;
    struct agg_tag at;
    err->cmd = CMD_ROLLUP;
    if (point_check_value(p, &v, err) != TS_OK)
        return TS_ERROR;
    if (sp->has_groupby && sp->groupby_len == 0)
        return rollup_no_groupby_agg(p, err);
    if (rollup_bad_timestamp(p, &v, err) != TS_OK)
        return TS_ERROR;
    /* the aggregate tag joins the tags for the checks that print them
     * (a telnet point's tags_ok follows it; a JSON point's tags are
     * looked at one by one, the aggregate tag too) */
    if (rollup_set_agg_tag(r, p, sp, &at, err) != TS_OK)
        return TS_ERROR;
    int rc = rollup_check_aggregation(r, p, sp, err);
    rollup_undo_agg_tag(p, &at);
    return rc;
}

/* ---- a word from JSON fields ------------------------------------------- */

static bool
rollup_word_ok(const char *s, size_t n, const char *forbidden)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7F || strchr(forbidden, c) != NULL)
            return false;
    }
    return true;
}

static size_t
rollup_unsayable(const char *what, struct point_error *err)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "cannot be relayed as a telnet rollup line: the ");
    perr_str(err, what);
    perr_str(err, " holds a blank or control character, or a '-' or ':' where the telnet "
             "word separates its parts");
    err->relay = true;
    return 0;
}

size_t
rollup_spec_format(const struct rollup_spec *sp, char *out, size_t cap, struct point_error *err)
{
    err->cmd = CMD_ROLLUP;
    size_t il = sp->has_interval ? sp->interval_len : 0;
    size_t al = sp->has_agg ? sp->agg_len : 0;
    size_t gl = sp->has_groupby ? sp->groupby_len : 0;
    if (il > 0 && !rollup_word_ok(sp->interval, il, "-:"))
        return rollup_unsayable("interval", err);
    if (al > 0 && !rollup_word_ok(sp->agg, al, ":"))
        return rollup_unsayable("aggregator", err);
    if (gl > 0 && !rollup_word_ok(sp->groupby, gl, ":"))
        return rollup_unsayable("groupByAggregator", err);
    if (il + al + gl + 2 > cap || (il + al == 0 && gl == 0))
        return rollup_unsayable("interval and aggregators", err);
    size_t o = 0;
    /* "I-A[:G]"; a group-by alone as "G", or "-:G" when G holds a '-' */
    if (il + al > 0 || (gl > 0 && memchr(sp->groupby, '-', gl) != NULL)) {
        if (il > 0)
            memcpy(out, sp->interval, il);
        o = il;
        out[o++] = '-';
        if (al > 0)
            memcpy(out + o, sp->agg, al);
        o += al;
        if (gl > 0)
            out[o++] = ':';
    }
    if (gl > 0)
        memcpy(out + o, sp->groupby, gl);
    return o + gl;
}

int
rollup_parse_line(const struct point_rules *r, const char *line, size_t len, struct point *p,
                  struct point_error *err)
{
    struct rollup_spec sp;
    if (point_parse_fields(r, CMD_ROLLUP, false, line, len, p, err) != TS_OK ||
        rollup_spec_parse(p->spec, p->spec_len, &sp, err) != TS_OK ||
        rollup_check(r, p, &sp, err) != TS_OK)
        return TS_ERROR;
    return point_finish(p, err);
}

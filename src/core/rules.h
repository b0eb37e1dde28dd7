/*
 * rules.h -- the relay's rules: what happens to a valid point before it
 * is routed.
 *
 * Owns the compiled [rule NAME] sections of one configuration, applied in
 * file order to each valid point a client sent (as its canonical line):
 * a rule whose match = (a pattern on the metric) and tag = conditions
 * (key=pattern, all of them) hold does its action -- drop, rewrite (the
 * metric from a template with \1..\9), set-tags, drop-tags, keep-tags, or
 * send (to groups; it stops by default, the others go on; stop = yes|no
 * says otherwise).  A point no send rule routes goes to the default
 * group.  A changed point is checked again by the TSD's own rules
 * (base/point.c) and written out canonical in a fixed buffer of the rule
 * set: one the TSD would refuse is refused here, counted under the rule
 * that changed it last.  Counters per rule: matched, dropped, refused, errors.  Lines of
 * no client (the spool's drain, a removed backend's hand-over, the
 * stats-interval lines) never come here.  It must never allocate per
 * point, and never keep a pointer to a line past the call.
 */
#ifndef TS_RULES_H
#define TS_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/point.h"
#include "base/util.h"
#include "core/matchcache.h"
#include "core/pattern.h"

#define RULE_PARTS 32           /* literal runs and back-references of a template */
#define RULE_METRIC_MAX 1100    /* a metric being rewritten (the TSD takes 1024-byte lines) */

struct rule_stats {
    uint64_t matched;   /* points its conditions held for (its action ran) */
    uint64_t dropped;   /* points it dropped (action = drop) */
    uint64_t refused;   /* points it changed into one the TSD would refuse */
    uint64_t errors;    /* pattern runs PCRE2 gave up on (match limit): no match */
};

struct rule_cond {
    const char *key;
    size_t klen;
    struct pattern pat;
};

struct rule_part {
    uint32_t off;       /* literal: bytes of the template */
    uint32_t len;
    uint32_t ref;       /* 1..9: a group of match; 0: the literal */
};

struct rule_kv {
    const char *k, *v;
    size_t klen, vlen;
};

struct rule {
    char name[CFG_RULE_NAME_MAX];
    bool has_match;
    struct pattern match;
    struct rule_cond cond[CFG_RULE_TAGS];
    int nconds;
    enum rule_action action;
    bool stop;
    uint64_t to;                   /* send: a mask of group indexes */
    const char *tmpl;              /* rewrite: the template */
    struct rule_part parts[RULE_PARTS];
    int nparts;
    struct rule_kv kv[CFG_RULE_ITEMS]; /* set-tags: k=v; drop-/keep-tags: k */
    int nkv;
    struct rule_stats st;
};

struct rule_work;

struct ruleset {
    struct rule *rules;
    int nrules;
    int default_group;             /* index into the groups built with it */
    uint64_t reach;                /* the groups a point may be sent to */
    bool changes;                  /* some rule may change a point */
    size_t grow_fixed;             /* bytes a point may gain (set-tags, literals) */
    unsigned grow_mult;            /* times a metric may be repeated by rewrites */
    char *text;                    /* the configuration's rule text: names, keys, values */
    struct point_rules prules;     /* the TSD's checks for a changed point */
    struct pattern_ctx pc;
    struct matchcache cache;
    struct rule_work *w;           /* the fixed per-point buffers */
};

/* What the rules made of a point. */
struct rules_verdict {
    const char *line;              /* what leaves: the point's line, or the set's buffer */
    size_t len;
    uint64_t hash;
    uint64_t groups;               /* a mask of group indexes */
    int drop_rule;                 /* >= 0: dropped by this rule */
    int refuse_rule;               /* >= 0: refused (why filled) after this rule */
};

/* Compiles cfg's rules (groups: cfg's, or the implicit "default" alone).
 * Every pattern must compile, every back-reference must name a group of
 * its match, and a template of back-references only must be proved never
 * empty.  NULL with "FILE:LINE: [rule NAME] key: reason" in err. */
struct ruleset *rules_build(const struct config *cfg, char *err, size_t errlen);
void rules_free(struct ruleset *rs);
/* Bytes it holds apart from the heap's bookkeeping (cache and buffers). */
size_t rules_bytes(const struct ruleset *rs);

/* rules_apply's work when there are rules (v holds the line and its hash). */
int rules_run(struct ruleset *rs, const char *line, size_t len, struct rules_verdict *v,
              struct point_error *why);
void rules_count(struct ruleset *rs, const struct rules_verdict *v);

/* Applies the rules to a canonical line (len bytes with its "\n") of
 * series hash hash.  TS_OK with v filled (v->drop_rule >= 0: dropped), or
 * TS_REFUSED with why filled (PE_REFUSED, the rule named).  Nothing is
 * counted until rules_commit: a point the queues had no room for comes
 * again.  v->line stays valid until the next call.  (Every point comes
 * here: without rules it is inline and costs nothing.) */
static inline int
rules_apply(struct ruleset *rs, const char *line, size_t len, uint64_t hash,
            struct rules_verdict *v, struct point_error *why)
{
    v->line = line;
    v->len = len;
    v->hash = hash;
    v->groups = 1ull << rs->default_group;
    v->drop_rule = v->refuse_rule = -1;
    return rs->nrules == 0 ? TS_OK : rules_run(rs, line, len, v, why);
}

/* Counts what rules_apply decided (the last call), once the point is
 * taken, dropped or refused for good. */
static inline void
rules_commit(struct ruleset *rs, const struct rules_verdict *v)
{
    if (rs->nrules > 0)
        rules_count(rs, v);
}
/* The names of the rules whose conditions held in the last call, in
 * order, for the route test: fills idx[] (at most cap), returns how
 * many. */
int rules_last_matched(const struct ruleset *rs, int *idx, int cap);

/* Queue bytes in_bytes of canonical lines may become at most. */
size_t rules_out_bound(const struct ruleset *rs, size_t in_bytes);
/* Counters of the rule named name in prev go on in rs (reload). */
void rules_carry(struct ruleset *rs, const struct ruleset *prev);

#endif

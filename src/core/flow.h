/*
 * flow.h -- where points go: one configuration's groups and rules,
 * built together and replaced together.
 *
 * Owns the pair (core/groups.c, core/rules.c) built from one
 * configuration over the relay's backend slots -- whole, before anything
 * changes, so that a reload with a bad rule is refused and a good one
 * swaps at once between two points -- and what the relay needs of it on
 * the data path: a point's groups to backend slots, the points sent per
 * group, and the bounds (targets of a point, bytes a read may become).
 * Counters of rules and groups of the same name go on across a reload.
 * It decides; it must never queue or hold data.
 */
#ifndef TS_FLOW_H
#define TS_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/util.h"
#include "core/groups.h"
#include "core/rules.h"

struct backend;

struct flow {
    struct groups groups;
    struct ruleset *rules;
    int routed[CFG_MAX_BACKENDS];  /* the slots some group routes to */
    int nrouted;
};

/* Builds cfg's flow over nslots backend slots (names[i], routable[i]:
 * see groups_build).  NULL with err written ("FILE:LINE: [rule NAME]
 * key: reason" for a rule that does not compile). */
struct flow *flow_build(const struct config *cfg, const char *const *names,
                        const bool *routable, int nslots, char *err, size_t errlen);
void flow_free(struct flow *f);
/* The counters of prev's rules and groups go on in next's of the same
 * names. */
void flow_carry(struct flow *next, const struct flow *prev);

int flow_targets_many(struct flow *f, uint64_t groups, uint64_t hash,
                      const struct backend *bes, int *out);
void flow_count_many(struct flow *f, uint64_t groups);

/* The backend slots of the groups of mask for a series hash (each once);
 * returns how many.  bes: see groups_pick.  (Every point asks: the one
 * group of most points is inline.) */
static inline int
flow_targets(struct flow *f, uint64_t groups, uint64_t hash, const struct backend *bes,
             int *out)
{
    TS_ASSERT(groups != 0); /* a point goes to a group at least */
    if ((groups & (groups - 1)) == 0)
        return groups_pick(&f->groups, __builtin_ctzll(groups), hash, bes, out, 0);
    return flow_targets_many(f, groups, hash, bes, out);
}

/* A point went to the groups of mask. */
static inline void
flow_count(struct flow *f, uint64_t groups)
{
    if ((groups & (groups - 1)) == 0)
        f->groups.g[__builtin_ctzll(groups)].points++;
    else
        flow_count_many(f, groups);
}

/* The most backends one point may be sent to, and the most connections
 * one read's points may reach (for the clients' read bound); bes gives
 * each slot's connections. */
size_t flow_max_targets(const struct flow *f);
size_t flow_max_conns(const struct flow *f, const struct backend *bes);

#endif

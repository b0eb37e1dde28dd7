/*
 * groups.h -- backend groups: which backends a group's points go to.
 *
 * Owns the groups of one configuration: [group NAME] sections (their
 * backends in the order given, their routing), or, without any, the
 * implicit group "default" of every backend under [relay] routing, so a
 * file without groups means what it always meant.  Each group has its
 * own router over its members' names (consistent hashing depends on the
 * names only, so every relay agrees) and counts the points sent to it.
 * Members are backend slots (struct relay's array).  It picks; it must
 * never queue or hold data.
 */
#ifndef TS_GROUPS_H
#define TS_GROUPS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "core/router.h"

struct backend;

struct group {
    char name[CFG_RULE_NAME_MAX];
    enum routing policy;
    struct router router;
    int slot[CFG_MAX_BACKENDS];  /* router index -> backend slot */
    int n;
    uint64_t points;             /* points (lines) routed to it */
};

struct groups {
    struct group g[CFG_MAX_GROUPS];
    int n;
    bool implicit;               /* no [group] in the file: "default" is every backend */
};

/* The groups of cfg over the backend slots: slot i is named names[i] and
 * takes part when routable[i] (a removed backend still finishing does
 * not).  TS_OK, or TS_ERROR with err written (a group without a
 * routable member, out of memory). */
int groups_build(struct groups *gs, const struct config *cfg, const char *const *names,
                 const bool *routable, int nslots, char *err, size_t errlen);
void groups_free(struct groups *gs);

/* Adds group gi's targets for a series hash to out (backend slots; n
 * already there, a slot is never added twice); returns the new count.
 * bes: the slots' backends, for their availability of this batch
 * (avail_cached); NULL: every backend counts as available. */
int groups_pick(struct groups *gs, int gi, uint64_t hash, const struct backend *bes, int *out,
                int n);

/* Index of the group named name, -1 for none. */
int groups_find(const struct groups *gs, const char *name);

#endif

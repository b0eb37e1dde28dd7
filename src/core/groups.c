/*
 * groups.c -- backend groups: which backends a group's points go to.
 *
 * Built whole from a configuration and the relay's slots (reload builds
 * the next set before it changes anything); a group is a router over its
 * members and the slot each router index stands for.  It must never
 * queue or hold data.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/groups.h"
#include "output/backend.h"

static int
groups_slot_of(const char *const *names, const bool *routable, int nslots, const char *name)
{
    for (int i = 0; i < nslots; i++)
        if (routable[i] && strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* One group: members by name (or every routable slot), then its router. */
static int
groups_one(struct group *g, const struct config *cfg, int gi, const char *const *names,
           const bool *routable, int nslots, char *err, size_t errlen)
{
    const struct cfg_rules *rc = &cfg->rules;
    const char *member[CFG_MAX_BACKENDS];
    g->n = 0;
    if (rc->ngroups == 0) {
        snprintf(g->name, sizeof(g->name), "default");
        g->policy = cfg->routing;
        for (int i = 0; i < nslots; i++)
            if (routable[i])
                g->slot[g->n++] = i;
    } else {
        const struct cfg_group *cg = &rc->groups[gi];
        snprintf(g->name, sizeof(g->name), "%s", cg->name);
        g->policy = (enum routing)cg->routing;
        for (int m = 0; m < cg->nmembers; m++) {
            int s = groups_slot_of(names, routable, nslots, rulecfg_str(rc, cg->members[m]));
            if (s >= 0)
                g->slot[g->n++] = s;
        }
    }
    for (int i = 0; i < g->n; i++)
        member[i] = names[g->slot[i]];
    if (g->n == 0 || router_init(&g->router, g->policy, member, g->n) != TS_OK) {
        snprintf(err, errlen, "group %s: %s", g->name,
                 g->n == 0 ? "no backend to route to" : "out of memory for its router");
        return TS_ERROR;
    }
    return TS_OK;
}

int
groups_build(struct groups *gs, const struct config *cfg, const char *const *names,
             const bool *routable, int nslots, char *err, size_t errlen)
{
    memset(gs, 0, sizeof(*gs));
    gs->implicit = cfg->rules.ngroups == 0;
    int want = gs->implicit ? 1 : cfg->rules.ngroups;
    for (int i = 0; i < want; i++) {
        if (groups_one(&gs->g[i], cfg, i, names, routable, nslots, err, errlen) != TS_OK) {
            groups_free(gs);
            return TS_ERROR;
        }
        gs->n = i + 1;
    }
    return TS_OK;
}

void
groups_free(struct groups *gs)
{
    for (int i = 0; i < gs->n; i++)
        router_destroy(&gs->g[i].router);
    gs->n = 0;
}

int
groups_find(const struct groups *gs, const char *name)
{
    for (int i = 0; i < gs->n; i++)
        if (strcmp(gs->g[i].name, name) == 0)
            return i;
    return -1;
}

struct groups_avail_ctx {
    const struct group *g;
    const struct backend *bes;
};

static bool
groups_avail(void *ctx, int b)
{
    const struct groups_avail_ctx *c = ctx;
    return c->bes[c->g->slot[b]].avail_cached;
}

int
groups_pick(struct groups *gs, int gi, uint64_t hash, const struct backend *bes, int *out,
            int n)
{
    TS_ASSERT(gi >= 0 && gi < gs->n);
    struct group *g = &gs->g[gi];
    struct groups_avail_ctx ctx = { g, bes };
    int picked[CFG_MAX_BACKENDS];
    int k = router_pick(&g->router, hash, bes ? groups_avail : NULL, &ctx, picked);
    if (n == 0 && k == 1) { /* one target, nothing to merge with: most points */
        out[0] = g->slot[picked[0]];
        return 1;
    }
    for (int i = 0; i < k; i++) {
        int slot = g->slot[picked[i]];
        bool seen = false;
        for (int j = 0; j < n && !seen; j++)
            seen = out[j] == slot;
        if (!seen)
            out[n++] = slot;
    }
    return n;
}

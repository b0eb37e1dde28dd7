/*
 * flow.c -- where points go: one configuration's groups and rules,
 * built together and replaced together.
 *
 * It must never queue or hold data.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "core/flow.h"
#include "output/backend.h"

struct flow *
flow_build(const struct config *cfg, const char *const *names, const bool *routable,
           int nslots, char *err, size_t errlen)
{
    struct flow *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory for the groups");
        return NULL;
    }
    f->rules = rules_build(cfg, err, errlen);
    if (f->rules == NULL) {
        free(f);
        return NULL;
    }
    if (groups_build(&f->groups, cfg, names, routable, nslots, err, errlen) != TS_OK) {
        rules_free(f->rules);
        free(f);
        return NULL;
    }
    for (int s = 0; s < nslots; s++) {
        bool in = false;
        for (int g = 0; g < f->groups.n && !in; g++)
            for (int k = 0; k < f->groups.g[g].n && !in; k++)
                in = f->groups.g[g].slot[k] == s;
        if (in)
            f->routed[f->nrouted++] = s;
    }
    return f;
}

void
flow_free(struct flow *f)
{
    if (f == NULL)
        return;
    groups_free(&f->groups);
    rules_free(f->rules);
    free(f);
}

void
flow_carry(struct flow *next, const struct flow *prev)
{
    if (prev == NULL)
        return;
    rules_carry(next->rules, prev->rules);
    for (int i = 0; i < next->groups.n; i++) {
        int k = groups_find(&prev->groups, next->groups.g[i].name);
        if (k >= 0)
            next->groups.g[i].points = prev->groups.g[k].points;
    }
}

int
flow_targets_many(struct flow *f, uint64_t groups, uint64_t hash, const struct backend *bes,
                  int *out)
{
    int n = 0;
    for (int g = 0; g < f->groups.n; g++)
        if ((groups >> g) & 1)
            n = groups_pick(&f->groups, g, hash, bes, out, n);
    return n;
}

void
flow_count_many(struct flow *f, uint64_t groups)
{
    for (int g = 0; g < f->groups.n; g++)
        if ((groups >> g) & 1)
            f->groups.g[g].points++;
}

size_t
flow_max_targets(const struct flow *f)
{
    size_t n = 0;
    for (int g = 0; g < f->groups.n; g++)
        if ((f->rules->reach >> g) & 1)
            n += f->groups.g[g].policy == ROUTE_ALL ? (size_t)f->groups.g[g].n : 1;
    return TS_MIN(n, (size_t)TS_MAX(f->nrouted, 1));
}

size_t
flow_max_conns(const struct flow *f, const struct backend *bes)
{
    size_t conns = 0;
    for (int g = 0; g < f->groups.n; g++) {
        const struct group *gr = &f->groups.g[g];
        if (!((f->rules->reach >> g) & 1))
            continue;
        size_t sum = 0;
        for (int k = 0; k < gr->n; k++)
            sum += (size_t)bes[gr->slot[k]].nconns;
        conns += gr->policy == ROUTE_ALL ? sum : sum / (size_t)gr->n + 1;
    }
    return conns;
}

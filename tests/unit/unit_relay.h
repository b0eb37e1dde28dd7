/*
 * unit_relay.h -- a minimal relay built by hand for the unit tests of the
 * modules that read a whole relay (stats, history, status page): the
 * default loop, a pool, backends on an unused loopback port (backend_init
 * does not connect), their flow (the implicit group "default", no rules),
 * no spool, no listener.  The loop is never run.  Each test adds what it
 * needs (a hostname, a listen address, rules).
 */
#ifndef TS_UNIT_RELAY_H
#define TS_UNIT_RELAY_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "base/config.h"
#include "base/pool.h"
#include "core/relay.h"
#include "base/counters.h"
#include "base/util.h"

static bool
unit_running(void *ctx)
{
    (void)ctx;
    return true;
}

/* The env backends get from relay.c, for a relay built by hand. */
static const struct backend_env *
unit_backend_env(struct relay *r)
{
    r->benv = (struct backend_env){ .loop = r->loop ? r->loop : EV_DEFAULT, .pool = &r->pool,
                                    .cfg = &r->cfg, .dirty = &r->dirty,
                                    .batch_read_ns = &r->batch_read_ns,
                                    .running = unit_running, .ctx = r };
    return &r->benv;
}

/*
 * Zeroes r and g_stats and builds r: `ncfg` configured backends named
 * names[i] with conns[i] connections each, the first `nrun` of them
 * running; a pool of `limit` bytes in blocks of `block_size`.
 */
static void __attribute__((unused))
unit_relay_build(struct relay *r, const char *const *names, const int *conns, int ncfg, int nrun,
                 size_t block_size, size_t limit)
{
    memset(r, 0, sizeof(*r));
    memset(&g_stats, 0, sizeof(g_stats));
    r->loop = EV_DEFAULT;
    config_defaults(&r->cfg);
    r->cfg.block_size = block_size;
    r->cfg.memory_limit = limit;
    r->cfg.nbackends = ncfg;
    for (int i = 0; i < ncfg; i++) {
        struct cfg_backend *cb = &r->cfg.backends[i];
        snprintf(cb->name, sizeof(cb->name), "%s", names[i]);
        snprintf(cb->addr.host, sizeof(cb->addr.host), "127.0.0.1");
        snprintf(cb->addr.port, sizeof(cb->addr.port), "9"); /* never connected */
        cb->has_address = true;
        cb->conns = conns[i];
        cb->write_timeout_ms = 10000;
        cb->connect_timeout_ms = 5000;
    }
    ck_assert_int_eq(pool_init(&r->pool, block_size, limit, limit / 16, limit / 2), TS_OK);
    r->nbackends = nrun;
    r->backends = calloc((size_t)nrun, sizeof(*r->backends));
    ck_assert_ptr_nonnull(r->backends);
    for (int i = 0; i < nrun; i++)
        ck_assert_int_eq(backend_init(&r->backends[i], unit_backend_env(r), &r->cfg.backends[i], i),
                         TS_OK);
    char err[CFG_ERR_MAX];
    ck_assert_msg(relay_build_flow(r, err, sizeof(err)) == TS_OK, "flow: %s", err);
}

/* Undoes unit_relay_build (the test destroys what it added itself). */
static void __attribute__((unused))
unit_relay_free(struct relay *r)
{
    for (int i = 0; i < r->nbackends; i++)
        backend_destroy(&r->backends[i]);
    free(r->backends);
    r->backends = NULL;
    flow_free(r->flow);
    r->flow = NULL;
    pool_destroy(&r->pool);
}

#endif

/*
 * check_pool.c -- unit tests of the memory budget and block pool
 * (src/base/pool.c).
 *
 * Covers: set-up and its bounds; the three classes (queue: all but the
 * control reserve; input: its own limit too; control: everything) in
 * pool_avail, pool_get and pool_charge, refusing exactly at each limit
 * (counted), each block and charge returned to its own class; a block
 * taken out of an admission's charge (pool_get_charged); pool_put and reuse from the free list without new
 * mappings; pool_charge / pool_uncharge including refusals and making room
 * by unmapping free blocks; exact used / reserved bytes; pool_trim
 * releasing half of the blocks idle since the last trim; peak_used_bytes.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "unit.h"

#define BS 4096u

/* 64 blocks: the last 4 for control only, at most 40 for input */
#define INIT(p) ck_assert_int_eq(pool_init((p), BS, 64 * BS, 4 * BS, 40 * BS), TS_OK)

START_TEST(test_init)
{
    struct pool p;
    INIT(&p);
    ck_assert_uint_eq(p.block_size, BS);
    ck_assert_uint_eq(p.data_size, BS - sizeof(struct block));
    ck_assert_uint_eq(p.limit, 64 * BS);
    ck_assert_uint_eq(p.control_reserve, 4 * BS);
    ck_assert_uint_eq(p.input_limit, 40 * BS);
    ck_assert_uint_eq(pool_used_bytes(&p), 0);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 0);
    ck_assert_uint_eq(p.stats.mapped, 0);

    ck_assert_int_eq(pool_init(&p, 255, 1 << 20, 0, 0), TS_ERROR);
    ck_assert_int_eq(pool_init(&p, BS, BS - 1, 0, 0), TS_ERROR);
    /* the reserve must leave something; input must fit what is left */
    ck_assert_int_eq(pool_init(&p, BS, 64 * BS, 64 * BS, 0), TS_ERROR);
    ck_assert_int_eq(pool_init(&p, BS, 64 * BS, 4 * BS, 60 * BS + 1), TS_ERROR);
    ck_assert_int_eq(pool_init(&p, BS, 64 * BS, 4 * BS, 60 * BS), TS_OK);
    ck_assert_int_eq(pool_init(&p, 256, 256, 0, 0), TS_OK);
}
END_TEST

START_TEST(test_avail_and_limits)
{
    struct pool p;
    struct block *b[80];
    INIT(&p);
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 60 * BS);
    ck_assert_uint_eq(pool_avail(&p, POOL_INPUT), 40 * BS);
    ck_assert_uint_eq(pool_avail(&p, POOL_CONTROL), 64 * BS);

    /* input stops at its own limit, counted */
    for (int i = 0; i < 40; i++) {
        b[i] = pool_get(&p, POOL_INPUT);
        ck_assert_msg(b[i] != NULL, "input get %d refused", i);
        ck_assert_uint_eq(b[i]->cls, POOL_INPUT);
    }
    ck_assert_ptr_null(pool_get(&p, POOL_INPUT));
    ck_assert_uint_eq(p.stats.get_failures, 1);
    ck_assert_uint_eq(p.used[POOL_INPUT], 40 * BS);
    /* the queues keep the rest but the control reserve */
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 20 * BS);
    for (int i = 40; i < 60; i++) {
        b[i] = pool_get(&p, POOL_QUEUE);
        ck_assert_msg(b[i] != NULL, "queue get %d refused", i);
        ck_assert_uint_eq(b[i]->start, 0);
        ck_assert_uint_eq(b[i]->len, 0);
        ck_assert_ptr_null(b[i]->next);
    }
    ck_assert_ptr_null(pool_get(&p, POOL_QUEUE));
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 0);
    ck_assert_uint_eq(pool_avail(&p, POOL_INPUT), 0);
    /* control has the reserve, and then nothing */
    ck_assert_uint_eq(pool_avail(&p, POOL_CONTROL), 4 * BS);
    for (int i = 60; i < 64; i++)
        ck_assert_ptr_nonnull(b[i] = pool_get(&p, POOL_CONTROL));
    ck_assert_ptr_null(pool_get(&p, POOL_CONTROL));
    ck_assert_uint_eq(p.stats.get_failures, 3);
    ck_assert_uint_eq(pool_used_bytes(&p), 64 * BS);
    ck_assert_uint_le(pool_reserved_bytes(&p), p.limit);

    /* each class gets back exactly its own */
    pool_put(&p, b[0]);
    ck_assert_uint_eq(p.used[POOL_INPUT], 39 * BS);
    pool_put(&p, b[63]);
    ck_assert_uint_eq(p.used[POOL_CONTROL], 3 * BS);
    ck_assert_uint_eq(p.used[POOL_QUEUE], 20 * BS);
    /* control's blocks count against everybody's total: with control
     * holding 3, queues and input share 57, all in use */
    ck_assert_ptr_null(pool_get(&p, POOL_QUEUE));
    ck_assert_ptr_null(b[0] = pool_get(&p, POOL_INPUT));
    ck_assert_ptr_nonnull(b[63] = pool_get(&p, POOL_CONTROL));
    for (int i = 0; i < 64; i++)
        pool_put(&p, b[i]);
    ck_assert_uint_eq(pool_used_bytes(&p), 0);
    pool_destroy(&p);
}
END_TEST

/* An admission charges first; the block that holds the unit then comes
 * out of that charge without a second check. */
START_TEST(test_get_charged)
{
    struct pool p;
    INIT(&p);
    ck_assert_int_eq(pool_charge(&p, 40 * BS, POOL_INPUT), TS_OK);
    ck_assert_ptr_null(pool_get(&p, POOL_INPUT));
    struct block *b = pool_get_charged(&p, POOL_INPUT);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->cls, POOL_INPUT);
    ck_assert_uint_eq(p.used[POOL_INPUT], 40 * BS);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 40 * BS);
    pool_put(&p, b); /* the block's bytes leave the class */
    ck_assert_uint_eq(p.used[POOL_INPUT], 39 * BS);
    pool_uncharge(&p, 39 * BS, POOL_INPUT);
    ck_assert_uint_eq(pool_used_bytes(&p), 0);
    pool_destroy(&p);
}
END_TEST

START_TEST(test_charge)
{
    struct pool p;
    INIT(&p);
    ck_assert_int_eq(pool_charge(&p, 1000, POOL_QUEUE), TS_OK);
    ck_assert_uint_eq(p.used[POOL_QUEUE], 1000);
    ck_assert_uint_eq(pool_used_bytes(&p), 1000);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 1000);
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 60 * BS - 1000);
    ck_assert_uint_eq(pool_avail(&p, POOL_CONTROL), 64 * BS - 1000);
    ck_assert_uint_eq(pool_avail(&p, POOL_INPUT), 40 * BS);

    /* exactly up to the queue class's limit, not one byte more */
    ck_assert_int_eq(pool_charge(&p, 60 * BS - 1000 + 1, POOL_QUEUE), TS_ENOMEM);
    ck_assert_uint_eq(p.stats.charge_failures, 1);
    ck_assert_uint_eq(p.used[POOL_QUEUE], 1000);
    ck_assert_int_eq(pool_charge(&p, 60 * BS - 1000, POOL_QUEUE), TS_OK);
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 0);
    ck_assert_int_eq(pool_charge(&p, 1, POOL_QUEUE), TS_ENOMEM);
    /* full queues leave input nothing either: the budget is one */
    ck_assert_int_eq(pool_charge(&p, 1, POOL_INPUT), TS_ENOMEM);
    /* a block needs a whole block of budget: the queue class has none */
    ck_assert_ptr_null(pool_get(&p, POOL_QUEUE));
    ck_assert_uint_eq(p.stats.get_failures, 1);
    /* the control class has the reserve */
    ck_assert_int_eq(pool_charge(&p, 4 * BS, POOL_CONTROL), TS_OK);
    ck_assert_int_eq(pool_charge(&p, 1, POOL_CONTROL), TS_ENOMEM);
    ck_assert_uint_eq(p.stats.charge_failures, 4);
    ck_assert_uint_eq(pool_used_bytes(&p), 64 * BS);
    ck_assert_uint_eq(p.peak_used_bytes, 64 * BS);

    pool_uncharge(&p, 4 * BS, POOL_CONTROL);
    ck_assert_uint_eq(pool_used_bytes(&p), 60 * BS);
    ck_assert_uint_eq(pool_avail(&p, POOL_CONTROL), 4 * BS);
    /* uncharging more than charged clamps at zero, in that class only */
    ck_assert_int_eq(pool_charge(&p, 4 * BS, POOL_CONTROL), TS_OK);
    pool_uncharge(&p, 1000 * BS, POOL_QUEUE);
    ck_assert_uint_eq(p.used[POOL_QUEUE], 0);
    ck_assert_uint_eq(p.used[POOL_CONTROL], 4 * BS);
    pool_uncharge(&p, 4 * BS, POOL_CONTROL);
    ck_assert_uint_eq(pool_used_bytes(&p), 0);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 0);
    ck_assert_uint_eq(p.peak_used_bytes, 64 * BS);
}
END_TEST

/* Charged bytes and cached free blocks share the limit: a charge unmaps
 * free blocks to make room, so reserved bytes never exceed the limit. */
START_TEST(test_charge_makes_room)
{
    struct pool p;
    struct block *b[64];
    INIT(&p);
    for (int i = 0; i < 64; i++)
        ck_assert_ptr_nonnull(b[i] = pool_get(&p, POOL_CONTROL));
    for (int i = 0; i < 64; i++)
        pool_put(&p, b[i]);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 64 * BS);
    ck_assert_uint_eq(pool_used_bytes(&p), 0);

    ck_assert_int_eq(pool_charge(&p, 2 * BS, POOL_QUEUE), TS_OK);
    ck_assert_uint_eq(p.stats.unmapped, 2);
    ck_assert_uint_eq(p.blocks_free, 62);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 64 * BS);
    ck_assert_uint_eq(pool_used_bytes(&p), 2 * BS);

    /* a partial block of charge still unmaps a whole free block */
    ck_assert_int_eq(pool_charge(&p, 1, POOL_QUEUE), TS_OK);
    ck_assert_uint_eq(p.stats.unmapped, 3);
    ck_assert_uint_eq(p.blocks_free, 61);
    ck_assert_uint_le(pool_reserved_bytes(&p), p.limit);

    /* blocks still come from the free list without mapping */
    uint64_t mapped = p.stats.mapped;
    struct block *x = pool_get(&p, POOL_QUEUE);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(p.stats.mapped, mapped);
    ck_assert_uint_eq(pool_used_bytes(&p), 3 * BS + 1);
    pool_put(&p, x);
    pool_destroy(&p);
}
END_TEST

/* A limit that is not a whole number of blocks: the tail stays unused by
 * blocks but can be charged. */
START_TEST(test_uneven_limit)
{
    struct pool p;
    ck_assert_int_eq(pool_init(&p, BS, 10 * BS + 100, 2 * BS, 4 * BS), TS_OK);
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 8 * BS + 100);
    int n = 0;
    while (pool_get(&p, POOL_QUEUE) != NULL)
        n++;
    ck_assert_int_eq(n, 8);
    ck_assert_uint_eq(pool_avail(&p, POOL_QUEUE), 100);
    ck_assert_int_eq(pool_charge(&p, 100, POOL_QUEUE), TS_OK);
    ck_assert_uint_eq(pool_avail(&p, POOL_CONTROL), 2 * BS);
    n = 0;
    while (pool_get(&p, POOL_CONTROL) != NULL)
        n++;
    ck_assert_int_eq(n, 2);
    ck_assert_uint_eq(pool_avail(&p, POOL_CONTROL), 0);
    ck_assert_uint_le(pool_reserved_bytes(&p), p.limit);
}
END_TEST

START_TEST(test_reuse_free_list)
{
    struct pool p;
    struct block *b[8];
    INIT(&p);
    for (int i = 0; i < 8; i++)
        b[i] = pool_get(&p, POOL_QUEUE);
    ck_assert_uint_eq(p.stats.mapped, 8);
    /* dirty the header fields an owner may use */
    for (int i = 0; i < 8; i++) {
        b[i]->start = 7;
        b[i]->len = 9;
        b[i]->base = 1234;
        b[i]->stamp = 99;
        b[i]->lines = 3;
        b[i]->aux = 4;
        pool_put(&p, b[i]);
    }
    ck_assert_uint_eq(p.blocks_free, 8);
    for (int round = 0; round < 100; round++) {
        struct block *x[8];
        for (int i = 0; i < 8; i++) {
            x[i] = pool_get(&p, POOL_QUEUE);
            ck_assert_ptr_nonnull(x[i]);
            ck_assert_uint_eq(x[i]->start, 0);
            ck_assert_uint_eq(x[i]->len, 0);
            ck_assert_uint_eq(x[i]->base, 0);
            ck_assert_uint_eq(x[i]->stamp, 0);
            ck_assert_uint_eq(x[i]->lines, 0);
            ck_assert_uint_eq(x[i]->aux, 0);
            ck_assert_ptr_null(x[i]->next);
        }
        for (int i = 0; i < 8; i++)
            pool_put(&p, x[i]);
    }
    /* 800 gets, no new mapping */
    ck_assert_uint_eq(p.stats.mapped, 8);
    ck_assert_uint_eq(p.stats.gets, 808);
    ck_assert_uint_eq(p.stats.unmapped, 0);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 8 * BS);
    ck_assert_uint_eq(p.peak_used_bytes, 8 * BS);
    pool_destroy(&p);
    ck_assert_uint_eq(p.stats.unmapped, 8);
}
END_TEST

START_TEST(test_trim)
{
    struct pool p;
    struct block *b[16];
    INIT(&p);
    for (int i = 0; i < 16; i++)
        b[i] = pool_get(&p, POOL_QUEUE);
    for (int i = 0; i < 16; i++)
        pool_put(&p, b[i]);
    ck_assert_uint_eq(p.blocks_free, 16);

    /* none of them was idle for a whole period yet */
    ck_assert_uint_eq(pool_trim(&p), 0);
    ck_assert_uint_eq(p.blocks_free, 16);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 16 * BS);

    /* all 16 idle since the last trim: half go */
    ck_assert_uint_eq(pool_trim(&p), 8);
    ck_assert_uint_eq(p.blocks_free, 8);
    ck_assert_uint_eq(p.stats.unmapped, 8);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 8 * BS);

    /* three taken and given back: only 5 stayed idle, 2 go */
    for (int i = 0; i < 3; i++)
        b[i] = pool_get(&p, POOL_QUEUE);
    for (int i = 0; i < 3; i++)
        pool_put(&p, b[i]);
    ck_assert_uint_eq(p.blocks_free, 8);
    ck_assert_uint_eq(pool_trim(&p), 2);
    ck_assert_uint_eq(p.blocks_free, 6);
    ck_assert_uint_eq(pool_reserved_bytes(&p), 6 * BS);

    ck_assert_uint_eq(pool_trim(&p), 3);
    ck_assert_uint_eq(p.blocks_free, 3);
    ck_assert_uint_eq(pool_trim(&p), 1);
    ck_assert_uint_eq(pool_trim(&p), 1);
    ck_assert_uint_eq(p.blocks_free, 1);
    ck_assert_uint_eq(pool_trim(&p), 0);
    ck_assert_uint_eq(p.blocks_free, 1);
    ck_assert_uint_eq(p.stats.unmapped, 15);
    ck_assert_uint_eq(pool_reserved_bytes(&p), BS);

    /* blocks in use are never trimmed */
    struct block *u = pool_get(&p, POOL_QUEUE);
    ck_assert_uint_eq(pool_trim(&p), 0);
    ck_assert_uint_eq(pool_trim(&p), 0);
    ck_assert_uint_eq(p.blocks_used, 1);
    ck_assert_uint_eq(pool_used_bytes(&p), BS);
    pool_put(&p, u);
    pool_destroy(&p);
}
END_TEST

START_TEST(test_peak)
{
    struct pool p;
    struct block *b[10];
    INIT(&p);
    for (int i = 0; i < 10; i++)
        b[i] = pool_get(&p, POOL_QUEUE);
    ck_assert_uint_eq(p.peak_used_bytes, 10 * BS);
    for (int i = 0; i < 10; i++)
        pool_put(&p, b[i]);
    ck_assert_uint_eq(p.peak_used_bytes, 10 * BS);
    for (int i = 0; i < 5; i++)
        b[i] = pool_get(&p, POOL_QUEUE);
    ck_assert_uint_eq(p.peak_used_bytes, 10 * BS);
    ck_assert_int_eq(pool_charge(&p, 5 * BS + 7, POOL_QUEUE), TS_OK);
    ck_assert_uint_eq(p.peak_used_bytes, 10 * BS + 7);
    pool_uncharge(&p, 5 * BS + 7, POOL_QUEUE);
    for (int i = 0; i < 5; i++)
        pool_put(&p, b[i]);
    ck_assert_uint_eq(p.peak_used_bytes, 10 * BS + 7);
    pool_destroy(&p);
}
END_TEST

static Suite *
pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_avail_and_limits);
    tcase_add_test(tc, test_get_charged);
    tcase_add_test(tc, test_uneven_limit);
    tcase_add_test(tc, test_reuse_free_list);
    tcase_add_test(tc, test_charge);
    tcase_add_test(tc, test_charge_makes_room);
    tcase_add_test(tc, test_trim);
    tcase_add_test(tc, test_peak);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(pool_suite)

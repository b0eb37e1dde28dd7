/*
 * check_frameack.c -- unit tests of the frame acknowledgements of one
 * connection (src/input/frameack.c), over a fake delivery: a mark is the count
 * of lines submitted when it was taken, and it is safe once that many are
 * delivered.
 *
 * Covers: frameack_note / frameack_ready answer the newest frame whose
 * mark is safe, cumulative (one answer covers every frame up to it) and
 * coalesced (marks safe together give one answer), never the same number
 * twice and never a smaller one; a mark not yet safe holds back every
 * later frame (oldest first); zero frames take no mark; a full ring moves
 * the newest mark forward (the frames of the moved mark wait for the later
 * mark); a random run of notes and deliveries never answers a frame before
 * every line submitted up to it is delivered, and answers all of them once
 * everything is.  frameack_remark: no pending frame takes no mark (same
 * width: the same struct); pending marks collapse into one fresh mark at
 * the newest frame (the earlier, older marks no longer answer); the number
 * already answered stays; a new width gives a new struct of that width
 * (marks of the new width, frames and acked carried over, the old one
 * freed -- the sanitizer and valgrind runs check that) whose marks work.
 * Each waiting mark knows where its lines began (frameack_begin before the
 * read), and the newest of a full ring keeps its beginning.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "input/frameack.h"
#include "unit.h"
#include "base/util.h"

/* The fake delivery: `submitted` lines went out, `delivered` of them are
 * safe.  A mark of width w holds submitted + i in word i (every word is
 * written and read, so a mark too narrow for its width shows). */
struct fake {
    uint64_t submitted;
    uint64_t delivered;
    size_t width;
    int marks;   /* mark calls */
    int checks;  /* safe calls */
};

static void
fake_mark(void *ctx, uint64_t *w)
{
    struct fake *f = ctx;
    f->marks++;
    for (size_t i = 0; i < f->width; i++)
        w[i] = f->submitted + i;
}

static bool
fake_safe(void *ctx, const uint64_t *w)
{
    struct fake *f = ctx;
    f->checks++;
    for (size_t i = 0; i < f->width; i++)
        if (w[i] < i || w[i] - i > f->delivered)
            return false;
    return true;
}

static struct fake F;
static struct frameack *fa;

static void
setup(void)
{
    memset(&F, 0, sizeof(F));
    F.width = 2;
    fa = frameack_new(F.width);
    ck_assert_ptr_nonnull(fa);
}

static void
teardown(void)
{
    frameack_free(fa);
    fa = NULL;
}

/* n frames complete after `lines` more lines were submitted. */
static void
frames(uint64_t n, uint64_t lines)
{
    F.submitted += lines;
    frameack_note(fa, n, fake_mark, &F);
}

static uint64_t
ready(void)
{
    return frameack_ready(fa, fake_safe, &F);
}

START_TEST(test_new_is_empty)
{
    ck_assert_uint_eq(fa->frames, 0);
    ck_assert_uint_eq(fa->acked, 0);
    ck_assert_uint_eq(fa->width, 2);
    ck_assert(!frameack_pending(fa));
    ck_assert_uint_eq(ready(), 0);
    /* the marks, where each began, and the mark before the read */
    ck_assert_uint_eq(frameack_size(3),
                      sizeof(struct frameack) + (2 * FRAMEACK_MARKS + 1) * 3 * 8);
    /* zero frames: no mark */
    frames(0, 5);
    ck_assert_int_eq(F.marks, 0);
    ck_assert(!frameack_pending(fa));
    ck_assert_uint_eq(fa->frames, 0);
}
END_TEST

START_TEST(test_answers_when_safe_in_order)
{
    frames(1, 10);  /* frame 1: lines up to 10 */
    frames(2, 10);  /* frames 2-3: up to 20 */
    frames(1, 10);  /* frame 4: up to 30 */
    ck_assert_int_eq(F.marks, 3);
    ck_assert(frameack_pending(fa));
    ck_assert_uint_eq(fa->frames, 4);
    F.delivered = 9;
    ck_assert_uint_eq(ready(), 0);
    F.delivered = 10;
    ck_assert_uint_eq(ready(), 1);
    ck_assert_uint_eq(ready(), 0); /* answered once */
    F.delivered = 29;
    ck_assert_uint_eq(ready(), 3); /* cumulative: frames 2 and 3 */
    ck_assert(frameack_pending(fa));
    F.delivered = 1000;
    ck_assert_uint_eq(ready(), 4);
    ck_assert_uint_eq(fa->acked, 4);
    ck_assert(!frameack_pending(fa));
    ck_assert_uint_eq(ready(), 0);
}
END_TEST

START_TEST(test_coalesced)
{
    for (int i = 0; i < 5; i++)
        frames(1, 3);
    F.delivered = F.submitted;
    ck_assert_uint_eq(ready(), 5); /* one answer for all five */
    ck_assert_uint_eq(ready(), 0);
    ck_assert(!frameack_pending(fa));
}
END_TEST

/* Marks are checked oldest first: a later mark already safe answers
 * nothing while an older one is not (a delivery that is not monotonic,
 * as lines of other clients move ahead). */
START_TEST(test_oldest_first)
{
    frames(1, 10);
    frames(1, 10);
    /* the second mark's words say safe, the first's not */
    fa->w[fa->head * fa->width] = 500;
    F.delivered = 20;
    ck_assert_uint_eq(ready(), 0);
    ck_assert(frameack_pending(fa));
    F.delivered = 500;
    ck_assert_uint_eq(ready(), 2);
}
END_TEST

START_TEST(test_never_backwards)
{
    frames(3, 10);
    F.delivered = 10;
    ck_assert_uint_eq(ready(), 3);
    /* a mark for a frame not past the answered one answers nothing */
    frames(1, 0);
    fa->frame[(fa->head + fa->n - 1) % FRAMEACK_MARKS] = 2;
    ck_assert_uint_eq(ready(), 0);
    ck_assert_uint_eq(fa->acked, 3);
    ck_assert(!frameack_pending(fa)); /* but it is consumed */
    frames(1, 1);
    F.delivered = 11;
    ck_assert_uint_eq(ready(), 5);
}
END_TEST

START_TEST(test_full_ring_moves_the_newest)
{
    for (int i = 1; i <= FRAMEACK_MARKS; i++)
        frames(1, 10); /* frame i: up to 10 * i */
    ck_assert_uint_eq(fa->n, FRAMEACK_MARKS);
    frames(1, 10);      /* frame 9: the 8th mark moves to it (up to 90) */
    frames(2, 10);      /* frames 10-11: again (up to 100) */
    ck_assert_uint_eq(fa->n, FRAMEACK_MARKS);
    ck_assert_uint_eq(fa->frames, FRAMEACK_MARKS + 3);
    ck_assert_int_eq(F.marks, FRAMEACK_MARKS + 2);
    F.delivered = 10 * (FRAMEACK_MARKS - 1);
    ck_assert_uint_eq(ready(), FRAMEACK_MARKS - 1);
    /* frame 8's lines are delivered, but its mark now stands for 11 */
    F.delivered = 10 * FRAMEACK_MARKS;
    ck_assert_uint_eq(ready(), 0);
    F.delivered = 99;
    ck_assert_uint_eq(ready(), 0);
    F.delivered = 100;
    ck_assert_uint_eq(ready(), FRAMEACK_MARKS + 3);
    ck_assert(!frameack_pending(fa));
    /* the ring has room again */
    frames(1, 1);
    ck_assert_uint_eq(fa->n, 1);
    F.delivered = 101;
    ck_assert_uint_eq(ready(), FRAMEACK_MARKS + 4);
}
END_TEST

/* Random notes and deliveries: every answer N is new and larger, and
 * every line submitted before frame N completed was delivered. */
START_TEST(test_random_never_early)
{
    enum { FR = 20000 };
    static uint64_t lines_at[FR + 64]; /* lines submitted when frame i completed */
    uint64_t s = 0x9E3779B97F4A7C15ull;
    uint64_t last = 0;
    int answers = 0;
    for (int step = 0; step < 4000; step++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint64_t n = s % 4;            /* 0..3 frames */
        uint64_t lines = (s >> 8) % 50;
        if (fa->frames + n <= FR) {
            F.submitted += lines;
            for (uint64_t k = 1; k <= n; k++)
                lines_at[fa->frames + k] = F.submitted;
            frameack_note(fa, n, fake_mark, &F);
        }
        if ((s >> 20) % 3 == 0) /* delivery moves, sometimes */
            F.delivered += (s >> 24) % (F.submitted - F.delivered + 1);
        uint64_t a = ready();
        if (a == 0)
            continue;
        answers++;
        if (a <= last || a > fa->frames)
            ck_abort_msg("step %d: answered %llu after %llu (%llu frames)", step,
                         (unsigned long long)a, (unsigned long long)last,
                         (unsigned long long)fa->frames);
        if (lines_at[a] > F.delivered)
            ck_abort_msg("step %d: frame %llu answered with %llu of its %llu lines delivered",
                         step, (unsigned long long)a, (unsigned long long)F.delivered,
                         (unsigned long long)lines_at[a]);
        last = a;
    }
    ck_assert_int_gt(answers, 100);
    /* everything delivered: everything answered */
    F.delivered = F.submitted;
    uint64_t a = ready();
    if (a != 0)
        last = a;
    ck_assert_uint_eq(last, fa->frames);
    ck_assert(!frameack_pending(fa));
}
END_TEST

/* Where each waiting mark's lines began: the mark before the read that
 * completed its frames (kept when the ring is full: the newest's stays). */
START_TEST(test_where_marks_began)
{
    F.submitted = 10;
    frameack_begin(fa, fake_mark, &F);
    frames(1, 5);                       /* lines 10..15 */
    F.submitted += 100;                 /* another client's */
    frameack_begin(fa, fake_mark, &F);
    frames(2, 7);                       /* lines 115..122 */
    const uint64_t *start, *end;
    end = frameack_mark_at(fa, 0, &start);
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_eq(start[0], 10);
    ck_assert_uint_eq(end[0], 15);
    end = frameack_mark_at(fa, 1, &start);
    ck_assert_uint_eq(start[0], 115);
    ck_assert_uint_eq(end[0], 122);
    ck_assert_uint_eq(start[1], 116); /* every word */
    ck_assert_ptr_null(frameack_mark_at(fa, 2, &start));
    for (int i = 0; i < FRAMEACK_MARKS + 3; i++) { /* past full: the newest moves on */
        frameack_begin(fa, fake_mark, &F);
        frames(1, 1);
    }
    end = frameack_mark_at(fa, FRAMEACK_MARKS - 1, &start);
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_lt(start[0], end[0] - 1); /* it spans what it took in */
    F.delivered = F.submitted;
    ck_assert_uint_gt(ready(), 0);
    ck_assert_ptr_null(frameack_mark_at(fa, 0, &start));
}
END_TEST

START_TEST(test_remark_nothing_pending)
{
    frames(2, 10);
    F.delivered = 10;
    ck_assert_uint_eq(ready(), 2);
    int marks = F.marks;
    struct frameack *nf = frameack_remark(fa, F.width, fake_mark, &F);
    ck_assert_ptr_eq(nf, fa);
    ck_assert_int_eq(F.marks, marks); /* no mark */
    ck_assert(!frameack_pending(fa));
    ck_assert_uint_eq(ready(), 0);
    /* a new width with nothing pending: a new struct, still no mark */
    F.width = 5;
    nf = frameack_remark(fa, F.width, fake_mark, &F);
    ck_assert_ptr_nonnull(nf);
    fa = nf;
    ck_assert_uint_eq(fa->width, 5);
    ck_assert_int_eq(F.marks, marks);
    ck_assert(!frameack_pending(fa));
    ck_assert_uint_eq(fa->frames, 2);
    ck_assert_uint_eq(fa->acked, 2);
    frames(1, 1);
    F.delivered = 11;
    ck_assert_uint_eq(ready(), 3);
}
END_TEST

START_TEST(test_remark_collapses_to_one_fresh_mark)
{
    frames(1, 10);  /* frame 1: up to 10 */
    F.delivered = 10;
    ck_assert_uint_eq(ready(), 1);
    frames(1, 10);  /* 2: up to 20 */
    frames(1, 10);  /* 3: up to 30 */
    frames(2, 10);  /* 4-5: up to 40 */
    ck_assert_uint_eq(fa->n, 3);
    /* lines moved (a hand-over): 5 more submitted since, the mark is now */
    F.submitted += 5;
    int marks = F.marks;
    struct frameack *nf = frameack_remark(fa, F.width, fake_mark, &F);
    ck_assert_ptr_eq(nf, fa); /* same width: in place */
    ck_assert_int_eq(F.marks, marks + 1);
    ck_assert_uint_eq(fa->n, 1);
    ck_assert_uint_eq(fa->frame[fa->head], 5);
    ck_assert_uint_eq(fa->acked, 1);
    /* the old marks are gone: their lines delivered answers nothing */
    F.delivered = 20;
    ck_assert_uint_eq(ready(), 0);
    F.delivered = 44;
    ck_assert_uint_eq(ready(), 0);
    F.delivered = 45;
    ck_assert_uint_eq(ready(), 5);
    ck_assert(!frameack_pending(fa));
}
END_TEST

START_TEST(test_remark_new_width)
{
    frames(1, 10);
    F.delivered = 10;
    ck_assert_uint_eq(ready(), 1);
    for (int i = 0; i < FRAMEACK_MARKS; i++)
        frames(1, 10); /* frames 2..9, up to 90; the ring full */
    ck_assert_uint_eq(fa->n, FRAMEACK_MARKS);
    /* wider: a reload added backends */
    F.width = 7;
    struct frameack *old = fa;
    struct frameack *nf = frameack_remark(fa, F.width, fake_mark, &F);
    ck_assert_ptr_nonnull(nf);
    ck_assert_ptr_ne(nf, old);
    fa = nf;
    ck_assert_uint_eq(fa->width, 7);
    ck_assert_ptr_eq(fa->w, (uint64_t *)(fa + 1));
    ck_assert_uint_eq(fa->frames, 1 + FRAMEACK_MARKS);
    ck_assert_uint_eq(fa->acked, 1);
    ck_assert_uint_eq(fa->n, 1);
    ck_assert_uint_eq(fa->frame[fa->head], 1 + FRAMEACK_MARKS);
    for (size_t i = 0; i < 7; i++)
        ck_assert_uint_eq(fa->w[fa->head * 7 + i], 90 + i);
    /* the new ring takes every slot at the new width */
    for (int i = 0; i < FRAMEACK_MARKS - 1; i++)
        frames(1, 1);
    ck_assert_uint_eq(fa->n, FRAMEACK_MARKS);
    F.delivered = 89;
    ck_assert_uint_eq(ready(), 0);
    F.delivered = 90;
    ck_assert_uint_eq(ready(), 1 + FRAMEACK_MARKS);
    F.delivered = F.submitted;
    ck_assert_uint_eq(ready(), fa->frames);
    /* narrower again */
    frames(1, 1);
    F.width = 1;
    fa = frameack_remark(fa, F.width, fake_mark, &F);
    ck_assert_ptr_nonnull(fa);
    ck_assert_uint_eq(fa->width, 1);
    ck_assert_uint_eq(fa->n, 1);
    F.delivered = F.submitted;
    ck_assert_uint_eq(ready(), fa->frames);
}
END_TEST

static Suite *
frameack_suite(void)
{
    Suite *s = suite_create("frameack");
    TCase *t = tcase_create("frameack");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_new_is_empty);
    tcase_add_test(t, test_answers_when_safe_in_order);
    tcase_add_test(t, test_coalesced);
    tcase_add_test(t, test_oldest_first);
    tcase_add_test(t, test_never_backwards);
    tcase_add_test(t, test_full_ring_moves_the_newest);
    tcase_add_test(t, test_random_never_early);
    tcase_add_test(t, test_where_marks_began);
    tcase_add_test(t, test_remark_nothing_pending);
    tcase_add_test(t, test_remark_collapses_to_one_fresh_mark);
    tcase_add_test(t, test_remark_new_width);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(frameack_suite)

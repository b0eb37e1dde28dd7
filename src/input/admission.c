/*
 * admission.c -- who may buffer input, and who may decode it, when memory
 * is short.
 *
 * The input line is strictly first come, first served: a large unit at
 * the head is not overtaken by small ones behind it, so it cannot starve;
 * it waits for memory that admitted units give back as they complete, and
 * they complete without asking for more.  The room line resumes as many
 * decoders as the free queue room can carry (one room_step each, at
 * least one), in turn, once room_resume is free or the queues are empty;
 * a decoder that stops again goes to the back.  It never reads a socket.
 */
#include "autoconf.h"

#include <string.h>

#include "input/admission.h"
#include "base/util.h"

void
admission_init(struct admission *a, struct pool *p, size_t room_resume, size_t room_step)
{
    memset(a, 0, sizeof(*a));
    a->pool = p;
    a->room_resume = room_resume;
    a->room_step = room_step > 0 ? room_step : 1;
}

static void
push(struct admit_ticket **head, struct admit_ticket **tail, struct admit_ticket *t, double now)
{
    t->next = NULL;
    t->since = now;
    t->waiting = true;
    if (*tail != NULL)
        (*tail)->next = t;
    else
        *head = t;
    *tail = t;
}

static struct admit_ticket *
pop(struct admit_ticket **head, struct admit_ticket **tail)
{
    struct admit_ticket *t = *head;
    *head = t->next;
    if (*head == NULL)
        *tail = NULL;
    t->next = NULL;
    t->waiting = false;
    return t;
}

/* Removes t from a line; false when it was not in it. */
static bool
unlink_from(struct admit_ticket **head, struct admit_ticket **tail, struct admit_ticket *t)
{
    struct admit_ticket *prev = NULL;
    for (struct admit_ticket *x = *head; x != NULL; prev = x, x = x->next) {
        if (x != t)
            continue;
        if (prev != NULL)
            prev->next = x->next;
        else
            *head = x->next;
        if (*tail == x)
            *tail = prev;
        x->next = NULL;
        x->waiting = false;
        return true;
    }
    return false;
}

int
admission_request(struct admission *a, struct admit_ticket *t, size_t bytes, double now)
{
    t->bytes = bytes;
    if (a->head == NULL && pool_avail(a->pool, POOL_INPUT) >= bytes &&
        pool_charge(a->pool, bytes, POOL_INPUT) == TS_OK) {
        a->st.grants++;
        return TS_OK;
    }
    push(&a->head, &a->tail, t, now);
    a->nwaiting++;
    a->bytes_waiting += bytes;
    a->st.waits++;
    return TS_EAGAIN;
}

void
admission_cancel(struct admission *a, struct admit_ticket *t)
{
    if (!t->waiting)
        return;
    if (unlink_from(&a->head, &a->tail, t)) {
        TS_ASSERT(t->bytes <= a->bytes_waiting); /* its bytes were added when it came */
        a->nwaiting--;
        a->bytes_waiting -= TS_MIN(t->bytes, a->bytes_waiting);
        return;
    }
    bool in_room_line = unlink_from(&a->rhead, &a->rtail, t);
    TS_ASSERT(in_room_line); /* a waiting ticket is in one of the lines */
    if (in_room_line)
        a->nroom--;
}

void
admission_release(struct admission *a, size_t bytes)
{
    pool_uncharge(a->pool, bytes, POOL_INPUT);
}

void
admission_wait_room(struct admission *a, struct admit_ticket *t, double now)
{
    if (t->waiting)
        return;
    push(&a->rhead, &a->rtail, t, now);
    a->nroom++;
    a->st.room_waits++;
}

void
admission_poll(struct admission *a, admission_fn granted, admission_fn resumed, void *ctx)
{
    while (a->head != NULL && pool_avail(a->pool, POOL_INPUT) >= a->head->bytes &&
           pool_charge(a->pool, a->head->bytes, POOL_INPUT) == TS_OK) {
        struct admit_ticket *t = pop(&a->head, &a->tail);
        TS_ASSERT(t->bytes <= a->bytes_waiting); /* its bytes were added when it came */
        a->nwaiting--;
        a->bytes_waiting -= TS_MIN(t->bytes, a->bytes_waiting);
        a->st.grants++;
        granted(t, ctx);
    }
    if (a->rhead == NULL)
        return;
    /* Wait for room_resume only while the queues hold something that
     * draining gives back: with them empty, this is all the room there
     * will be until a waiter goes on (its own admitted unit, the history
     * and control charges can keep it under room_resume for good). */
    size_t room = pool_avail(a->pool, POOL_QUEUE);
    if (room < a->room_resume && a->pool->used[POOL_QUEUE] > 0)
        return;
    size_t n = TS_MAX((size_t)1, room / a->room_step);
    while (a->rhead != NULL && n-- > 0) {
        struct admit_ticket *t = pop(&a->rhead, &a->rtail);
        a->nroom--;
        a->st.room_resumes++;
        resumed(t, ctx);
    }
}

double
admission_longest_wait(const struct admission *a, double now)
{
    double oldest = now;
    if (a->head != NULL && a->head->since < oldest)
        oldest = a->head->since;
    if (a->rhead != NULL && a->rhead->since < oldest)
        oldest = a->rhead->since;
    return now - oldest;
}

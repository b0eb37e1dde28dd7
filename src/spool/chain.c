/*
 * chain.c -- blocks on their way into Redis: chains of pool blocks, their
 * put lines without barriers, and the entries of a run of them gathered
 * for one LPUSH.
 *
 * A chain is blocks linked through next, NULL-terminated, kept as a head
 * and a tail.  The entry list compresses each block of a run into an
 * entry of its own (entry.c), copied out of the codec's buffer because
 * the next block reuses it.  It never blocks and never keeps a block.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/util.h"
#include "spool/chain.h"

uint64_t
chain_count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

uint64_t
chain_entry_tag(const char *entry, size_t len)
{
    return XXH3_64bits(entry, len) | 1;
}

void
chain_append(struct block **head, struct block **tail, struct block *first, struct block *last)
{
    last->next = NULL;
    if (*tail != NULL)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

void
chain_prepend(struct block **head, struct block **tail, struct block *first)
{
    if (first == NULL)
        return;
    struct block *last = chain_last(first);
    last->next = *head;
    if (*head == NULL)
        *tail = last;
    *head = first;
}

struct block *
chain_last(struct block *first)
{
    struct block *last = first;
    while (last->next != NULL)
        last = last->next;
    return last;
}

void
chain_free(struct pool *pool, struct block *b)
{
    while (b != NULL) {
        struct block *n = b->next;
        pool_put(pool, b);
        b = n;
    }
}

const char *
chain_data_lines(char *scratch, const char *data, size_t *len, uint64_t *lines)
{
    static const char barrier[] = "version\n";
    if (memmem(data, *len, barrier, sizeof(barrier) - 1) == NULL) {
        *lines = chain_count_lines(data, *len);
        return data;
    }
    size_t o = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < *len;) {
        const char *nl = memchr(data + i, '\n', *len - i);
        size_t l = nl ? (size_t)(nl - (data + i)) + 1 : *len - i;
        if (!(l == sizeof(barrier) - 1 && memcmp(data + i, barrier, l) == 0)) {
            memcpy(scratch + o, data + i, l);
            o += l;
            k++;
        }
        i += l;
    }
    *len = o;
    *lines = k;
    return scratch;
}

/* Room for one more entry. */
static int
entries_grow(struct entry_list *el)
{
    if (el->n < el->cap)
        return TS_OK;
    size_t cap = el->cap ? el->cap * 2 : 16;
    char **ents = realloc(el->ents, cap * sizeof(*ents));
    if (ents == NULL)
        return TS_ENOMEM;
    el->ents = ents;
    size_t *lens = realloc(el->lens, cap * sizeof(*lens));
    if (lens == NULL)
        return TS_ENOMEM;
    el->lens = lens;
    el->cap = cap;
    return TS_OK;
}

int
entries_add_chain(struct entry_codec *ec, char *scratch, struct entry_list *el,
                  struct block *b, bool set_tags)
{
    for (; b != NULL; b = b->next) {
        size_t len = b->len - b->start;
        uint64_t nl;
        const char *data = chain_data_lines(scratch, b->data + b->start, &len, &nl);
        if (set_tags)
            b->tag = 0;
        if (len == 0)
            continue;
        if (entries_grow(el) != TS_OK)
            return TS_ENOMEM;
        uint64_t stamp = b->stamp != 0 ? b->stamp : entry_clock_ms();
        size_t n = entry_build(ec, data, len, (uint32_t)nl, stamp);
        char *copy = malloc(n);
        if (copy == NULL)
            return TS_ENOMEM;
        memcpy(copy, ec->zbuf, n);
        if (set_tags)
            b->tag = chain_entry_tag(copy, n);
        el->ents[el->n] = copy;
        el->lens[el->n] = n;
        el->n++;
        el->lines += nl;
        el->bytes += n;
    }
    return TS_OK;
}

void
entries_free(struct entry_list *el)
{
    for (size_t i = 0; i < el->n; i++)
        free(el->ents[i]);
    free(el->ents);
    free(el->lens);
    memset(el, 0, sizeof(*el));
}

bool
entries_lpush(struct rconn *rc, const char *key, const struct entry_list *el,
              redisCallbackFn *cb, void *priv)
{
    const char **argv = calloc(el->n + 2, sizeof(*argv));
    size_t *lens = calloc(el->n + 2, sizeof(*lens));
    bool sent = false;
    if (argv != NULL && lens != NULL) {
        argv[0] = "LPUSH";
        lens[0] = 5;
        argv[1] = key;
        lens[1] = strlen(key);
        for (size_t i = 0; i < el->n; i++) {
            argv[2 + i] = el->ents[el->n - 1 - i];
            lens[2 + i] = el->lens[el->n - 1 - i];
        }
        sent = rconn_send(rc, cb, priv, (int)(el->n + 2), argv, lens);
    }
    free(argv);
    free(lens);
    return sent;
}

/*
 * chain.h -- blocks on their way into Redis: chains of pool blocks, the
 * put lines of a block without the connection's barriers, and the entries
 * of a run of blocks gathered for one LPUSH.
 *
 * Owns the chain operations (append, prepend, free), an entry's tag (its
 * hash, by which a block finds the entry made of it), and the entry list:
 * compressed copies, malloc'd (a failed connection, shutdown: rare
 * events), pushed in one LPUSH that keeps their order.  It knows nothing
 * of the spool's state: the caller hands it the codec, the scratch buffer
 * and the connection.  It must never send a barrier to Redis and never
 * lose a block of a chain it is given.
 */
#ifndef TS_CHAIN_H
#define TS_CHAIN_H

#include <hiredis/async.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"
#include "spool/entry.h"
#include "spool/rconn.h"

/* "\n" bytes in p[0..n). */
uint64_t chain_count_lines(const char *p, size_t n);
/* The tag of an entry (its hash; never 0). */
uint64_t chain_entry_tag(const char *entry, size_t len);

/* Appends the chain first..last (last->next is cleared) to the list head..tail. */
void chain_append(struct block **head, struct block **tail, struct block *first,
                  struct block *last);
/* Puts the NULL-terminated chain first in front of *head. */
void chain_prepend(struct block **head, struct block **tail, struct block *first);
/* The last block of the NULL-terminated chain first (not NULL). */
struct block *chain_last(struct block *first);
/* Gives every block of the NULL-terminated chain b back to the pool. */
void chain_free(struct pool *pool, struct block *b);

/* The put lines of data[0..*len): version barriers (ack = version) are
 * the connection's, not data, and never go to Redis.  Returns data itself
 * when it has none, else a copy without them in scratch (a block's data
 * size); *len and *lines say what is returned. */
const char *chain_data_lines(char *scratch, const char *data, size_t *len, uint64_t *lines);

/* Compressed entries of runs of blocks, gathered for one LPUSH. */
struct entry_list {
    char **ents;
    size_t *lens;
    size_t n, cap;
    uint64_t lines;
    size_t bytes;
};

/* Adds an entry for every block of the NULL-terminated chain b that has
 * lines (barriers left out).  set_tags: the blocks are in no queue (their
 * tag is free): each gets its entry's tag.  TS_OK or TS_ENOMEM. */
int entries_add_chain(struct entry_codec *ec, char *scratch, struct entry_list *el,
                      struct block *b, bool set_tags);
void entries_free(struct entry_list *el);
/* LPUSH key e_n ... e_1: LPUSH puts its last argument first, so the list
 * then starts e_1 ... e_n, in the order the entries were gathered.  False
 * when it was not sent. */
bool entries_lpush(struct rconn *rc, const char *key, const struct entry_list *el,
                   redisCallbackFn *cb, void *priv);

#endif

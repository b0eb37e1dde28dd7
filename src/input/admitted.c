/*
 * admitted.c -- the memory the admission line grants a client for a unit.
 *
 * A unit up to a block's data is admitted as one block; a larger one as
 * whole pages, mapped, so that giving it back really returns it to the OS.
 * The charge is taken by the admission line (or forced, when a plain read
 * left a partial unit behind: that read was only plain because there was
 * room for it); this turns it into memory, and the memory back into an
 * uncharge.  It never asks the admission line for a unit (client.c does),
 * except for an HTTP body, which the HTTP decoder asks for itself.
 */
#include "autoconf.h"

#include <string.h>
#include <sys/mman.h>

#include "input/admitted.h"
#include "base/log.h"
#include "base/util.h"

/* What a unit of n bytes is admitted as: a block, or whole pages.  Pages
 * are never a block's size: admitted_take takes block_size for a block,
 * whose data is a header short of it (a unit of data_size + 1 .. block_size
 * bytes would overrun it). */
size_t
admitted_size(const struct client *c, size_t n)
{
    struct pool *p = conn_pool(c);
    if (n <= p->data_size)
        return p->block_size;
    size_t pg = 4096;
    size_t pages = (n + pg - 1) / pg * pg;
    return pages == p->block_size ? pages + pg : pages;
}

/* Memory for `bytes` already charged (an admission): a block's data when
 * it is a block, else a mapping.  NULL (charge returned) if the OS says no. */
char *
admitted_take(struct client *c, size_t bytes, struct block **blk, size_t *cap)
{
    struct pool *p = conn_pool(c);
    *blk = NULL;
    if (bytes == p->block_size) {
        struct block *b = pool_get_charged(p, POOL_INPUT);
        if (b != NULL) {
            *blk = b;
            *cap = p->data_size;
            return b->data;
        }
    } else {
        /* mapped, not malloc'd: freeing it really returns it to the OS */
        char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            *cap = bytes;
            return m;
        }
    }
    admission_release(c->set->env.adm, bytes);
    return NULL;
}

void
admitted_give_back(struct client *c, char *mem, struct block *blk, size_t bytes)
{
    if (blk != NULL) {
        pool_put(conn_pool(c), blk);
    } else if (mem != NULL) {
        munmap(mem, bytes);
        admission_release(c->set->env.adm, bytes);
    }
}

/* The admitted buffer, with the inline bytes moved into it. */
bool
admitted_open_unit(struct client *c, size_t bytes)
{
    c->ub = admitted_take(c, bytes, &c->ub_blk, &c->ub_cap);
    if (c->ub == NULL)
        return false;
    c->ub_charged = c->ub_blk != NULL ? 0 : bytes;
    memcpy(c->ub, c->inl, c->inl_len);
    c->ub_len = c->inl_len;
    c->ub_off = 0;
    c->inl_len = 0;
    return true;
}

void
admitted_release_unit(struct client *c)
{
    if (c->ub == NULL)
        return;
    admitted_give_back(c, c->ub, c->ub_blk, c->ub_charged);
    c->ub = NULL;
    c->ub_blk = NULL;
    c->ub_cap = c->ub_len = c->ub_off = c->ub_charged = 0;
}

/* Memory must be had now: the plain read guaranteed it (see pressured in
 * client.c). */
bool
admitted_force(struct client *c, size_t bytes)
{
    struct pool *p = conn_pool(c);
    bool charged = pool_charge(p, bytes, POOL_INPUT) == TS_OK;
    TS_ASSERT(charged); /* the read was plain because there was room for this */
    if (!charged) {
        /* past the input limit by one read at most; counted and logged */
        p->used[POOL_INPUT] += bytes;
        c->set->st.forced++;
        char peer[LOG_PEER_MAX];
        LOG_RL(LOG_ERROR, "client %s: %zu bytes of input held past input-memory",
               log_peer(c->fd, peer, sizeof(peer)), bytes);
    }
    return admitted_open_unit(c, bytes);
}

int
admitted_http_body(void *ctx, size_t len, char **buf)
{
    struct client *c = ctx;
    size_t bytes = admitted_size(c, TS_MAX(len, (size_t)1));
    if (c->http_body != NULL) { /* granted while it waited */
        *buf = c->http_body;
        c->http_body = NULL;
        return TS_OK;
    }
    int rc = admission_request(c->set->env.adm, &c->adm, bytes, ev_now(conn_loop(c)));
    if (rc != TS_OK)
        return TS_EAGAIN;
    size_t cap;
    *buf = admitted_take(c, bytes, &c->http_body_blk, &cap);
    c->http_body_len = bytes;
    return *buf != NULL ? TS_OK : TS_ENOMEM;
}

void
admitted_http_body_free(void *ctx, char *buf, size_t len)
{
    struct client *c = ctx;
    (void)len;
    admitted_give_back(c, buf, c->http_body_blk, c->http_body_len);
    c->http_body_blk = NULL;
    c->http_body_len = 0;
}

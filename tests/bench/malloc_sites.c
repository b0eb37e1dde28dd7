/*
 * malloc_sites.c -- an LD_PRELOAD allocator interposer for memory hunts:
 * keeps every live allocation with the call stack that made it, and on
 * SIGUSR2 (and at exit) writes, per call stack, the live bytes and blocks,
 * the allocations made and the largest, to
 * $MALLOC_SITES_FILE.<n> (n = 1, 2, ...), followed by /proc/self/maps so
 * tests/bench/malloc_sites.py can name the functions and compare two
 * dumps: what a relay holds more after cycle 50 than after cycle 10, and
 * who allocated it.
 *
 * It forwards to glibc's allocator and never allocates itself (fixed
 * tables in .bss; a full table stops recording, and says so in the dump).
 * Single-threaded programs only (tsrelay is): the tables have no lock.
 * Not for production: every malloc walks the stack.
 */
#define _GNU_SOURCE
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

#define DEPTH 8                     /* frames kept, the interposer's own skipped */
#define SKIP 2
#define LIVE_BITS 20                /* live allocations tracked: 1M */
#define SITE_BITS 14                /* distinct call stacks: 16K */

struct live {
    uintptr_t ptr;                  /* 0: empty */
    size_t size;
    uint32_t site;
};

struct site {
    void *pc[DEPTH];
    int n;
    uint64_t bytes, count;          /* live now */
    uint64_t total;                 /* allocations made, ever */
    uint64_t max;                   /* the largest one */
};

static struct live live[1u << LIVE_BITS];
static struct site sites[1u << SITE_BITS];
static uint32_t nsites;
static uint64_t dropped;            /* not recorded: a table was full */
static int busy;                    /* inside the interposer (backtrace may malloc) */
static int ready;
static int dumps;

static uint64_t
hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint32_t
site_of(void **pc, int n)
{
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = hash64(h ^ (uint64_t)(uintptr_t)pc[i]);
    uint32_t mask = (1u << SITE_BITS) - 1;
    for (uint32_t i = (uint32_t)h & mask, k = 0; k <= mask; i = (i + 1) & mask, k++) {
        struct site *s = &sites[i];
        if (s->n == 0) {
            if (nsites >= mask / 2)
                return UINT32_MAX;
            memcpy(s->pc, pc, (size_t)n * sizeof(*pc));
            s->n = n;
            nsites++;
            return i;
        }
        if (s->n == n && memcmp(s->pc, pc, (size_t)n * sizeof(*pc)) == 0)
            return i;
    }
    return UINT32_MAX;
}

static void
record(void *p, size_t size)
{
    if (p == NULL || !ready || busy)
        return;
    busy = 1;
    void *pc[DEPTH + SKIP];
    int n = backtrace(pc, DEPTH + SKIP);
    busy = 0;
    n = n > SKIP ? n - SKIP : 0;
    uint32_t s = site_of(pc + SKIP, n > 0 ? n : 0);
    uint32_t mask = (1u << LIVE_BITS) - 1;
    if (s == UINT32_MAX) {
        dropped++;
        return;
    }
    for (uint32_t i = (uint32_t)hash64((uintptr_t)p) & mask, k = 0; k < mask / 2;
         i = (i + 1) & mask, k++) {
        if (live[i].ptr == 0) {
            live[i] = (struct live){ (uintptr_t)p, size, s };
            sites[s].bytes += size;
            sites[s].count++;
            sites[s].total++;
            if (size > sites[s].max)
                sites[s].max = size;
            return;
        }
    }
    dropped++;
}

/* Removes p (linear probing, backward-shift deletion). */
static void
forget(void *p)
{
    if (p == NULL)
        return;
    uint32_t mask = (1u << LIVE_BITS) - 1;
    uint32_t i = (uint32_t)hash64((uintptr_t)p) & mask;
    for (uint32_t k = 0; live[i].ptr != 0 && k <= mask; i = (i + 1) & mask, k++) {
        if (live[i].ptr != (uintptr_t)p)
            continue;
        sites[live[i].site].bytes -= live[i].size;
        sites[live[i].site].count--;
        uint32_t hole = i;
        for (uint32_t j = (hole + 1) & mask; live[j].ptr != 0; j = (j + 1) & mask) {
            uint32_t want = (uint32_t)hash64(live[j].ptr) & mask;
            /* j may move to the hole when its home is not in (hole, j] */
            if (((j - want) & mask) >= ((j - hole) & mask)) {
                live[hole] = live[j];
                hole = j;
            }
        }
        live[hole].ptr = 0;
        return;
    }
}

void *
malloc(size_t n)
{
    void *p = __libc_malloc(n);
    record(p, n);
    return p;
}

void *
calloc(size_t a, size_t b)
{
    void *p = __libc_calloc(a, b);
    record(p, a * b);
    return p;
}

void *
realloc(void *old, size_t n)
{
    void *p = __libc_realloc(old, n);
    if (p != NULL || n == 0)
        forget(old);
    record(p, n);
    return p;
}

int
posix_memalign(void **out, size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return 12; /* ENOMEM */
    record(p, n);
    *out = p;
    return 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    record(p, n);
    return p;
}

void *
memalign(size_t align, size_t n)
{
    void *p = __libc_memalign(align, n);
    record(p, n);
    return p;
}

void
free(void *p)
{
    forget(p);
    __libc_free(p);
}

/* ---- the dump ------------------------------------------------------------ */

static void
put(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void
dump(void)
{
    const char *base = getenv("MALLOC_SITES_FILE");
    if (base == NULL)
        return;
    char path[512];
    snprintf(path, sizeof(path), "%s.%d", base, ++dumps);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return;
    char line[64 + DEPTH * 20];
    int n = snprintf(line, sizeof(line), "# sites %u dropped %llu\n", nsites,
                     (unsigned long long)dropped);
    put(fd, line, (size_t)n);
    for (uint32_t i = 0; i < (1u << SITE_BITS); i++) {
        const struct site *s = &sites[i];
        if (s->n == 0 || (s->count == 0 && s->total == 0))
            continue;
        n = snprintf(line, sizeof(line), "%llu %llu %llu %llu", (unsigned long long)s->bytes,
                     (unsigned long long)s->count, (unsigned long long)s->total,
                     (unsigned long long)s->max);
        for (int k = 0; k < s->n; k++)
            n += snprintf(line + n, sizeof(line) - (size_t)n, " %lx",
                          (unsigned long)(uintptr_t)s->pc[k]);
        line[n++] = '\n';
        put(fd, line, (size_t)n);
    }
    put(fd, "# maps\n", 7);
    int m = open("/proc/self/maps", O_RDONLY);
    if (m >= 0) {
        char buf[4096];
        ssize_t r;
        while ((r = read(m, buf, sizeof(buf))) > 0)
            put(fd, buf, (size_t)r);
        close(m);
    }
    close(fd);
}

static void
on_usr2(int sig)
{
    (void)sig;
    dump();
}

__attribute__((constructor)) static void
init(void)
{
    void *pc[2];
    busy = 1;
    backtrace(pc, 2); /* loads libgcc_s now: its malloc is not recorded */
    busy = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
    ready = 1;
}

__attribute__((destructor)) static void
fini(void)
{
    dump();
}

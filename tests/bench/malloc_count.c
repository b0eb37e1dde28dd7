/*
 * malloc_count.c -- an LD_PRELOAD allocator interposer for the benchmark:
 * counts malloc/calloc/realloc/posix_memalign/aligned_alloc calls and
 * writes the count to $MALLOC_COUNT_FILE on SIGUSR2 and at exit, so the
 * benchmark can prove the hot path makes no allocation per point.  It
 * forwards to glibc's own allocator and must never allocate itself.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_ullong calls;

void *
malloc(size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_realloc(p, n);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    void *p = __libc_memalign(align, n);
    if (p == NULL)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
    atomic_fetch_add_explicit(&calls, 1, memory_order_relaxed);
    return __libc_memalign(align, n);
}

void
free(void *p)
{
    __libc_free(p);
}

static void
report(void)
{
    const char *path = getenv("MALLOC_COUNT_FILE");
    if (path == NULL)
        return;
    char buf[32];
    unsigned long long v = atomic_load(&calls);
    int n = 0;
    char tmp[24];
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    int o = 0;
    while (n > 0)
        buf[o++] = tmp[--n];
    buf[o++] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        (void)!write(fd, buf, (size_t)o);
        close(fd);
    }
}

static void
on_usr2(int sig)
{
    (void)sig;
    report();
}

__attribute__((constructor)) static void
init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &sa, NULL);
}

__attribute__((destructor)) static void
fini(void)
{
    report();
}

/*
 * heap.c -- the C heap beside the pool (heap.h): glibc's thresholds
 * pinned, and its free pages given back once the heap is quiet.
 * It reads the heap through counters.h and writes only its counters;
 * it never allocates.
 */
#include "autoconf.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/heap.h"
#include "base/util.h"

static struct heap_watch watch;
static uint64_t arena_peak;     /* the arenas' largest size since the last trim */

/* Moves whenever the heap churns: lines through the spool (Redis commands
 * and replies), or the arenas growing past their size at the last trim.
 * Not connections, nor the arenas shrinking: a scraper or the status page
 * connects every few seconds, its structures come and go near the top of
 * the heap, and the top is given back each time (the trim threshold). */
static uint64_t
heap_activity(const struct malloc_reading *m)
{
    uint64_t lines = g_stats.points_spooled + g_stats.points_unspooled +
                     g_stats.points_taken_over;
    arena_peak = TS_MAX(arena_peak, m->arena);
    return lines * 0x9E3779B97F4A7C15ull ^ arena_peak;
}

#define TCACHE_TUNABLE "glibc.malloc.tcache_count"

void
heap_reexec(char **argv)
{
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
    const char *tunables = getenv("GLIBC_TUNABLES");
    if (tunables != NULL && strstr(tunables, TCACHE_TUNABLE) != NULL)
        return; /* done, or the operator's choice */
    const char *preload = getenv("LD_PRELOAD");
    if (preload != NULL && strstr(preload, "vgpreload") != NULL)
        return; /* valgrind: an exec would leave it */
    char v[1024];
    int n = snprintf(v, sizeof(v), "%s%s" TCACHE_TUNABLE "=0", tunables ? tunables : "",
                     tunables && *tunables ? ":" : "");
    if (n < 0 || (size_t)n >= sizeof(v) || setenv("GLIBC_TUNABLES", v, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* no /proc: run on with the cache (the variable stays, harmless) */
#else
    (void)argv;
#endif
}

void
heap_init(void)
{
#ifdef HAVE_MALLOPT
    /* setting either disables glibc's dynamic raise of both */
    mallopt(M_MMAP_THRESHOLD, (int)HEAP_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, (int)HEAP_MMAP_THRESHOLD);
#endif
}

bool
heap_trim_due(struct heap_watch *w, uint64_t in_use, uint64_t free_bytes, uint64_t activity)
{
    bool busy = w->n > 0 && activity != w->activity;
    w->activity = activity;
    w->since_trim++;
    if (w->n == HEAP_QUIET_TICKS) {
        for (int i = 1; i < HEAP_QUIET_TICKS; i++)
            w->in_use[i - 1] = w->in_use[i];
        w->n--;
    }
    w->in_use[w->n++] = in_use;
    uint64_t lo = w->in_use[0], hi = w->in_use[0];
    for (int i = 1; i < w->n; i++) {
        lo = TS_MIN(lo, w->in_use[i]);
        hi = TS_MAX(hi, w->in_use[i]);
    }
    if (busy || hi - lo >= HEAP_QUIET_BYTES) {
        w->in_use[0] = in_use; /* the quiet spell starts now */
        w->n = 1;
        w->trimmed = false;    /* and may trim again */
        if (w->since_trim < HEAP_BUSY_TICKS || free_bytes < HEAP_BUSY_TRIM_MIN)
            return false;
    } else if (w->n < HEAP_QUIET_TICKS || w->trimmed || free_bytes < HEAP_TRIM_MIN) {
        return false;
    }
    w->trimmed = true;
    w->since_trim = 0;
    return true;
}

bool
heap_tick(void)
{
#if defined(HAVE_MALLOC_TRIM) && defined(HAVE_MALLINFO2)
    struct malloc_reading m;
    stats_malloc(&m);
    uint64_t held = m.arena + m.mmapped;
    if (!heap_trim_due(&watch, m.in_use, held > m.in_use ? held - m.in_use : 0,
                       heap_activity(&m)))
        return false;
    uint64_t rss0 = stats_rss_bytes();
    uint64_t t0 = ts_now_ns();
    malloc_trim(0);
    uint64_t t1 = ts_now_ns();
    uint64_t rss1 = stats_rss_bytes();
    stats_malloc(&m); /* the arenas it shrank are not the heap churning */
    arena_peak = m.arena;
    watch.activity = heap_activity(&m);
    g_stats.malloc_trims++;
    g_stats.malloc_trim_ns += t1 - t0;
    g_stats.malloc_trimmed_bytes += rss0 > rss1 ? rss0 - rss1 : 0;
    return true;
#else
    (void)watch;
    (void)arena_peak;
    (void)heap_activity;
    return false;
#endif
}

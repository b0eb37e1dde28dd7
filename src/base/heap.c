/*
 * heap.c -- the C heap beside the pool (heap.h): glibc's thresholds
 * pinned, and its free pages given back once the heap is quiet.
 * It reads the heap through counters.h and writes only its counters;
 * it never allocates.
 */
#include "autoconf.h"

#include <malloc.h>
#include <time.h>

#include "base/counters.h"
#include "base/heap.h"
#include "base/util.h"

static struct heap_watch watch;

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
heap_trim_due(struct heap_watch *w, uint64_t in_use, uint64_t free_bytes)
{
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
    if (hi - lo >= HEAP_QUIET_BYTES) {
        w->trimmed = false; /* busy: the next quiet spell may trim again */
        return false;
    }
    if (w->n < HEAP_QUIET_TICKS || w->trimmed || free_bytes < HEAP_TRIM_MIN)
        return false;
    w->trimmed = true;
    return true;
}

bool
heap_tick(void)
{
#if defined(HAVE_MALLOC_TRIM) && defined(HAVE_MALLINFO2)
    struct malloc_reading m;
    stats_malloc(&m);
    uint64_t held = m.arena + m.mmapped;
    if (!heap_trim_due(&watch, m.in_use, held > m.in_use ? held - m.in_use : 0))
        return false;
    uint64_t rss0 = stats_rss_bytes();
    uint64_t t0 = ts_now_ns();
    malloc_trim(0);
    uint64_t t1 = ts_now_ns();
    uint64_t rss1 = stats_rss_bytes();
    g_stats.malloc_trims++;
    g_stats.malloc_trim_ns += t1 - t0;
    g_stats.malloc_trimmed_bytes += rss0 > rss1 ? rss0 - rss1 : 0;
    return true;
#else
    (void)watch;
    return false;
#endif
}

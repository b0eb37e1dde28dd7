/*
 * heap.h -- the C heap beside the pool: keeping its memory at rest flat.
 *
 * What the pool does not hold comes from glibc's malloc: libraries
 * (hiredis' commands, replies and buffers, c-ares, libev, zstd's
 * contexts), client structures, the history ring.  Two habits of glibc
 * make the resident part of that heap creep with every spool outage,
 * while what is in use stays flat:
 *
 *  - a freed chunk larger than the mmap threshold (128 KiB) raises the
 *    threshold to its size (up to 32 MiB) and the trim threshold to twice
 *    that, so later buffers of that size -- hiredis' reader and output
 *    buffers grow by doubling while a long reply or a burst of commands
 *    passes -- come from the heap instead of a mapping of their own, and
 *    the heap keeps them when they are freed;
 *  - free() gives back only the top of the heap: the free pages below the
 *    highest chunk still in use stay resident.
 *
 * This module pins the thresholds (heap_init: large buffers are mapped and
 * unmapped, as before the first one was freed), and once a second
 * (heap_tick) looks whether the heap has been quiet over the last
 * HEAP_QUIET_TICKS ticks -- malloc in use moved less than
 * HEAP_QUIET_BYTES, the spool moved no line and the arenas grew no larger
 * than at the last trim (what churns the heap is Redis traffic; a burst
 * between two ticks shows in those even when malloc in use is back where
 * it was) -- while its arenas keep at least HEAP_TRIM_MIN free bytes:
 * then it gives the free pages back with malloc_trim(0), once per quiet
 * spell.  A heap that is
 * never quiet (a backend slower than its input keeps the spool busy) is
 * trimmed at most every HEAP_BUSY_TICKS ticks, when it keeps at least
 * HEAP_BUSY_TRIM_MIN free: what the churn left free below the top would
 * otherwise stay resident and creep with each burst.  What that cost and returned is
 * counted in g_stats (memory.malloc_trims, _trimmed_bytes, _trim_seconds).
 * It reads nothing of the relay's, owns no memory, and never trims while
 * the heap is busy; without glibc's malloc_trim/mallinfo2 it does nothing.
 *
 * glibc's per-thread cache (tcache) keeps up to 7 freed chunks of each
 * size up to 1 KiB for reuse; mallinfo2 counts them as in use and
 * malloc_trim cannot give their pages back.  Each outage leaves a few
 * more there (the spool's short entries, hiredis' reply strings, of
 * ever new sizes), up to ~240 KiB scattered over the heap: malloc in use
 * and RSS at rest creep by ~1 KiB per outage for hundreds of outages.
 * tsrelay allocates nothing per point, so it needs no such cache:
 * heap_reexec runs the program again at start with the cache off
 * (GLIBC_TUNABLES=glibc.malloc.tcache_count=0), unless the environment
 * already sets that tunable (an operator's choice, or the exec done).
 */
#ifndef TS_HEAP_H
#define TS_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#define HEAP_MMAP_THRESHOLD (128u * 1024u) /* glibc's default, pinned */
#define HEAP_QUIET_TICKS 3
#define HEAP_QUIET_BYTES (16u * 1024u)
#define HEAP_TRIM_MIN (64u * 1024u)
#define HEAP_BUSY_TICKS 60
#define HEAP_BUSY_TRIM_MIN (256u * 1024u)

/* glibc only, before anything else is done: executes /proc/self/exe again
 * with argv and glibc's tcache off (see above).  Returns only when it did
 * not (already off or set by the operator, not glibc, AddressSanitizer's
 * allocator, under valgrind, or the exec failed: then the cache stays). */
void heap_reexec(char **argv);
/* Pins glibc's mmap and trim thresholds.  Call once, early. */
void heap_init(void);
/* Once a second: trims when the heap is quiet and holds free memory.
 * Returns true when it trimmed. */
bool heap_tick(void);

/* The policy on its own (for tests): in_use and free_bytes as read now,
 * activity a number that moves whenever something churns the heap; true
 * when a trim is due.  It keeps the last readings and whether
 * this quiet spell was trimmed already. */
struct heap_watch {
    uint64_t in_use[HEAP_QUIET_TICKS];
    int n;                  /* readings held, <= HEAP_QUIET_TICKS */
    uint64_t activity;      /* at the last reading */
    bool trimmed;           /* this quiet spell had its trim */
    unsigned since_trim;    /* ticks since the last trim */
};

bool heap_trim_due(struct heap_watch *w, uint64_t in_use, uint64_t free_bytes,
                   uint64_t activity);

#endif

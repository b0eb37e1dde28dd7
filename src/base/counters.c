/*
 * counters.c -- the counter store (counters.h): the global counter block,
 * the latency histogram's buckets and quantiles, and the RSS reading.
 * It reads no other module and never allocates.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/util.h"

struct relay_stats g_stats;

static unsigned
lat_bucket(uint64_t ns)
{
    if (ns < 4)
        return (unsigned)ns;
    unsigned lg = 63u - (unsigned)__builtin_clzll(ns);       /* floor(log2) */
    unsigned sub = (unsigned)((ns >> (lg - 2)) & 3u);        /* next two bits */
    unsigned b = lg * 4 + sub;
    return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

static uint64_t
lat_upper(unsigned b)
{
    if (b < 4)
        return b;
    unsigned lg = b / 4, sub = b % 4;
    return ((uint64_t)(4 + sub + 1) << (lg - 2)) - 1;
}

void
latency_record(struct latency_hist *h, uint64_t ns)
{
    h->buckets[lat_bucket(ns)]++;
    h->samples++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t
latency_quantile(const struct latency_hist *h, double q)
{
    if (h->samples == 0)
        return 0;
    uint64_t want = (uint64_t)((double)h->samples * q + 0.999999);
    uint64_t seen = 0;
    for (unsigned b = 0; b < LAT_BUCKETS; b++) {
        seen += h->buckets[b];
        if (seen >= want)
            return TS_MIN(lat_upper(b), h->max_ns);
    }
    return h->max_ns;
}

uint64_t
stats_rss_bytes(void)
{
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size = 0, rss = 0;
    if (sscanf(buf, "%llu %llu", &size, &rss) != 2)
        return 0;
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

void
stats_malloc(struct malloc_reading *m)
{
    memset(m, 0, sizeof(*m));
#ifdef HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    m->in_use = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
    m->arena = (uint64_t)mi.arena;
    m->mmapped = (uint64_t)mi.hblkhd;
#endif
}

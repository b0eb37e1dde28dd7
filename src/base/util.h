/*
 * util.h -- small shared helpers: return codes, container_of, min/max,
 * monotonic time.  Owns no state; must never grow into a grab bag of
 * module logic.
 */
#ifndef TS_UTIL_H
#define TS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* One return-code convention for the whole program. */
enum {
    TS_OK = 0,
    TS_ERROR = -1,   /* failed; errno or a message says why */
    TS_EAGAIN = -2,  /* try again later (would block, no memory yet) */
    TS_ENOMEM = -3,  /* the memory budget is exhausted */
    TS_REFUSED = -4, /* refused by the relay's rules or limits; a point_error says why */
};

#define container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define TS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define TS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define TS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Invariants: TS_ASSERT(cond) aborts with the file, line and condition
 * when cond is false in the builds that hunt for bugs (--enable-debug,
 * --enable-sanitizers, --enable-fuzzers define TS_ASSERTS); in a release
 * build it compiles to nothing, and the code after it handles the case
 * (logs, counts, goes on).  Put it on the branches that "cannot happen",
 * so that the fuzzers and the sanitized test pass turn them into findings. */
#ifdef TS_ASSERTS
void ts_assert_failed(const char *cond, const char *file, int line) __attribute__((noreturn));
#define TS_ASSERT(cond) \
    ((cond) ? (void)0 : ts_assert_failed(#cond, __FILE__, __LINE__))
#else
#define TS_ASSERT(cond) ((void)0)
#endif

#define ts_likely(x) __builtin_expect(!!(x), 1)
#define ts_unlikely(x) __builtin_expect(!!(x), 0)

/* Java's Character.toLowerCase of a byte the TSD read as ISO-8859-1
 * (A-Z and the Latin-1 capitals but the multiplication sign). */
static inline unsigned char
ts_latin1_lower(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7))
        return (unsigned char)(c + 0x20);
    return c;
}

/* A retry delay spread uniformly over [base/2, base*3/2), so that many
 * waiting on one failure do not come back at once. */
static inline uint64_t
ts_jittered(uint64_t base)
{
    return base / 2 + (uint64_t)((double)base * ((double)rand() / ((double)RAND_MAX + 1.0)));
}

/* Monotonic clock in milliseconds / nanoseconds. */
static inline uint64_t
ts_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline uint64_t
ts_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif

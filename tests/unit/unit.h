/*
 * unit.h -- shared scaffolding for the Check unit tests: every test binary
 * prints TAP (one line per test case function) for automake's TAP driver.
 */
#ifndef TS_UNIT_H
#define TS_UNIT_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Printable form of bytes for failure messages (keeps TAP lines whole). */
static const char *esc(const char *s, size_t n) __attribute__((unused));

static const char *
esc(const char *s, size_t n)
{
    static char bufs[4][8192];
    static unsigned k;
    char *o = bufs[k++ & 3];
    size_t j = 0;
    for (size_t i = 0; i < n && j + 8 < sizeof(bufs[0]); i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            o[j++] = '\\';
            o[j++] = '\\';
        } else if (c >= 0x20 && c < 0x7F) {
            o[j++] = (char)c;
        } else {
            j += (size_t)snprintf(o + j, sizeof(bufs[0]) - j, "\\x%02X", c);
        }
    }
    o[j] = '\0';
    return o;
}

/* glibc's own malloc serves this process: not AddressSanitizer's, not
 * valgrind's (which preloads its own) -- mallinfo2 and malloc_trim then
 * say something about the heap the test made. */
static bool unit_glibc_malloc(void) __attribute__((unused));

static bool
unit_glibc_malloc(void)
{
#if defined(__SANITIZE_ADDRESS__) || !defined(HAVE_MALLINFO2)
    return false;
#else
    const char *pre = getenv("LD_PRELOAD");
    return pre == NULL || strstr(pre, "vgpreload") == NULL;
#endif
}

#define UNIT_MAIN(suite_fn)                                  \
    int main(void)                                           \
    {                                                        \
        SRunner *sr = srunner_create(suite_fn());            \
        srunner_set_tap(sr, "-");                            \
        srunner_run_all(sr, CK_SILENT);                      \
        int failed = srunner_ntests_failed(sr);              \
        srunner_free(sr);                                    \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;    \
    }

#endif

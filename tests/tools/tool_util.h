/*
 * tool_util.h -- the few helpers tsload and tssink share: a monotonic clock
 * and a warning printer.  Define TOOL_NAME before including it.  Each tool
 * stays a single file otherwise (libc and libm only).
 */
#ifndef TOOL_UTIL_H
#define TOOL_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warnx_(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(TOOL_NAME ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

#endif

/*
 * units.h -- sizes and durations as a configuration file writes them
 * (units.c): "512K", "4G", "100ms", "5m".  No state.
 */
#ifndef TS_UNITS_H
#define TS_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A size in bytes ("64M") or a duration in ms ("100ms"; a bare number is
 * seconds).  TS_OK, or TS_ERROR for a bad number, unit or overflow. */
int units_parse_size(const char *s, uint64_t *out);
int units_parse_duration_ms(const char *s, uint64_t *out);
/* v written back with the largest unit that divides it ("128M", "5m",
 * "100ms"; 0 as "0"). */
void units_format(uint64_t v, bool duration, char *buf, size_t len);

#endif

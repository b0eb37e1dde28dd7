/*
 * units.h -- the units of the configuration file: sizes, durations and
 * addresses, read and written back as a file gives them.
 *
 * Owns the text of a value, not its bounds (config.c's table).  Pure: it
 * must never touch sockets, the loop or the configuration itself.
 */
#ifndef TS_UNITS_H
#define TS_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_HOST_MAX 256

struct cfg_addr {
    char host[CFG_HOST_MAX];
    char port[8];
};

/* Unit parsers.  Return TS_OK or TS_ERROR. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, uint64_t *out);
int config_parse_addr(const char *s, struct cfg_addr *out);
/* A size or a duration the way a file gives it: the largest unit that
 * divides it ("128M", "5m", "100ms"); 0 as "0". */
void config_format_unit(uint64_t v, bool duration, char *buf, size_t len);

#endif

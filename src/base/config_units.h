/*
 * config_units.h -- sizes, durations and addresses as a configuration
 * file writes them (config_units.c): parsed, and written back.  Owns no
 * state; config.h includes it for the parsers it has always offered.
 */
#ifndef TS_CONFIG_UNITS_H
#define TS_CONFIG_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_HOST_MAX 256

struct cfg_addr {
    char host[CFG_HOST_MAX];
    char port[8];
};

/* Unit parsers.  Return TS_OK or TS_ERROR.  Sizes take K/M/G/T suffixes
 * (KB, KiB too), durations ms/s/m/min/h (a bare number is seconds); an
 * address is "host:port", "[v6]:port" or ":port" (all addresses). */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, uint64_t *out);
int config_parse_addr(const char *s, struct cfg_addr *out);
/* A size or a duration the way a file would give it: the largest unit
 * that divides it ("128M", "5m", "100ms"); 0 as "0". */
void config_format_unit(uint64_t v, bool duration, char *buf, size_t len);

#endif

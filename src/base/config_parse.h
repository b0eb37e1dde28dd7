/*
 * config_parse.h -- what reading a configuration file shares between
 * config.c (the key table and the INI walk), config_values.c (a value's
 * text into data) and config_check.c (the checks that need the whole
 * file): the parse state, how an error is said, the units, blanks.
 * Only base/config*.c include it.
 */
#ifndef TS_CONFIG_PARSE_H
#define TS_CONFIG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config;
struct cfg_backend;

#define KB 1024ull
#define MB (1024ull * 1024)
#define GB (1024ull * 1024 * 1024)
#define HOUR_MS (3600ull * 1000)

/* s past its leading blanks (spaces and tabs). */
static inline const char *
cfg_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

enum cfg_sect { S_RELAY, S_BACKEND, S_REDIS, S_TLS, S_LIMITS, S_GROUP, S_RULE };

#define CFG_KEYS_MAX 160      /* config.c's key table fits (asserted there) */

struct parse_state {
    struct config *cfg;
    const char *name;     /* file name for messages */
    int line;             /* line inih is looking at (one full line per read) */
    const char *text;     /* config_load_string: remaining text */
    FILE *fp;
    char *err;
    size_t errlen;
    bool failed;
    bool listen_given;
    int relay_line;       /* line of [relay], 0 if absent */
    int key_line[CFG_KEYS_MAX];   /* line of each keys[] entry last set (relay, redis) */
    struct cfg_backend *cur_backend;
    char linebuf[4096];
    char longval[4096];   /* a value too long for inih's line buffer */
    bool longval_used;
};

/* The first error: "NAME:LINE: [section] key: what" into ps->err; later
 * ones are dropped.  Returns 0 (a handler's "stop"). */
int cfg_fail(struct parse_state *ps, int line, const char *section, const char *key,
             const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Line for an error: where the key was set, else where the other key
 * involved was set, else the section header. */
int cfg_line_of(const struct parse_state *ps, enum cfg_sect sect, const char *key,
                const char *other);
/* A name of [A-Za-z0-9._-], not empty (backends, master-name). */
bool cfg_valid_name(const char *s);
/* Whether the key of sect was set in the file (cfg_key_set: of [relay]). */
bool cfg_key_set_in(const struct parse_state *ps, enum cfg_sect sect, const char *name);
#define cfg_key_set(ps, name) cfg_key_set_in(ps, S_RELAY, name)

/* The checks that need the whole file (config_check.c): 1, or 0 with
 * ps->err set. */
int config_check(struct parse_state *ps);

#endif

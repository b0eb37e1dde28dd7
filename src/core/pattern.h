/*
 * pattern.h -- a rule's regular expression: PCRE2, compiled once, on bytes.
 *
 * Owns one pattern of a [rule] (match = on the metric, tag = on a tag
 * value): compiled without UTF (names are ISO-8859-1 bytes, as the TSD
 * reads them), JIT-compiled when PCRE2 can, matched under a match limit so
 * that no pattern stalls the loop; the literal shortcuts that answer
 * without running it ("^lit$" compares, "^lit" compares a prefix, and
 * "^lit..." needs the prefix before it runs); and the proof that a
 * capture group always holds at least one byte (a rewrite made only of
 * back-references must never yield an empty metric).  The match state
 * (match data, context, JIT stack) is one pattern_ctx per rule set,
 * sized once.  Matching never allocates.
 */
#ifndef TS_PATTERN_H
#define TS_PATTERN_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PATTERN_LIT_MAX 64

enum pattern_kind {
    PAT_ANY = 0,      /* empty: every subject */
    PAT_EXACT,        /* "^lit$" */
    PAT_PREFIX,       /* "^lit" */
    PAT_PREFIX_REGEX, /* "^lit" and more: the regex runs when the prefix is there */
    PAT_REGEX,
};

struct pattern {
    pcre2_code *code;        /* NULL for PAT_ANY */
    bool jit;
    enum pattern_kind kind;
    uint32_t captures;       /* capture groups */
    size_t lit_len;
    char lit[PATTERN_LIT_MAX];
};

struct pattern_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mc;
    pcre2_jit_stack *stack;
    int groups;              /* the last match: 1 + its highest group set */
};

/* Compiles src (len bytes).  TS_OK, or TS_ERROR with "<PCRE2's message>
 * at offset N" in err. */
int pattern_compile(struct pattern *p, const char *src, size_t len, char *err, size_t errlen);
void pattern_free(struct pattern *p);

/* Match state for patterns of up to max_captures groups, each match
 * limited to match_limit (PCRE2's count of backtracking steps).  TS_OK or
 * TS_ERROR (out of memory). */
int pattern_ctx_init(struct pattern_ctx *c, uint32_t max_captures, uint64_t match_limit);
void pattern_ctx_free(struct pattern_ctx *c);

/* 1 when p matches s (n bytes), 0 when not, -1 when PCRE2 gave up (the
 * match limit, the JIT stack).  After a 1 from a pattern with groups,
 * pattern_group reads them. */
int pattern_match(const struct pattern *p, struct pattern_ctx *c, const char *s, size_t n);
/* Group k (1..captures) of the last match on s: its bytes, or n = 0 when
 * it did not take part. */
void pattern_group(const struct pattern_ctx *c, const char *s, uint32_t k, const char **out,
                   size_t *n);

/* true when group k of src can be proved to take part in every match with
 * at least one byte (false when it cannot be proved: an optional group, an
 * alternative, a body that may match empty, a construct the proof does
 * not read). */
bool pattern_group_nonempty(const char *src, size_t len, uint32_t k);

#endif

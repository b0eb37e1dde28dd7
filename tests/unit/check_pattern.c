/*
 * check_pattern.c -- unit tests of a rule's regular expression
 * (src/core/pattern.c).
 *
 * Covers: a pattern that does not compile reports PCRE2's message and the
 * offset; the literal shortcuts ("^lit$", "^lit", "^lit...") are chosen
 * only where they are exact, and give what PCRE2 itself gives on every
 * subject of a table (patterns x subjects, against a plain pcre2_match);
 * bytes are bytes (no UTF: (*UTF) is refused, Latin-1 bytes match
 * themselves); groups are read after a match (unset ones empty); a match
 * that needs more than the match limit reports -1 instead of running on;
 * the proof that a group is never empty says yes only where it holds (a
 * table: optional groups, alternatives, lookarounds, quantifiers,
 * classes, escapes, named groups, options).
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/pattern.h"
#include "unit.h"

static struct pattern_ctx ctx;

static void
setup(void)
{
    ck_assert_int_eq(pattern_ctx_init(&ctx, 9, 100000), TS_OK);
}

static void
teardown(void)
{
    pattern_ctx_free(&ctx);
}

static int
plain_match(const char *pat, const char *s)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_NEVER_UTF,
                                  &code, &off, NULL);
    ck_assert_ptr_nonnull(c);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc > 0 ? 1 : 0;
}

START_TEST(test_compile_error_names_offset)
{
    struct pattern p;
    char err[300];
    ck_assert_int_eq(pattern_compile(&p, "^a(b", 4, err, sizeof(err)), TS_ERROR);
    ck_assert_msg(strstr(err, "missing closing parenthesis") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "at offset 4") != NULL, "%s", err);
    ck_assert_int_eq(pattern_compile(&p, "x[", 2, err, sizeof(err)), TS_ERROR);
    ck_assert_msg(strstr(err, "at offset 2") != NULL, "%s", err);
    /* (*UTF) would read names as UTF-8: refused (PCRE2_NEVER_UTF) */
    ck_assert_int_eq(pattern_compile(&p, "(*UTF)a", 7, err, sizeof(err)), TS_ERROR);
}
END_TEST

struct kind_case {
    const char *pat;
    enum pattern_kind kind;
    const char *lit;
};

START_TEST(test_shortcut_kinds)
{
    static const struct kind_case cases[] = {
        { "", PAT_ANY, "" },
        { "^sys\\.cpu$", PAT_EXACT, "sys.cpu" },
        { "^debug\\.", PAT_PREFIX, "debug." },
        { "^sys\\.cpu\\.(.+)$", PAT_PREFIX_REGEX, "sys.cpu." },
        { "^ab?c", PAT_PREFIX_REGEX, "a" },   /* b is optional: not required */
        { "^a{2}", PAT_REGEX, "" },
        { "^abc|x", PAT_REGEX, "" },          /* alternation anywhere: none */
        { "abc", PAT_REGEX, "" },             /* not anchored */
        { "^\\d+", PAT_REGEX, "" },           /* \d is no literal */
        { "^(?i)abc", PAT_REGEX, "" },
        { "^a\\-b\\/c_d", PAT_PREFIX, "a-b/c_d" },
        { "^\xe9t\xe9$", PAT_EXACT, "\xe9t\xe9" },
        { "^ab$c", PAT_PREFIX_REGEX, "ab" },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
        struct pattern p;
        char err[300];
        const struct kind_case *c = &cases[i];
        ck_assert_msg(pattern_compile(&p, c->pat, strlen(c->pat), err, sizeof(err)) == TS_OK,
                      "%s: %s", c->pat, err);
        ck_assert_msg(p.kind == c->kind, "%s: kind %d, want %d", c->pat, p.kind, c->kind);
        ck_assert_msg(p.lit_len == strlen(c->lit) && memcmp(p.lit, c->lit, p.lit_len) == 0,
                      "%s: literal '%.*s', want '%s'", c->pat, (int)p.lit_len, p.lit, c->lit);
        pattern_free(&p);
    }
}
END_TEST

/* Every pattern on every subject: the same answer as PCRE2 alone. */
START_TEST(test_shortcuts_agree_with_pcre2)
{
    static const char *const pats[] = {
        "^sys\\.cpu$", "^sys\\.cpu", "^sys\\.cpu\\.(.+)$", "^sys\\.", "^s", "^sys\\.cpu\\..*idle$",
        "\\.idle$", "cpu", "^ab?c", "^a\\.b", "^\xe9", "^x$", "^sys\\.cpu\\.user$",
    };
    static const char *const subjects[] = {
        "sys.cpu", "sys.cpu.user", "sys.cpu.idle", "sys.cpux", "sys", "s", "", "xsys.cpu",
        "ac", "abc", "a.b", "aXb", "\xe9t\xe9", "x", "xx", "sys.cpu.", "SYS.CPU",
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(pats); i++) {
        struct pattern p;
        char err[300];
        ck_assert_int_eq(pattern_compile(&p, pats[i], strlen(pats[i]), err, sizeof(err)), TS_OK);
        for (size_t k = 0; k < TS_ARRAY_LEN(subjects); k++) {
            int got = pattern_match(&p, &ctx, subjects[k], strlen(subjects[k]));
            int want = plain_match(pats[i], subjects[k]);
            ck_assert_msg(got == want, "'%s' on '%s': %d, PCRE2 says %d", esc(pats[i], strlen(pats[i])),
                          esc(subjects[k], strlen(subjects[k])), got, want);
        }
        pattern_free(&p);
    }
}
END_TEST

START_TEST(test_groups_after_a_match)
{
    struct pattern p;
    char err[300];
    const char *pat = "^(a+)(x)?(b+)$";
    ck_assert_int_eq(pattern_compile(&p, pat, strlen(pat), err, sizeof(err)), TS_OK);
    ck_assert_uint_eq(p.captures, 3);
    const char *s = "aabbb";
    ck_assert_int_eq(pattern_match(&p, &ctx, s, 5), 1);
    const char *g;
    size_t n;
    pattern_group(&ctx, s, 1, &g, &n);
    ck_assert(n == 2 && g == s);
    pattern_group(&ctx, s, 2, &g, &n);
    ck_assert_uint_eq(n, 0); /* unset: empty */
    pattern_group(&ctx, s, 3, &g, &n);
    ck_assert(n == 3 && g == s + 2);
    pattern_group(&ctx, s, 9, &g, &n); /* past the groups: empty */
    ck_assert_uint_eq(n, 0);
    pattern_free(&p);
}
END_TEST

START_TEST(test_match_limit_gives_up)
{
    struct pattern_ctx tight;
    ck_assert_int_eq(pattern_ctx_init(&tight, 2, 100), TS_OK);
    struct pattern p;
    char err[300];
    const char *pat = "^(\\w+\\.?)*$"; /* backtracks exponentially on a mismatch */
    ck_assert_int_eq(pattern_compile(&p, pat, strlen(pat), err, sizeof(err)), TS_OK);
    char s[40];
    memset(s, 'a', sizeof(s) - 1);
    s[sizeof(s) - 2] = '!';
    s[sizeof(s) - 1] = '\0';
    ck_assert_int_eq(pattern_match(&p, &tight, s, strlen(s)), -1);
    ck_assert_int_eq(pattern_match(&p, &ctx, "aa.b", 4), 1);
    ck_assert_int_eq(pattern_match(&p, &tight, "aa.b", 4), 1);
    pattern_free(&p);
    pattern_ctx_free(&tight);
}
END_TEST

struct proof_case {
    const char *pat;
    uint32_t group;
    bool nonempty;
};

START_TEST(test_group_nonempty_proof)
{
    static const struct proof_case cases[] = {
        { "^sys\\.cpu\\.(.+)$", 1, true },
        { "^(.*)$", 1, false },
        { "^a(b)?c", 1, false },
        { "(a)|b", 1, false },
        { "(?:(a)|b)c", 1, false },
        { "((a)b)", 1, true },
        { "((a)b)", 2, true },
        { "((a)|b)", 2, false },
        { "(a)*", 1, false },
        { "(a){0,2}", 1, false },
        { "(a){1,2}", 1, true },
        { "(a)++", 1, true },
        { "(a)?+", 1, false },
        { "(?<n>a+)", 1, true },
        { "(?P<n>a+)(b)", 2, true },
        { "(?'n'a*)", 1, false },
        { "[(](a)", 1, true },
        { "[^)(](a)", 1, true },
        { "[[:alpha:]](a)", 1, true },
        { "\\((a)\\)", 1, true },
        { "(\\Q(\\E)", 1, true },
        { "(a|)", 1, false },
        { "(a|bc)", 1, true },
        { "(?i)(a)", 1, true },
        { "(?i:(a))", 1, true },
        { "(?=(a))", 1, false },
        { "(?<=(a))b", 1, false },
        { "(?x)(a)", 1, false },
        { "(?n)(a)(b)", 1, false },
        { "(a)(b)", 2, true },
        { "(a)(b)", 3, false },
        { "(a)(b)", 0, false },
        { "(?|(a)|(b))", 1, false },
        { "([a-z]+)\\.(\\d*)", 1, true },
        { "([a-z]+)\\.(\\d*)", 2, false },
        { "(a)(\\1)", 2, false },
        { "^(?:x(a))?b", 1, false },
        { "(?>(ab))", 1, true },
        { "(a){0}", 1, false },
        { "(*UCP)(a)", 1, false },
        { "(?#c(x)(b)", 1, true },
        { "(\\w)", 1, true },
        { "(\\b)", 1, false },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
        const struct proof_case *c = &cases[i];
        bool got = pattern_group_nonempty(c->pat, strlen(c->pat), c->group);
        ck_assert_msg(got == c->nonempty, "'%s' group %u: %s, want %s", c->pat, c->group,
                      got ? "never empty" : "not proved", c->nonempty ? "never empty" : "not proved");
    }
}
END_TEST

/* Where the proof says never empty, no subject that matches leaves the
 * group empty (checked on every subject of a table). */
START_TEST(test_proof_holds_on_matches)
{
    static const char *const pats[] = {
        "^sys\\.cpu\\.(.+)$", "((a)b)", "(a){1,2}", "[(](a)", "(a|bc)", "(?i)(a)", "(\\w)",
        "([a-z]+)\\.(\\d*)",
    };
    static const char *const subjects[] = {
        "sys.cpu.user", "sys.cpu.", "ab", "aab", "(a", "bc", "A", "x.1", "x.", "_", "",
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(pats); i++) {
        struct pattern p;
        char err[300];
        ck_assert_int_eq(pattern_compile(&p, pats[i], strlen(pats[i]), err, sizeof(err)), TS_OK);
        for (uint32_t g = 1; g <= p.captures; g++) {
            if (!pattern_group_nonempty(pats[i], strlen(pats[i]), g))
                continue;
            for (size_t k = 0; k < TS_ARRAY_LEN(subjects); k++) {
                if (pattern_match(&p, &ctx, subjects[k], strlen(subjects[k])) != 1)
                    continue;
                const char *s;
                size_t n;
                pattern_group(&ctx, subjects[k], g, &s, &n);
                ck_assert_msg(n > 0, "'%s' group %u empty on '%s'", pats[i], g, subjects[k]);
            }
        }
        pattern_free(&p);
    }
}
END_TEST

static Suite *
pattern_suite(void)
{
    Suite *s = suite_create("pattern");
    TCase *tc = tcase_create("pattern");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_compile_error_names_offset);
    tcase_add_test(tc, test_shortcut_kinds);
    tcase_add_test(tc, test_shortcuts_agree_with_pcre2);
    tcase_add_test(tc, test_groups_after_a_match);
    tcase_add_test(tc, test_match_limit_gives_up);
    tcase_add_test(tc, test_group_nonempty_proof);
    tcase_add_test(tc, test_proof_holds_on_matches);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(pattern_suite)

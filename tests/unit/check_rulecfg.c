/*
 * check_rulecfg.c -- unit tests of the [group NAME] and [rule NAME]
 * sections (src/base/rulecfg.c, through config_load_string).
 *
 * Covers: a file without groups or rules means what it meant (the
 * implicit group, default-group "default"); groups keep their backends
 * in order and their routing (hash by default); rules keep every key,
 * the tag conditions in order, their lists split on commas and trimmed;
 * stop defaults (send and drop stop, the others go on) and stop = yes/no;
 * send masks name the groups by index.  Every refusal names the file,
 * the line and the key, in a table: unknown groups (to, default-group),
 * a backend in no group, an unknown backend, a member twice, a group
 * without backends, a rule without an action, the keys that do not
 * belong to the action, two lists in one rule, set-tags that are not
 * k=v or set a key twice, tag and template bytes the TSD refuses,
 * back-references without match, stop = no on a drop, bad names, names
 * twice, unknown keys and values, too many conditions.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "base/config.h"
#include "base/util.h"
#include "unit.h"

static struct config cfg;
static char err[CFG_ERR_MAX];

#define HEAD "[relay]\nlisten = 127.0.0.1:4242\n[backend a]\naddress = 127.0.0.1:1\n" \
             "[backend b]\naddress = 127.0.0.1:2\n"

static int
load(const char *text)
{
    err[0] = '\0';
    return config_load_string(&cfg, "T", text, err, sizeof(err));
}

START_TEST(test_no_groups_no_rules)
{
    ck_assert_msg(load(HEAD) == TS_OK, "%s", err);
    ck_assert_int_eq(cfg.rules.ngroups, 0);
    ck_assert_int_eq(cfg.rules.nrules, 0);
    ck_assert_str_eq(cfg.default_group, "default");
    ck_assert_uint_eq(cfg.rule_cache_bytes, 1024 * 1024);
}
END_TEST

START_TEST(test_groups_and_rules_parsed)
{
    const char *text = HEAD "[relay]\ndefault-group = main\n"
        "[group main]\nbackends = b ,a\n"
        "[group mirror]\nbackends = a\nrouting = all\n"
        "[rule r1]\nmatch = ^sys\\.(.+)$\naction = rewrite\nmetric = os.\\1\n"
        "tag = host=^web\ntag = dc = ^eu\n"
        "[rule r2]\naction = set-tags\ntags = dc=eu1 , env=prod\n"
        "[rule r3]\naction = send\nto = mirror, main\nstop = no\n"
        "[rule r4]\nmatch = ^x\naction = drop\n"
        "[rule r5]\naction = keep-tags\nkeys = host\nstop = yes\n";
    ck_assert_msg(load(text) == TS_OK, "%s", err);
    const struct cfg_rules *rc = &cfg.rules;
    ck_assert_int_eq(rc->ngroups, 2);
    ck_assert_str_eq(rc->groups[0].name, "main");
    ck_assert_int_eq(rc->groups[0].nmembers, 2);
    ck_assert_str_eq(rulecfg_str(rc, rc->groups[0].members[0]), "b");
    ck_assert_str_eq(rulecfg_str(rc, rc->groups[0].members[1]), "a");
    ck_assert_int_eq(rc->groups[0].routing, ROUTE_HASH);
    ck_assert_int_eq(rc->groups[1].routing, ROUTE_ALL);
    ck_assert_int_eq(rc->nrules, 5);
    const struct cfg_rule *r = &rc->rules[0];
    ck_assert_str_eq(rulecfg_str(rc, r->match), "^sys\\.(.+)$");
    ck_assert_int_eq(r->action, RULE_REWRITE);
    ck_assert_str_eq(rulecfg_str(rc, r->metric), "os.\\1");
    ck_assert_int_eq(r->ntags, 2);
    ck_assert_str_eq(rulecfg_str(rc, r->tags[1].a), "dc");
    ck_assert_str_eq(rulecfg_str(rc, r->tags[1].b), " ^eu");
    ck_assert(!r->stop);
    r = &rc->rules[1];
    ck_assert_int_eq(r->nitems, 2);
    ck_assert_str_eq(rulecfg_str(rc, r->items[0].a), "dc");
    ck_assert_str_eq(rulecfg_str(rc, r->items[0].b), "eu1");
    ck_assert_str_eq(rulecfg_str(rc, r->items[1].a), "env");
    ck_assert(!r->stop);
    r = &rc->rules[2];
    ck_assert_uint_eq(r->to, 3); /* mirror (1) and main (0) */
    ck_assert(!r->stop);
    ck_assert(rc->rules[3].stop);  /* drop stops */
    ck_assert(rc->rules[4].stop);  /* stop = yes */
}
END_TEST

START_TEST(test_send_stops_by_default_and_implicit_default)
{
    ck_assert_msg(load(HEAD "[rule s]\naction = send\nto = default\n") == TS_OK, "%s", err);
    ck_assert(cfg.rules.rules[0].stop);
    ck_assert_uint_eq(cfg.rules.rules[0].to, 1);
}
END_TEST

struct bad {
    const char *text;
    const char *want;   /* the whole prefix and a part of the reason */
};

START_TEST(test_refusals_name_file_line_key)
{
    static const struct bad cases[] = {
        { HEAD "[rule r]\naction = send\nto = nowhere\n",
          "T:9: [rule r] to: unknown group 'nowhere' (no [group] is defined" },
        { HEAD "[group g]\nbackends = a\n[relay]\ndefault-group = g\n",
          "T:5: [backend b]: in no group" },
        { HEAD "[group g]\nbackends = a, b\n",
          "T:1: [relay] default-group: 'default' is not a [group]" },
        { HEAD "[relay]\ndefault-group = main\n",
          "T:8: [relay] default-group: 'main' is not a group" },
        { HEAD "[group default]\nbackends = a, b, c\n",
          "T:8: [group default] backends: 'c' is not a [backend]" },
        { HEAD "[group default]\nbackends = a, b, a\n",
          "T:8: [group default] backends: 'a' is named twice" },
        { HEAD "[group default]\nrouting = all\n",
          "T:7: [group default] backends: missing" },
        { HEAD "[group default]\nbackends = a, b\nrouting = random\n",
          "T:9: [group default] routing: 'random' is not one of" },
        { HEAD "[rule r]\nmatch = ^a\n", "T:7: [rule r] action: missing" },
        { HEAD "[rule r]\naction = mangle\n", "T:8: [rule r] action: 'mangle' is not one of" },
        { HEAD "[rule r]\naction = rewrite\n", "T:7: [rule r] metric: missing" },
        { HEAD "[rule r]\naction = drop\nmetric = x\n",
          "T:9: [rule r] metric: not a key of action = drop" },
        { HEAD "[rule r]\naction = send\nkeys = host\n", "T:9: [rule r] keys: action = send takes to" },
        { HEAD "[rule r]\naction = drop-tags\n", "T:7: [rule r] keys: action = drop-tags takes keys" },
        { HEAD "[rule r]\naction = drop\nkeys = pid\n", "T:9: [rule r] keys: not a key of action = drop" },
        { HEAD "[rule r]\naction = drop-tags\nkeys = pid\nto = default\n",
          "T:10: [rule r] to: a rule has one list: 'keys' was given at line 9" },
        { HEAD "[rule r]\naction = set-tags\ntags = dc\n",
          "T:9: [rule r] tags: an entry is not key=value" },
        { HEAD "[rule r]\naction = set-tags\ntags = dc=a, dc=b\n",
          "T:9: [rule r] tags: tag 'dc' is set twice" },
        { HEAD "[rule r]\naction = set-tags\ntags = dc=e u\n",
          "T:9: [rule r] tags: ' ' in 'e u' is a byte the TSD refuses in a tag" },
        { HEAD "[rule r]\naction = drop-tags\nkeys = pid,,x\n",
          "T:9: [rule r] keys: an empty entry" },
        { HEAD "[rule r]\naction = drop\ntag = host\n",
          "T:9: [rule r] tag: 'host' is not KEY=REGEX" },
        { HEAD "[rule r]\naction = drop\ntag = ho st=x\n",
          "T:9: [rule r] tag: ' ' is a byte the TSD refuses in a tag key" },
        { HEAD "[rule r]\naction = rewrite\nmetric = a b\n",
          "T:9: [rule r] metric: ' ' is a byte the TSD refuses in a metric" },
        { HEAD "[rule r]\naction = rewrite\nmetric = a.\\1\n",
          "T:9: [rule r] metric: back-references need a match = pattern" },
        { HEAD "[rule r]\naction = drop\nstop = no\n", "T:9: [rule r] stop: a drop always stops" },
        { HEAD "[rule r]\naction = drop\nstop = maybe\n", "T:9: [rule r] stop: 'maybe' is not yes or no" },
        { HEAD "[rule r!]\naction = drop\n", "T:7: [rule r!]: rule name 'r!' must be 1-63" },
        { HEAD "[group]\nbackends = a\n", "T:7: [group]: unknown section" },
        { HEAD "[rule r]\naction = drop\n[rule r]\naction = drop\n",
          "T:9: [rule r]: rule 'r' is defined twice (first at line 7)" },
        { HEAD "[rule r]\naction = drop\ncolour = red\n", "T:9: [rule r] colour: unknown key" },
        { HEAD "[group g]\ncolour = red\n", "T:8: [group g] colour: unknown key" },
        { HEAD "[rule r]\naction = drop\ntag = a=1\ntag = a=2\ntag = a=3\ntag = a=4\n"
               "tag = a=5\ntag = a=6\ntag = a=7\ntag = a=8\ntag = a=9\n",
          "T:17: [rule r] tag: more than 8 tag conditions" },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
        ck_assert_msg(load(cases[i].text) == TS_ERROR, "case %zu accepted: %s", i,
                      cases[i].text);
        ck_assert_msg(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0,
                      "case %zu: got '%s', want '%s...'", i, err, cases[i].want);
    }
}
END_TEST

/* allow-specialchars widens what set-tags and templates may hold, and it
 * may come after the rule in the file. */
START_TEST(test_specialchars_later_in_file)
{
    const char *text = HEAD "[rule r]\naction = set-tags\ntags = k=a:b\n"
                            "[relay]\nallow-specialchars = :\n";
    ck_assert_msg(load(text) == TS_OK, "%s", err);
}
END_TEST

/* The key table lists the sections' keys (docs, the reload log) and
 * formats none of them (no single value). */
START_TEST(test_key_table)
{
    int group = 0, rule = 0;
    for (size_t i = 0; i < config_key_count(); i++) {
        char buf[64];
        if (strcmp(config_key_section(i), "group") == 0)
            group++;
        else if (strcmp(config_key_section(i), "rule") == 0)
            rule++;
        else
            continue;
        ck_assert(!config_key_format(i, &cfg, NULL, buf, sizeof(buf)));
    }
    ck_assert_int_eq(group, 2);
    ck_assert_int_eq(rule, 8);
}
END_TEST

static Suite *
rulecfg_suite(void)
{
    Suite *s = suite_create("rulecfg");
    TCase *tc = tcase_create("rulecfg");
    tcase_add_test(tc, test_no_groups_no_rules);
    tcase_add_test(tc, test_groups_and_rules_parsed);
    tcase_add_test(tc, test_send_stops_by_default_and_implicit_default);
    tcase_add_test(tc, test_refusals_name_file_line_key);
    tcase_add_test(tc, test_specialchars_later_in_file);
    tcase_add_test(tc, test_key_table);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(rulecfg_suite)

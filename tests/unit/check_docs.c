/*
 * check_docs.c -- the documentation cannot drift from the key table.
 *
 * Every key of src/base/config.c's table (config_key_count/_section/_name) must
 * be documented in docs/tsrelay.conf.5 under the heading of its section and
 * shown in conf/tsrelay.conf (set, or as a commented "; key = default") in
 * its section (a commented header, "; [rule NAME]", opens a section too:
 * the shipped file shows groups and rules without defining any).  Every key the man page documents must be in the table, or
 * under "KEYS PLANNED FOR A LATER RELEASE"; and a planned key that the
 * table has gained must move out of that part.  The checkers run on text,
 * so the last tests feed them a page with a key taken out and check that
 * they notice.
 */
#include "autoconf.h"

#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/util.h"
#include "unit.h"

#define MAN_PATH TOPSRCDIR "/docs/tsrelay.conf.5"
#define CONF_PATH TOPSRCDIR "/conf/tsrelay.conf"
#define TEXT_MAX (256 * 1024)
#define ENTRIES_MAX 256
#define KEY_MAX 64
#define REPORT_MAX 4096

struct entry {
    char sect[16];      /* relay, backend, redis, tls, limits, group, rule, or "" outside them */
    char key[KEY_MAX];
    bool planned;
};

struct doc {
    struct entry e[ENTRIES_MAX];
    size_t n;
};

static char man_text[TEXT_MAX];
static char conf_text[TEXT_MAX];
static struct doc man, conf;
static char report[REPORT_MAX];

static void
read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    size_t n = fread(buf, 1, cap - 1, f);
    ck_assert_msg(feof(f), "%s is larger than %zu bytes", path, cap - 1);
    fclose(f);
    buf[n] = '\0';
}

/* The section a heading or an INI header names, "" for none. */
static const char *
sect_of(const char *s, size_t len)
{
    static const char *const names[] = { "relay", "backend", "redis", "tls", "limits", "group",
                                         "rule" };
    static const char *const marks[] = { "[relay]", "[backend", "[redis]", "[tls]", "[limits]",
                                         "[group", "[rule" };
    for (size_t i = 0; i < TS_ARRAY_LEN(marks); i++) {
        size_t ml = strlen(marks[i]);
        for (size_t k = 0; k + ml <= len; k++)
            if (memcmp(s + k, marks[i], ml) == 0)
                return names[i];
    }
    return "";
}

static bool
contains(const char *s, size_t len, const char *what)
{
    size_t wl = strlen(what);
    for (size_t k = 0; k + wl <= len; k++)
        if (memcmp(s + k, what, wl) == 0)
            return true;
    return false;
}

static void
add(struct doc *d, const char *sect, const char *key, size_t klen, bool planned)
{
    ck_assert_msg(d->n < ENTRIES_MAX, "more than %d documented keys", ENTRIES_MAX);
    ck_assert_msg(klen > 0 && klen < KEY_MAX, "key of %zu bytes", klen);
    struct entry *e = &d->e[d->n++];
    snprintf(e->sect, sizeof(e->sect), "%s", sect);
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->planned = planned;
}

/* Man page: ".SH"/".SS" headings set the section (and "PLANNED" in an
 * ".SH" marks what follows as planned); the line after ".TP" is a tag,
 * ".B key", whose first word is the key ("\-" read as "-"). */
static void
parse_man(const char *text, struct doc *d)
{
    const char *sect = "";
    bool planned = false, tag_next = false;
    memset(d, 0, sizeof(*d));
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= 3 && memcmp(p, ".SH", 3) == 0) {
            planned = contains(p, len, "PLANNED");
            sect = sect_of(p, len);
        } else if (len >= 3 && memcmp(p, ".SS", 3) == 0) {
            sect = sect_of(p, len);
        } else if (tag_next && len > 3 && memcmp(p, ".B ", 3) == 0 && sect[0] != '\0') {
            char key[KEY_MAX];
            size_t k = 0;
            size_t i = 3;
            while (i < len && (p[i] == ' ' || p[i] == '"'))
                i++;
            while (i < len && k + 1 < sizeof(key)) {
                if (p[i] == '\\' && i + 1 < len && p[i + 1] == '-') {
                    key[k++] = '-';
                    i += 2;
                } else if (p[i] == ' ' || p[i] == '"' || p[i] == '\\') {
                    break;
                } else {
                    key[k++] = p[i++];
                }
            }
            add(d, sect, key, k, planned);
        }
        tag_next = len >= 3 && memcmp(p, ".TP", 3) == 0;
        p += len + (nl ? 1 : 0);
    }
}

/* INI file: "[section]" headers; "key = value", "; key = value" and
 * ";key = value" lines (a commented default documents a key too). */
static void
parse_conf(const char *text, struct doc *d)
{
    const char *sect = "";
    memset(d, 0, sizeof(*d));
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t i = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        size_t h = i; /* a header, or a commented one */
        if (h < len && (p[h] == ';' || p[h] == '#'))
            for (h++; h < len && p[h] == ' '; h++)
                ;
        if (h < len && p[h] == '[') {
            sect = sect_of(p + h, len - h);
        } else {
            if (i < len && (p[i] == ';' || p[i] == '#')) {
                i++;
                if (i < len && p[i] == ' ')
                    i++;
            }
            size_t start = i;
            while (i < len && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
                               p[i] == '-'))
                i++;
            size_t klen = i - start;
            while (i < len && (p[i] == ' ' || p[i] == '\t'))
                i++;
            if (klen > 0 && i < len && p[i] == '=' && sect[0] != '\0')
                add(d, sect, p + start, klen, false);
        }
        p += len + (nl ? 1 : 0);
    }
}

static bool
has(const struct doc *d, const char *sect, const char *key, bool planned)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].sect, sect) == 0 && strcmp(d->e[i].key, key) == 0 &&
            d->e[i].planned == planned)
            return true;
    return false;
}

static bool
in_table(const char *sect, const char *key)
{
    for (size_t i = 0; i < config_key_count(); i++)
        if (strcmp(config_key_section(i), sect) == 0 && strcmp(config_key_name(i), key) == 0)
            return true;
    return false;
}

static void note(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends to a report, truncating. */
static void
note(char *out, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(out);
    if (used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + used, cap - used, fmt, ap);
    va_end(ap);
}

/* Table keys the document lacks (outside the planned part); their list
 * goes to out.  Returns how many. */
static int
missing_keys(const struct doc *d, char *out, size_t cap)
{
    int n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < config_key_count(); i++) {
        if (!has(d, config_key_section(i), config_key_name(i), false)) {
            note(out, cap, " [%s] %s;", config_key_section(i), config_key_name(i));
            n++;
        }
    }
    return n;
}

/* Man page keys that are not in the table and not planned, or planned and
 * in the table already.  Returns how many. */
static int
stray_keys(const struct doc *d, char *out, size_t cap)
{
    int n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < d->n; i++) {
        const struct entry *e = &d->e[i];
        bool t = in_table(e->sect, e->key);
        if (!e->planned && !t) {
            note(out, cap, " [%s] %s is documented but not in the key table;", e->sect, e->key);
            n++;
        } else if (e->planned && t) {
            note(out, cap,
                 " [%s] %s is in the key table now: move it from PLANNED to its section;",
                 e->sect, e->key);
            n++;
        }
    }
    return n;
}

static void
setup(void)
{
    read_file(MAN_PATH, man_text, sizeof(man_text));
    read_file(CONF_PATH, conf_text, sizeof(conf_text));
    parse_man(man_text, &man);
    parse_conf(conf_text, &conf);
}

START_TEST(test_table_accessor)
{
    size_t n = config_key_count();
    ck_assert_msg(n >= 30, "the key table has %zu keys", n);
    for (size_t i = 0; i < n; i++) {
        const char *s = config_key_section(i);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(strcmp(s, "relay") == 0 || strcmp(s, "backend") == 0 ||
                          strcmp(s, "redis") == 0 || strcmp(s, "tls") == 0 ||
                          strcmp(s, "limits") == 0 || strcmp(s, "group") == 0 ||
                          strcmp(s, "rule") == 0,
                      "key %zu has section '%s'", i, s);
        ck_assert_ptr_nonnull(config_key_name(i));
    }
    ck_assert_ptr_null(config_key_section(n));
    ck_assert_ptr_null(config_key_name(n));
    ck_assert_msg(in_table("relay", "memory-limit") && in_table("redis", "spool-high") &&
                      in_table("backend", "conns") && !in_table("backend", "spool-high"),
                  "table lookups by section and name");
}
END_TEST

START_TEST(test_man_documents_every_key)
{
    int n = missing_keys(&man, report, sizeof(report));
    ck_assert_msg(n == 0, "%d keys of src/base/config.c are not documented in docs/tsrelay.conf.5 "
                  "(a .TP/.B entry under their section's heading):%s", n, report);
}
END_TEST

START_TEST(test_man_has_no_stray_keys)
{
    int n = stray_keys(&man, report, sizeof(report));
    ck_assert_msg(n == 0, "docs/tsrelay.conf.5:%s", report);
}
END_TEST

START_TEST(test_conf_shows_every_key)
{
    int n = missing_keys(&conf, report, sizeof(report));
    ck_assert_msg(n == 0, "%d keys of src/base/config.c are missing from conf/tsrelay.conf "
                  "(as 'key = value' or '; key = default' in their section):%s", n, report);
}
END_TEST

/* The checkers can fail: a page with one key's entry renamed, a key moved
 * to the wrong section, a conf without a key. */
START_TEST(test_checkers_notice_drift)
{
    static char text[TEXT_MAX];
    struct doc *d = calloc(1, sizeof(*d));
    ck_assert_ptr_nonnull(d);

    snprintf(text, sizeof(text), "%s", man_text);
    char *at = strstr(text, ".B max\\-clients\n");
    ck_assert_msg(at != NULL, "the page documents max-clients as '.B max\\-clients'");
    memcpy(at, ".B max\\-klients", strlen(".B max\\-klients"));
    parse_man(text, d);
    ck_assert_int_eq(missing_keys(d, report, sizeof(report)), 1);
    ck_assert_msg(strstr(report, "[relay] max-clients") != NULL, "report: %s", report);
    ck_assert_int_eq(stray_keys(d, report, sizeof(report)), 1);
    ck_assert_msg(strstr(report, "max-klients") != NULL, "report: %s", report);

    /* a backend key documented under [redis] only */
    parse_man(".SH \"THE [redis] SECTION\"\n.TP\n.B conns\ntext\n", d);
    ck_assert_int_eq(d->n, 1);
    ck_assert(!has(d, "backend", "conns", false));
    ck_assert_int_eq(stray_keys(d, report, sizeof(report)), 1);

    /* a planned key the table has */
    parse_man(".SH \"KEYS PLANNED FOR A LATER RELEASE\"\n.SS \"[relay]\"\n.TP\n"
              ".B memory\\-limit\ntext\n", d);
    ck_assert_int_eq(d->n, 1);
    ck_assert(d->e[0].planned);
    ck_assert_int_eq(stray_keys(d, report, sizeof(report)), 1);

    snprintf(text, sizeof(text), "%s", conf_text);
    at = strstr(text, "\nspool-flush-interval =");
    ck_assert_msg(at != NULL, "conf/tsrelay.conf sets spool-flush-interval");
    at[1] = 'x';
    parse_conf(text, d);
    ck_assert_int_eq(missing_keys(d, report, sizeof(report)), 1);
    ck_assert_msg(strstr(report, "[redis] spool-flush-interval") != NULL, "report: %s", report);

    /* commented defaults count, in their section; a commented header
     * opens its section */
    parse_conf("[relay]\n;stats-interval = 0\n; log-file =\n# max-tags = 8\n"
               "; a comment = with an equals sign\n[backend x]\n; conns = 2\n"
               "; [rule r]\n; match = ^a\n", d);
    ck_assert(has(d, "relay", "stats-interval", false));
    ck_assert(has(d, "relay", "log-file", false));
    ck_assert(has(d, "relay", "max-tags", false));
    ck_assert(has(d, "backend", "conns", false));
    ck_assert(has(d, "rule", "match", false));
    ck_assert(!has(d, "backend", "match", false));
    ck_assert_int_eq(d->n, 5);
    free(d);
}
END_TEST

static Suite *
docs_suite(void)
{
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("docs");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_table_accessor);
    tcase_add_test(tc, test_man_documents_every_key);
    tcase_add_test(tc, test_man_has_no_stray_keys);
    tcase_add_test(tc, test_conf_shows_every_key);
    tcase_add_test(tc, test_checkers_notice_drift);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(docs_suite)

/*
 * check_allow.c -- unit tests of address allow-lists (src/base/allow.c).
 *
 * Covers: parsing (IPv4, IPv6, bare addresses, prefixes, separators) and
 * its errors (not an address, a prefix out of range, host bits under the
 * mask, too many networks); matching at the prefix's edges, across
 * families, an IPv4 peer on a dual-stack socket (::ffff:a.b.c.d), an
 * empty list (everyone) and an unknown family (no one); the list written
 * back.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "base/allow.h"
#include "base/util.h"
#include "unit.h"

static struct allow_list l;
static char why[256];

static struct sockaddr_storage
addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
    } else {
        ck_assert_int_eq(inet_pton(AF_INET6, text, &a6->sin6_addr), 1);
        a6->sin6_family = AF_INET6;
    }
    return ss;
}

static bool
allowed(const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return allow_match(&l, (const struct sockaddr *)&ss);
}

static void
parse_ok(const char *text)
{
    ck_assert_msg(allow_parse(text, &l, why, sizeof(why)) == TS_OK, "'%s': %s", text, why);
}

START_TEST(test_parse_and_match_v4)
{
    parse_ok("10.0.0.0/8, 192.168.1.7 ,172.16.0.0/12");
    ck_assert_int_eq(l.n, 3);
    ck_assert(allowed("10.0.0.0"));
    ck_assert(allowed("10.255.255.255"));
    ck_assert(!allowed("11.0.0.0"));
    ck_assert(!allowed("9.255.255.255"));
    ck_assert(allowed("192.168.1.7"));
    ck_assert(!allowed("192.168.1.8"));
    ck_assert(allowed("172.31.255.255"));
    ck_assert(!allowed("172.32.0.0"));
    ck_assert(!allowed("::1"));
}
END_TEST

START_TEST(test_parse_and_match_v6)
{
    parse_ok("::1, 2001:db8::/33 fe80::/10");
    ck_assert_int_eq(l.n, 3);
    ck_assert(allowed("::1"));
    ck_assert(!allowed("::2"));
    ck_assert(allowed("2001:db8:7fff:ffff::1"));
    ck_assert(!allowed("2001:db8:8000::1"));
    ck_assert(allowed("febf::1"));
    ck_assert(!allowed("fec0::1"));
    ck_assert(!allowed("127.0.0.1"));
}
END_TEST

START_TEST(test_v4_mapped)
{
    parse_ok("127.0.0.1/32");
    ck_assert(allowed("::ffff:127.0.0.1"));
    ck_assert(!allowed("::ffff:127.0.0.2"));
    parse_ok("::ffff:0:0/96");
    ck_assert(!allowed("127.0.0.1")); /* an IPv6 network: IPv4 peers are IPv4 */
}
END_TEST

START_TEST(test_empty_allows_all_but_no_family)
{
    parse_ok("");
    ck_assert_int_eq(l.n, 0);
    ck_assert(allowed("203.0.113.9"));
    ck_assert(allowed("2001:db8::9"));
    ck_assert(allow_match(&l, NULL));
    parse_ok(" , ");
    ck_assert_int_eq(l.n, 0);
    parse_ok("0.0.0.0/0");
    ck_assert(allowed("203.0.113.9"));
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    ck_assert(!allow_match(&l, (const struct sockaddr *)&un));
    ck_assert(!allow_match(&l, NULL));
}
END_TEST

START_TEST(test_errors)
{
    static const struct { const char *text, *why; } bad[] = {
        { "10.0.0.0/8,300.1.1.1", "'300.1.1.1' is not an IPv4 or IPv6 address" },
        { "example.com", "'example.com' is not an IPv4 or IPv6 address" },
        { "10.0.0.0/33", "'10.0.0.0/33': the prefix length must be 0 to 32" },
        { "::/129", "'::/129': the prefix length must be 0 to 128" },
        { "10.0.0.0/x", "'10.0.0.0/x': the prefix length must be 0 to 32" },
        { "10.0.0.0/8x", "'10.0.0.0/8x': the prefix length must be 0 to 32" },
        { "10.0.0.0/", "'10.0.0.0/': the prefix length must be 0 to 32" },
        { "10.1.0.0/8", "'10.1.0.0/8' has bits set past its /8 prefix" },
        { "2001:db8::1/32", "'2001:db8::1/32' has bits set past its /32 prefix" },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        ck_assert_msg(allow_parse(bad[i].text, &l, why, sizeof(why)) == TS_ERROR, "%s",
                      bad[i].text);
        ck_assert_msg(strncmp(why, bad[i].why, strlen(bad[i].why)) == 0, "%s: '%s'",
                      bad[i].text, why);
    }
    char many[2048] = "";
    for (int i = 0; i <= ALLOW_MAX; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.0.%d,", i);
    ck_assert_int_eq(allow_parse(many, &l, why, sizeof(why)), TS_ERROR);
    ck_assert_str_eq(why, "more than 32 networks");
}
END_TEST

START_TEST(test_format)
{
    parse_ok("10.0.0.0/8,  ::1 , 192.168.0.0/16");
    char buf[256];
    allow_format(&l, buf, sizeof(buf));
    ck_assert_str_eq(buf, "10.0.0.0/8,::1/128,192.168.0.0/16");
    char small[12];
    size_t n = allow_format(&l, small, sizeof(small));
    ck_assert_uint_lt(n, sizeof(small));
    ck_assert_uint_eq(strlen(small), n);
}
END_TEST

static Suite *
allow_suite(void)
{
    Suite *s = suite_create("allow");
    TCase *tc = tcase_create("allow");
    tcase_add_test(tc, test_parse_and_match_v4);
    tcase_add_test(tc, test_parse_and_match_v6);
    tcase_add_test(tc, test_v4_mapped);
    tcase_add_test(tc, test_empty_allows_all_but_no_family);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_format);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(allow_suite)

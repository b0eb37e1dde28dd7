/*
 * check_point.c -- unit tests for point.c, pointerr.c and javanum.c: the
 * TSD's put grammar and error text (spec/opentsdb-telnet.md
 * section 2), Java's number parsers, canonical serialization, the
 * relay's 1024-byte line limit, Java HashMap order in
 * messages that print a tag map, the ISO-8859-1 name byte class, allowed
 * special characters, max-tags, series hashes and latin1_to_utf8.
 *
 * The main test is a table (point_rows.h): one row per input line with
 * the exact canonical line (ends in "\n") or the exact reply of
 * point_error_format.  Rollup and histogram lines have their own tables
 * (check_rollup.c, check_histogram.c).
 * HashMap orders in expected messages were computed independently from
 * the spec's rules (String.hashCode, h ^ (h >>> 16), & (cap - 1), capacity
 * 16 doubling while size > 0.75 * cap, insertion order within a bucket).
 */
#include "autoconf.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/javanum.h"
#include "base/point.h"
#include "point_rows.h"
#include "unit.h"
#include "base/util.h"

#define IA "put: illegal argument: "
#define IV "put: invalid value: "

static const struct row rows[] = {
    /* ---- table 2.1, one row per check, in the spec's order ---------- */
    /* 1: fewer than 5 words */
    P("put", IA "not enough arguments (need least 4, got 0)"),
    P("put m", IA "not enough arguments (need least 4, got 1)"),
    P("put m 1", IA "not enough arguments (need least 4, got 2)"),
    P("put m 1 1", IA "not enough arguments (need least 4, got 3)"),
    P("put  1 1", IA "not enough arguments (need least 4, got 3)"),  /* before 2 */
    /* 2: empty metric */
    P("put  m 1 a=b", IA "empty metric name"),
    P("put  x 1 a", IA "empty metric name"),              /* before 3 and 6 */
    /* 3: timestamp not a long */
    P("put m notatime 1 a=b", IV "Invalid character 'n' in notatime"),
    P("put m  1 a=b", IV "Empty string"),
    P("put m x  a", IV "Invalid character 'x' in x"),     /* before 5 and 6 */
    /* 4: timestamp <= 0 */
    P("put m 0 1 a=b", IA "invalid timestamp: 0"),
    P("put m -5 1 a=b", IA "invalid timestamp: -5"),
    P("put m 0  a", IA "invalid timestamp: 0"),           /* before 5 and 6 */
    /* 5: empty value */
    P("put m 1  a=b", IA "empty value"),
    P("put m 1  a", IA "empty value"),                    /* before 6 */
    /* 6: tag word not k=v */
    P("put m 1 1 a", IA "invalid tag: a"),
    P("put m 1 x a=b=c", IA "invalid tag: a=b=c"),        /* before 8 */
    P("put m 1 1e400 =b", IA "invalid tag: =b"),          /* before 9 */
    P("put m 1 1 d a=b a=c", IA "invalid tag: d"),        /* before the duplicate */
    /* 7: duplicate key, different value */
    P("put m 1 1 a=b a=c", IA "duplicate tag: a=c, tags={a=b}"),
    P("put m 1 x a=b a=c", IA "duplicate tag: a=c, tags={a=b}"),   /* before 8 */
    P("put m 1 1 a=b a=c d", IA "duplicate tag: a=c, tags={a=b}"), /* first failing word */
    /* 8: value not a number */
    P("put m 1 x a=b", IV "Invalid character 'x' in x"),
    P("put m 10000000000000 x a=b", IV "Invalid character 'x' in x"), /* before 10 */
    P("put m! 1 x a!=b", IV "Invalid character 'x' in x"),  /* before 13, 14 */
    P("put m 1 x", IA "not enough arguments (need least 4, got 3)"),
    /* 9: NaN or infinite */
    P("put m 1 1e400 a=b", IA "value is NaN or Infinite: Infinity for metric=m timestamp=1"),
    P("put m 1 -1e400 a=b", IA "value is NaN or Infinite: -Infinity for metric=m timestamp=1"),
    P("put m 10000000000000 1E400 a=b",
      IA "value is NaN or Infinite: Infinity for metric=m timestamp=10000000000000"),
    P("put m 1364410924.250 1e400 a=b",
      IA "value is NaN or Infinite: Infinity for metric=m timestamp=1364410924250"),
    /* 10: timestamp > 9999999999999 */
    P("put m 10000000000000 1 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[1]/0 to metric=m, tags={a=b}"),
    P("put m 10000000000000 -1 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[-1]/0 to metric=m, tags={a=b}"),
    P("put m 10000000000000 300 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[1, 44]/1 to metric=m, tags={a=b}"),
    P("put m 10000000000000 70000 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[0, 1, 17, 112]/3 to metric=m, "
         "tags={a=b}"),
    P("put m 10000000000000 1099511627776 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[0, 0, 1, 0, 0, 0, 0, 0]/7 to "
         "metric=m, tags={a=b}"),
    P("put m 10000000000000 1.5 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[63, -64, 0, 0]/11 to metric=m, "
         "tags={a=b}"),
    P("put m 10000000000000 0.1 a=b",
      IA "bad timestamp=10000000000000 when trying to add value=[63, -71, -103, -103, -103, -103, "
         "-103, -102]/15 to metric=m, tags={a=b}"),
    P("put m 10000000000000 1 ",                          /* before 11 */
      IA "bad timestamp=10000000000000 when trying to add value=[1]/0 to metric=m, tags={}"),
    P("put m 10000000000000 1 a=2 p=1",                   /* HashMap order: p before a */
      IA "bad timestamp=10000000000000 when trying to add value=[1]/0 to metric=m, "
         "tags={p=1, a=2}"),
    P("put m 9223372036854775807 1 a=b",
      IA "bad timestamp=9223372036854775807 when trying to add value=[1]/0 to metric=m, "
         "tags={a=b}"),
    /* 11: no tag */
    P("put m 1 1 ", IA "Need at least one tag (metric=m, tags={})"),
    P("put m! 1 1   ", IA "Need at least one tag (metric=m!, tags={})"),  /* before 13 */
    /* 12: too many tags (default 8, counted after collapsing) */
    P("put m 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8 t9=9",
      IA "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, t6=6, t7=7, t8=8, t9=9, t1=1, "
         "t2=2, t3=3}"),
    P("put m! 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8 t9=9!",  /* before 13 and 14 */
      IA "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, t6=6, t7=7, t8=8, t9=9!, t1=1, "
         "t2=2, t3=3}"),
    /* 13 keys: the map has grown to 32 buckets (t12 before t11) */
    P("put m 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8 t9=9 t10=10 t11=11 t12=12 t13=13",
      IA "Too many tags: 13 maximum allowed: 8, tags: {t4=4, t5=5, t6=6, t7=7, t8=8, t9=9, "
         "t10=10, t12=12, t11=11, t13=13, t1=1, t2=2, t3=3}"),
    P("put m 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8 t1=1 t8=8",
      "put m 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8\n"),
    P("put m 1 1 h=1 g=2 f=3 e=4 d=5 c=6 b=7 a=8",
      "put m 1 1 a=8 b=7 c=6 d=5 e=4 f=3 g=2 h=1\n"),
    /* 13: metric characters */
    P("put m! 1 1 a=b", IA "Invalid metric name (\"m!\"): illegal character: !"),
    P("put m! 1 1 a!=b", IA "Invalid metric name (\"m!\"): illegal character: !"),  /* before 14 */
    P("put m:x 1 1 a=b", IA "Invalid metric name (\"m:x\"): illegal character: :"),
    /* 14: tag characters, key before value, tags in HashMap order */
    P("put m 1 1 a!=b", IA "Invalid tag name with value [b] (\"a!\"): illegal character: !"),
    P("put m 1 1 a=b!", IA "Invalid tag value with key [a] (\"b!\"): illegal character: !"),
    P("put m 1 1 a!=b!", IA "Invalid tag name with value [b!] (\"a!\"): illegal character: !"),
    P("put m 1 1 a=x! p=y!", IA "Invalid tag value with key [p] (\"y!\"): illegal character: !"),
    P("put m 1 1 a=x! q=y!", IA "Invalid tag value with key [a] (\"x!\"): illegal character: !"),
    P("put m 1 1 q=y! a=x!", IA "Invalid tag value with key [q] (\"y!\"): illegal character: !"),
    P("put m 1 1 host=h! rack=r! dc=d!",
      IA "Invalid tag value with key [rack] (\"r!\"): illegal character: !"),

    /* ---- word splitting on 0x20 only ---------------------------------- */
    P("put m 1 1 a=b", "put m 1 1 a=b\n"),
    P("put m 1 1 a=b  c=d", "put m 1 1 a=b c=d\n"),
    P("put m 1 1 a=b ", "put m 1 1 a=b\n"),
    P("put m 1 1 a=b   ", "put m 1 1 a=b\n"),
    P("put m 1 1  a=b", "put m 1 1 a=b\n"),
    P("put m 1 1 c=d  a=b  ", "put m 1 1 a=b c=d\n"),
    P("put tcollector.reader.lines_collected 1364410924 42  host=web01",
      "put tcollector.reader.lines_collected 1364410924 42 host=web01\n"),
    P("put m\t1 1 a=b", IA "not enough arguments (need least 4, got 3)"),
    P("put m 1 1\ta=b", IA "not enough arguments (need least 4, got 3)"),
    P("put m 1 1 a=b\tc=d", IA "invalid tag: a=b\tc=d"),
    P("put m 1 1 a=b\t", IA "Invalid tag value with key [a] (\"b\t\"): illegal character: \t"),
    P("put m\r 1 1 a=b", IA "Invalid metric name (\"m\r\"): illegal character: \r"),

    /* ---- timestamps ---------------------------------------------------- */
    P("put m 1364410924 1 a=b", "put m 1364410924 1 a=b\n"),
    P("put m 1364410924250 1 a=b", "put m 1364410924250 1 a=b\n"),
    P("put m 1364410924.250 1 a=b", "put m 1364410924.250 1 a=b\n"),
    P("put m 1.5 1 a=b", "put m 1.5 1 a=b\n"),             /* = 15 seconds */
    P("put m 1.2.3 1 a=b", "put m 1.2.3 1 a=b\n"),
    P("put m 4294967295 1 a=b", "put m 4294967295 1 a=b\n"),   /* last second */
    P("put m 4294967296 1 a=b", "put m 4294967296 1 a=b\n"),   /* first ms */
    P("put m 9999999999999 1 a=b", "put m 9999999999999 1 a=b\n"),
    P("put m 007 1 a=b", "put m 007 1 a=b\n"),
    P("put m +5 1 a=b", "put m +5 1 a=b\n"),
    P("put m . 1 a=b", IV "Empty string"),
    P("put m 0.0 1 a=b", IA "invalid timestamp: 0"),
    P("put m -0 1 a=b", IA "invalid timestamp: 0"),
    P("put m + 1 a=b", IV "Just a sign, no value: +"),
    P("put m - 1 a=b", IV "Just a sign, no value: -"),
    P("put m +. 1 a=b", IV "Just a sign, no value: +"),
    P("put m ++5 1 a=b", IV "Invalid character '+' in ++5"),
    P("put m 5+ 1 a=b", IV "Invalid character '+' in 5+"),
    P("put m 1e5 1 a=b", IV "Invalid character 'e' in 1e5"),
    P("put m 1\t 1 a=b", IV "Invalid character '\t' in 1\t"),
    P("put m 12345678901234567890 1 a=b", IV "Value too long: 12345678901234567890"),
    P("put m abcdefghijklmnopqrst 1 a=b", IV "Value too long: abcdefghijklmnopqrst"),
    P("put m +12345678901234567890 1 a=b", IV "Value too long: +12345678901234567890"),
    P("put m 1234567890.1234567890 1 a=b", IV "Value too long: 12345678901234567890"),
    P("put m +1234567890123456789 1 a=b",
      IA "bad timestamp=1234567890123456789 when trying to add value=[1]/0 to metric=m, "
         "tags={a=b}"),
    P("put m 9223372036854775808 1 a=b", IV "Overflow in 9223372036854775808"),
    P("put m 9999999999999999999 1 a=b", IV "Overflow in 9999999999999999999"),
    P("put m -9223372036854775808 1 a=b", IA "invalid timestamp: -9223372036854775808"),
    P("put m -9223372036854775809 1 a=b", IV "Overflow in -9223372036854775809"),

    /* ---- values: integer path (no '.', 'e', 'E') ---------------------- */
    P("put m 1 42 a=b", "put m 1 42 a=b\n"),
    P("put m 1 -42 a=b", "put m 1 -42 a=b\n"),
    P("put m 1 +42 a=b", "put m 1 +42 a=b\n"),
    P("put m 1 007 a=b", "put m 1 007 a=b\n"),
    P("put m 1 9223372036854775807 a=b", "put m 1 9223372036854775807 a=b\n"),
    P("put m 1 -9223372036854775808 a=b", "put m 1 -9223372036854775808 a=b\n"),
    P("put m 1 9223372036854775808 a=b", IV "Overflow in 9223372036854775808"),
    P("put m 1 12345678901234567890 a=b", IV "Value too long: 12345678901234567890"),
    P("put m 1 NaN a=b", IV "Invalid character 'N' in NaN"),
    P("put m 1 Infinity a=b", IV "Invalid character 'I' in Infinity"),
    P("put m 1 inf a=b", IV "Invalid character 'i' in inf"),
    P("put m 1 0x10 a=b", IV "Invalid character 'x' in 0x10"),
    P("put m 1 0x1p3 a=b", IV "Invalid character 'x' in 0x1p3"),
    P("put m 1 1,000 a=b", IV "Invalid character ',' in 1,000"),
    P("put m 1 2D a=b", IV "Invalid character 'D' in 2D"),
    P("put m 1 1f a=b", IV "Invalid character 'f' in 1f"),
    P("put m 1 - a=b", IV "Just a sign, no value: -"),
    P("put m 1 + a=b", IV "Just a sign, no value: +"),
    /* ---- values: float path, Java Double grammar ---------------------- */
    P("put m 1 true a=b", IV "For input string: \"true\""),   /* has an 'e' */
    P("put m 1 1.5 a=b", "put m 1 1.5 a=b\n"),
    P("put m 1 1.0 a=b", "put m 1 1.0 a=b\n"),
    P("put m 1 .5 a=b", "put m 1 .5 a=b\n"),
    P("put m 1 5. a=b", "put m 1 5. a=b\n"),
    P("put m 1 +1.5 a=b", "put m 1 +1.5 a=b\n"),
    P("put m 1 -.5 a=b", "put m 1 -.5 a=b\n"),
    P("put m 1 00.5 a=b", "put m 1 00.5 a=b\n"),
    P("put m 1 1e5 a=b", "put m 1 1e5 a=b\n"),
    P("put m 1 1E5 a=b", "put m 1 1E5 a=b\n"),
    P("put m 1 1e+5 a=b", "put m 1 1e+5 a=b\n"),
    P("put m 1 1.5E-3 a=b", "put m 1 1.5E-3 a=b\n"),
    P("put m 1 1.5f a=b", "put m 1 1.5f a=b\n"),
    P("put m 1 1.5F a=b", "put m 1 1.5F a=b\n"),
    P("put m 1 1.5d a=b", "put m 1 1.5d a=b\n"),
    P("put m 1 1.5D a=b", "put m 1 1.5D a=b\n"),
    P("put m 1 1e5f a=b", "put m 1 1e5f a=b\n"),
    P("put m 1 0x1.8p1 a=b", "put m 1 0x1.8p1 a=b\n"),
    P("put m 1 -0X1.8P-1d a=b", "put m 1 -0X1.8P-1d a=b\n"),
    P("put m 1 0x.8p1 a=b", "put m 1 0x.8p1 a=b\n"),
    P("put m 1 0xEp1 a=b", "put m 1 0xEp1 a=b\n"),            /* 'E' -> float path */
    P("put m 1 1e39 a=b", "put m 1 1e39 a=b\n"),              /* finite double */
    P("put m 1 1e-400 a=b", "put m 1 1e-400 a=b\n"),          /* underflow to 0 */
    P("put m 1 \t1.5 a=b", "put m 1 1.5 a=b\n"),               /* trimmed */
    P("put m 1 1.5\t a=b", "put m 1 1.5 a=b\n"),
    P("put m 1 1.5\r a=b", "put m 1 1.5 a=b\n"),
    P("put m 1 \x01" "1.5\x1f a=b", "put m 1 1.5 a=b\n"),
    P("put m 1 1.2.3 a=b", IV "multiple points"),
    P("put m 1 1..2 a=b", IV "multiple points"),
    P("put m 1 .. a=b", IV "multiple points"),
    P("put m 1 1.5x a=b", IV "For input string: \"1.5x\""),
    P("put m 1 \t1.5x\t a=b", IV "For input string: \"1.5x\""),  /* trimmed text */
    P("put m 1 . a=b", IV "For input string: \".\""),
    P("put m 1 e a=b", IV "For input string: \"e\""),
    P("put m 1 1e a=b", IV "For input string: \"1e\""),
    P("put m 1 1e+ a=b", IV "For input string: \"1e+\""),
    P("put m 1 .e5 a=b", IV "For input string: \".e5\""),
    P("put m 1 1e5.5 a=b", IV "For input string: \"1e5.5\""),
    P("put m 1 1.5ff a=b", IV "For input string: \"1.5ff\""),
    P("put m 1 --1.5 a=b", IV "For input string: \"--1.5\""),
    P("put m 1 NaN.0 a=b", IV "For input string: \"NaN.0\""),
    P("put m 1 0x1.8 a=b", IV "For input string: \"0x1.8\""),
    P("put m 1 0x1p1e a=b", IV "For input string: \"0x1p1e\""),

    /* ---- tags ---------------------------------------------------------- */
    P("put m 1 1 a=", IA "invalid tag: a="),
    P("put m 1 1 =b", IA "invalid tag: =b"),
    P("put m 1 1 =", IA "invalid tag: ="),
    P("put m 1 1 ==", IA "invalid tag: =="),
    P("put m 1 1 a=b a=b", "put m 1 1 a=b\n"),
    P("put m 1 1 z=1 a=2 m=3", "put m 1 1 a=2 m=3 z=1\n"),
    P("put m 1 1 b=1 B=2", "put m 1 1 B=2 b=1\n"),
    P("put m 1 1 ab=1 a=2", "put m 1 1 a=2 ab=1\n"),
    P("put m 1 1 \xE9=1 z=2", "put m 1 1 z=2 \xE9=1\n"),
    /* duplicate messages print the map in HashMap order, not insertion order */
    P("put m 1 1 a=1 p=2 a=3", IA "duplicate tag: a=3, tags={p=2, a=1}"),
    P("put m 1 1 host=web a=1 p=2 host=db", IA "duplicate tag: host=db, tags={p=2, a=1, host=web}"),
    P("put m 1 1 q=1 a=2 q=3", IA "duplicate tag: q=3, tags={q=1, a=2}"),  /* same bucket */

    /* ---- ISO-8859-1 name bytes ------------------------------------------ */
    P("put caf\xE9 1 1 a=b", "put caf\xE9 1 1 a=b\n"),
    P("put caf\xC3\xA9 1 1 a=b",
      IA "Invalid metric name (\"caf\xC3\x83\xC2\xA9\"): illegal character: \xC2\xA9"),
    P("put m\xD7 1 1 a=b", IA "Invalid metric name (\"m\xC3\x97\"): illegal character: \xC3\x97"),
    P("put m\xF7 1 1 a=b", IA "Invalid metric name (\"m\xC3\xB7\"): illegal character: \xC3\xB7"),
    P("put m\xBF 1 1 a=b", IA "Invalid metric name (\"m\xC2\xBF\"): illegal character: \xC2\xBF"),
    P("put m\xA0 1 1 a=b", IA "Invalid metric name (\"m\xC2\xA0\"): illegal character: \xC2\xA0"),
    P("put m\x80 1 1 a=b", IA "Invalid metric name (\"m\xC2\x80\"): illegal character: \xC2\x80"),
    P("put m\x7F 1 1 a=b", IA "Invalid metric name (\"m\x7F\"): illegal character: \x7F"),
    P("put \xAA\xB5\xBA 1 1 a=b", "put \xAA\xB5\xBA 1 1 a=b\n"),
    P("put \xC0\xD6\xD8\xF6\xF8\xFF 1 1 a=b", "put \xC0\xD6\xD8\xF6\xF8\xFF 1 1 a=b\n"),
    P("put \xC2\xB5 1 1 a=b", "put \xC2\xB5 1 1 a=b\n"),     /* UTF-8 micro sign passes */
    P("put -_./09AZaz 1 1 a=b", "put -_./09AZaz 1 1 a=b\n"),
    P("put m 1 1 \xB5=\xE9", "put m 1 1 \xB5=\xE9\n"),
    P("put m 1 1 a=\xA9", IA "Invalid tag value with key [a] (\"\xC2\xA9\"): illegal character: \xC2\xA9"),
    P("put m 1 1 \xF7=b", IA "Invalid tag name with value [b] (\"\xC3\xB7\"): illegal character: \xC3\xB7"),

    /* ---- implicit put (framed text lines) ------------------------------- */
    I("m 1 1 a=b", "put m 1 1 a=b\n"),
    I("m 1 1  b=2 a=1 ", "put m 1 1 a=1 b=2\n"),
    I("m 1 1", IA "not enough arguments (need least 4, got 3)"),
    I(" m 1 1 a=b", IA "empty metric name"),
    I("m x 1 a=b", IV "Invalid character 'x' in x"),
};

static struct point_rules rules;

static void
setup(void)
{
    point_rules_init(&rules, 8, NULL);
}

START_TEST(test_table)
{
    check_row(&rules, &rows[_i]);
}
END_TEST

/* ---- the relay's own 1024-byte limit on the canonical line ---------------- */

static size_t
build_line(char *buf, const char *prefix, char fill, size_t nfill, const char *suffix)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    memset(buf + n, fill, nfill);
    n += nfill;
    memcpy(buf + n, suffix, strlen(suffix));
    return n + strlen(suffix);
}

START_TEST(test_line_limit_exact)
{
    /* "put m 1 1 k=" is 12 bytes: 1012 more make exactly 1024 */
    char line[1100];
    size_t n = build_line(line, "put m 1 1 k=", 'v', 1012, "");
    ck_assert_uint_eq(n, 1024);
    struct point p;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, n, &p, &err), TS_OK);
    char out[POINT_LINE_MAX + 2];
    ck_assert_uint_eq(point_canonical_len(&p), 1025);
    ck_assert_uint_eq(point_format(&p, out, sizeof(out)), 1025);
    ck_assert_int_eq(memcmp(out, line, 1024), 0);
    ck_assert_int_eq(out[1024], '\n');
}
END_TEST

START_TEST(test_line_limit_over)
{
    char line[1100];
    size_t n = build_line(line, "put m 1 1 k=", 'v', 1013, "");
    ck_assert_uint_eq(n, 1025);
    struct point p;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, n, &p, &err), TS_ERROR);
    ck_assert(err.relay);
    char reply[2200];
    size_t rn = point_error_format(&err, reply, sizeof(reply));
    reply[rn] = '\0';
    ck_assert_str_eq(reply, "put: illegal argument: line too long for the TSD: 1025 bytes, the "
                            "limit is 1024 (a TSD closes the connection on a longer line)");
}
END_TEST

START_TEST(test_line_limit_counts_canonical_form)
{
    /* 1030 bytes as sent, 1024 once the doubled and trailing spaces go */
    char line[1100];
    size_t n = build_line(line, "put m 1 1  k=", 'v', 1012, "     ");
    ck_assert_uint_eq(n, 1030);
    struct point p;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, n, &p, &err), TS_OK);
    ck_assert_uint_eq(point_canonical_len(&p), 1025);
    /* and a float value whose trimmed form fits */
    n = build_line(line, "put m 1 \t1.5\t k=", 'v', 1010, "");
    ck_assert_uint_eq(n, 1026);
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, n, &p, &err), TS_OK);
    ck_assert_uint_eq(point_canonical_len(&p), 1025);
}
END_TEST

START_TEST(test_line_limit_rollup)
{
    /* "rollup sum m 1 1 k=" is 19 bytes */
    char line[1100];
    size_t n = build_line(line, "rollup sum m 1 1 k=", 'v', 1005, "");
    struct point p;
    struct point_error err;
    ck_assert_int_eq(rollup_parse_line(&rules, line, n, &p, &err), TS_OK);
    ck_assert_uint_eq(point_canonical_len(&p), 1025);
    n = build_line(line, "rollup sum m 1 1 k=", 'v', 1006, "");
    ck_assert_int_eq(rollup_parse_line(&rules, line, n, &p, &err), TS_ERROR);
    ck_assert(err.relay);
    ck_assert_int_eq(err.cmd, CMD_ROLLUP);
}
END_TEST

/* ---- configuration: max tags and allowed specials --------------------------- */

START_TEST(test_max_tags_config)
{
    struct point_rules r2;
    point_rules_init(&r2, 2, NULL);
    static const struct row ok = P("put m 1 1 b=2 a=1 b=2", "put m 1 1 a=1 b=2\n");
    static const struct row bad = P("put m 1 1 a=1 b=2 c=3",
                                    IA "Too many tags: 3 maximum allowed: 2, tags: {a=1, b=2, c=3}");
    check_row(&r2, &ok);
    check_row(&r2, &bad);
    point_rules_init(&r2, 1, NULL);
    static const struct row one = P("put m 1 1 p=1 a=2",
                                    IA "Too many tags: 2 maximum allowed: 1, tags: {p=1, a=2}");
    check_row(&r2, &one);
}
END_TEST

START_TEST(test_allowed_specials)
{
    struct point_rules r2;
    point_rules_init(&r2, 8, "!:");
    static const struct row ok = P("put m!:x 1 1 a=b! c:=d", "put m!:x 1 1 a=b! c:=d\n");
    static const struct row still_bad =
        P("put m@ 1 1 a=b", IA "Invalid metric name (\"m@\"): illegal character: @");
    check_row(&r2, &ok);
    check_row(&r2, &still_bad);
    /* the specials do not leak into the default rules */
    static const struct row dflt =
        P("put m!:x 1 1 a=b", IA "Invalid metric name (\"m!:x\"): illegal character: !");
    check_row(&rules, &dflt);
    /* a Latin-1 byte can be allowed too */
    point_rules_init(&r2, 8, "\xD7");
    static const struct row times = P("put m\xD7 1 1 a=b", "put m\xD7 1 1 a=b\n");
    check_row(&r2, &times);
}
END_TEST

START_TEST(test_name_byte_class)
{
    /* exactly the spec's set: [-./0-9A-Z_a-z\xAA\xB5\xBA\xC0-\xD6\xD8-\xF6\xF8-\xFF] */
    for (int c = 0; c < 256; c++) {
        bool want = c == '-' || c == '.' || c == '/' || (c >= '0' && c <= '9') ||
                    (c >= 'A' && c <= 'Z') || c == '_' || (c >= 'a' && c <= 'z') || c == 0xAA ||
                    c == 0xB5 || c == 0xBA || (c >= 0xC0 && c <= 0xD6) ||
                    (c >= 0xD8 && c <= 0xF6) || c >= 0xF8;
        ck_assert_msg((rules.name_ok[c] != 0) == want, "byte 0x%02X: got %d", c,
                      rules.name_ok[c]);
    }
}
END_TEST

START_TEST(test_nul_byte_in_metric)
{
    static const char line[] = "put m\0x 1 1 a=b";
    struct point p;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, sizeof(line) - 1, &p, &err),
                     TS_ERROR);
    char reply[256];
    size_t n = point_error_format(&err, reply, sizeof(reply));
    static const char want[] = IA "Invalid metric name (\"m\0x\"): illegal character: \0";
    ck_assert_uint_eq(n, sizeof(want) - 1);
    ck_assert_int_eq(memcmp(reply, want, n), 0);
}
END_TEST

/* n distinct tags a0..a(n-1) with max-tags 8: the TSD prints every one of
 * them in a 128-bucket map (spec 2.1 #12); `order` is that map's order. */
static void
check_many_tags(int ntags, const int *order)
{
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof(line), "put m 1 1");
    for (int i = 0; i < ntags; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, " a%d=%d", i, i);
    char want[1024];
    size_t w = (size_t)snprintf(want, sizeof(want),
                                IA "Too many tags: %d maximum allowed: 8, tags: {", ntags);
    for (int i = 0; i < ntags; i++)
        w += (size_t)snprintf(want + w, sizeof(want) - w, "%sa%d=%d", i ? ", " : "", order[i],
                              order[i]);
    snprintf(want + w, sizeof(want) - w, "}");
    struct point p;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, n, &p, &err), TS_ERROR);
    char reply[2200];
    size_t rn = point_error_format(&err, reply, sizeof(reply) - 1);
    reply[rn] = '\0';
    ck_assert_str_eq(reply, want);
}

START_TEST(test_64_tags_full_map)
{
    static const int order[64] = {
        33, 32, 35, 34, 37, 36, 39, 38, 40, 42, 41, 44, 43, 46, 45, 48, 47, 49, 51, 50,
        53, 52, 11, 55, 10, 54, 13, 57, 12, 56, 15, 59, 14, 58, 17, 16, 19, 18, 60, 62,
        61, 20, 63, 22, 21, 24, 23, 26, 25, 28, 27, 29, 0,  1,  2,  3,  4,  5,  6,  7,
        8,  9,  31, 30,
    };
    check_many_tags(64, order);
}
END_TEST

/* More tags than the parser tracks (POINT_MAX_TAGS = 64).  Under
 * AddressSanitizer this line also shows the duplicate-key scan reading
 * past the end of point.tags[]. */
START_TEST(test_70_tags_full_map)
{
    static const int order[70] = {
        33, 32, 35, 34, 37, 36, 39, 38, 40, 42, 41, 44, 43, 46, 45, 48, 47, 49, 51, 50,
        53, 52, 11, 55, 10, 54, 13, 57, 12, 56, 15, 59, 14, 58, 17, 16, 19, 18, 60, 62,
        61, 20, 64, 63, 22, 66, 21, 65, 24, 68, 23, 67, 26, 25, 69, 28, 27, 29, 0,  1,
        2,  3,  4,  5,  6,  7,  8,  9,  31, 30,
    };
    check_many_tags(70, order);
}
END_TEST

/* ---- parsed fields ------------------------------------------------------- */

START_TEST(test_parsed_fields)
{
    static const char line[] = "put sys.cpu 1364410924.250 \t1.5\t  host=b  dc=a ";
    struct point p;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, sizeof(line) - 1, &p, &err),
                     TS_OK);
    ck_assert_int_eq(p.cmd, CMD_PUT);
    ck_assert_int_eq(p.timestamp, 1364410924250LL);
    ck_assert_uint_eq(p.metric_len, 7);
    ck_assert_int_eq(memcmp(p.metric, "sys.cpu", 7), 0);
    ck_assert_uint_eq(p.ts_len, 14);
    ck_assert_uint_eq(p.value_len, 3);
    ck_assert_int_eq(memcmp(p.value, "1.5", 3), 0);
    ck_assert_int_eq(p.ntags, 2);
    ck_assert_uint_eq(p.tags[0].klen, 2);
    ck_assert_int_eq(memcmp(p.tags[0].k, "dc", 2), 0);
    ck_assert_int_eq(memcmp(p.tags[1].k, "host", 4), 0);
    ck_assert_ptr_null(p.codec);
}
END_TEST

START_TEST(test_parse_long_direct)
{
    int64_t v = 0;
    struct point_error err;
    ck_assert_int_eq(point_parse_long("-9223372036854775808", 20, &v, &err), TS_OK);
    ck_assert(v == INT64_MIN);
    ck_assert_int_eq(point_parse_long("+9223372036854775807", 20, &v, &err), TS_OK);
    ck_assert(v == INT64_MAX);
    ck_assert_int_eq(point_parse_long("0000000000000000042", 19, &v, &err), TS_OK);
    ck_assert_int_eq(v, 42);
    ck_assert_int_eq(point_parse_long("", 0, &v, &err), TS_ERROR);
    ck_assert_int_eq(err.kind, PE_INVALID_VALUE);
    ck_assert_str_eq(err.msg, "Empty string");
    ck_assert_int_eq(point_parse_long("12x", 3, &v, &err), TS_ERROR);
    ck_assert_str_eq(err.msg, "Invalid character 'x' in 12x");
}
END_TEST

START_TEST(test_parse_java_double_values)
{
    double d;
    float f;
    ck_assert_int_eq(javanum_parse_double("0x1.8p1", 7, &d, &f), TS_OK);
    ck_assert(d == 3.0 && f == 3.0f);
    ck_assert_int_eq(javanum_parse_double("0xEp1", 5, &d, &f), TS_OK);
    ck_assert(d == 28.0);
    ck_assert_int_eq(javanum_parse_double("1.5f", 4, &d, &f), TS_OK);
    ck_assert(d == 1.5 && f == 1.5f);
    ck_assert_int_eq(javanum_parse_double(" -2.5D\t", 7, &d, &f), TS_OK);
    ck_assert(d == -2.5);
    ck_assert_int_eq(javanum_parse_double("1e39", 4, &d, &f), TS_OK);
    ck_assert(d == 1e39 && isinf(f));
    ck_assert_int_eq(javanum_parse_double("1e400", 5, &d, &f), TS_OK);
    ck_assert(isinf(d) && d > 0);
    ck_assert_int_eq(javanum_parse_double("NaN", 3, &d, &f), TS_OK);
    ck_assert(isnan(d));
    ck_assert_int_eq(javanum_parse_double("-Infinity", 9, &d, &f), TS_OK);
    ck_assert(isinf(d) && d < 0);
    ck_assert_int_eq(javanum_parse_double("nan", 3, &d, &f), TS_ERROR);
    ck_assert_int_eq(javanum_parse_double("inf", 3, &d, &f), TS_ERROR);
    ck_assert_int_eq(javanum_parse_double("1.5x", 4, &d, &f), TS_ERROR);
    ck_assert_int_eq(javanum_parse_double("", 0, &d, &f), TS_ERROR);
}
END_TEST

/* javanum's verdicts, which point.c words as the TSD's messages. */
START_TEST(test_javanum_verdicts)
{
    int64_t v = 0;
    size_t bad = 99;
    ck_assert_int_eq(javanum_parse_long("", 0, &v, &bad), JLONG_EMPTY);
    ck_assert_int_eq(javanum_parse_long("-", 1, &v, &bad), JLONG_SIGN_ONLY);
    ck_assert_int_eq(javanum_parse_long("12345678901234567890", 20, &v, &bad), JLONG_TOO_LONG);
    ck_assert_int_eq(javanum_parse_long("+12x4", 5, &v, &bad), JLONG_BAD_CHAR);
    ck_assert_uint_eq(bad, 3);
    ck_assert_int_eq(javanum_parse_long("9223372036854775808", 19, &v, &bad), JLONG_OVERFLOW);
    ck_assert(v == 0); /* untouched when refused */
    ck_assert_int_eq(javanum_parse_long("-9223372036854775808", 20, &v, &bad), JLONG_OK);
    ck_assert(v == INT64_MIN);
    ck_assert(javanum_is_int("-2147483648", 11));
    ck_assert(!javanum_is_int("2147483648", 10));
    ck_assert(!javanum_is_int("+", 1));
    int32_t iv = 0;
    ck_assert(javanum_parse_int("-2147483648", 11, &iv) && iv == INT32_MIN);
    ck_assert(javanum_parse_int("+0000000000000000000007", 23, &iv) && iv == 7);
    const char *s = " 1.5.1\t";
    size_t n = 7;
    ck_assert_int_eq(javanum_double_grammar(&s, &n), JDOUBLE_MULTIPLE_POINTS);
    ck_assert(n == 5 && s[0] == '1'); /* trimmed as String.trim does */
    s = "0x1p";
    n = 4;
    ck_assert_int_eq(javanum_double_grammar(&s, &n), JDOUBLE_NOT_A_NUMBER);
    ck_assert(javanum_may_overflow("1e300", 5));
    ck_assert(!javanum_may_overflow("1e299", 5));
    ck_assert(!javanum_may_overflow("123.456", 7));
    ck_assert(javanum_may_overflow("0x1p1", 5));
}
END_TEST

/* ---- series hashes --------------------------------------------------------- */

static uint64_t
canon_hash(const char *in, char *out, size_t *olen, uint64_t *phash)
{
    struct point p;
    struct point_error err;
    enum point_cmd cmd = strncmp(in, "rollup ", 7) == 0      ? CMD_ROLLUP
                         : strncmp(in, "histogram ", 10) == 0 ? CMD_HISTOGRAM
                                                              : CMD_PUT;
    ck_assert_int_eq(pointline_parse(&rules, cmd, false, in, strlen(in), &p, &err), TS_OK);
    *olen = point_format(&p, out, POINT_LINE_MAX + 2);
    *phash = point_hash(&p);
    return point_line_hash(out, *olen);
}

START_TEST(test_line_hash)
{
    char a[POINT_LINE_MAX + 2], b[POINT_LINE_MAX + 2];
    size_t an, bn;
    uint64_t pa, pb;
    uint64_t ha = canon_hash("put sys.cpu 1 1 host=a dc=x", a, &an, &pa);
    uint64_t hb = canon_hash("put sys.cpu 99 2.5  dc=x   host=a ", b, &bn, &pb);
    ck_assert(ha == hb);          /* same series: metric + sorted tags */
    ck_assert(pa == ha);          /* point_hash agrees with the line hash */
    ck_assert(pb == hb);
    /* without the trailing newline as well */
    ck_assert(point_line_hash(a, an - 1) == ha);

    uint64_t hc = canon_hash("put sys.cpu 1 1 host=b dc=x", b, &bn, &pb);
    ck_assert(hc != ha);          /* a tag value differs */
    ck_assert(pb == hc);
    uint64_t hd = canon_hash("put sys.mem 1 1 host=a dc=x", b, &bn, &pb);
    ck_assert(hd != ha);          /* the metric differs */
    uint64_t he = canon_hash("put sys.cpu 1 1 host=a dc=x rack=r", b, &bn, &pb);
    ck_assert(he != ha);          /* one more tag */

    /* rollup and histogram lines hash the same series as put */
    uint64_t hr = canon_hash("rollup 1h-sum sys.cpu 1 1 dc=x host=a", b, &bn, &pb);
    ck_assert(hr == ha);
    ck_assert(pb == hr);
    uint64_t hh = canon_hash("histogram sys.cpu 1 0 AAEC host=a dc=x", b, &bn, &pb);
    ck_assert(hh == ha);
    ck_assert(pb == hh);
    uint64_t hs = canon_hash("histogram sys.cpu 1 u=0:o=1 host=a dc=x", b, &bn, &pb);
    ck_assert(hs == ha);
    ck_assert(pb == hs);
}
END_TEST

/* ---- ISO-8859-1 -> UTF-8 ----------------------------------------------------- */

START_TEST(test_latin1_to_utf8)
{
    char out[16];
    size_t n = latin1_to_utf8("a\xE9\xFF\x80z", 5, out, sizeof(out));
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(memcmp(out, "a\xC3\xA9\xC3\xBF\xC2\x80z", 8), 0);
    /* never more than cap, and never half a character */
    memset(out, '#', sizeof(out));
    n = latin1_to_utf8("a\xE9", 2, out, 2);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(out[0], 'a');
    ck_assert_int_eq(out[1], '#');
    n = latin1_to_utf8("a\xE9", 2, out, 3);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(latin1_to_utf8("abc", 3, out, 0), 0);
    ck_assert_uint_eq(latin1_to_utf8("", 0, out, sizeof(out)), 0);
}
END_TEST

START_TEST(test_error_format_cap)
{
    struct point p;
    struct point_error err;
    static const char line[] = "put m 1 x a=b";
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, sizeof(line) - 1, &p, &err),
                     TS_ERROR);
    char out[64];
    memset(out, '#', sizeof(out));
    size_t n = point_error_format(&err, out, 30);
    ck_assert_uint_le(n, 30);
    ck_assert_int_eq(out[30], '#');
    ck_assert_int_eq(memcmp(out, "put: invalid value: Invalid c", n < 29 ? n : 29), 0);
    ck_assert_str_eq(point_cmd_name(CMD_PUT), "put");
    ck_assert_str_eq(point_cmd_name(CMD_ROLLUP), "rollup");
    ck_assert_str_eq(point_cmd_name(CMD_HISTOGRAM), "histogram");
}
END_TEST

static Suite *
point_suite(void)
{
    Suite *s = suite_create("point");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_table, 0, (int)TS_ARRAY_LEN(rows));
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_line_limit_exact);
    tcase_add_test(tc, test_line_limit_over);
    tcase_add_test(tc, test_line_limit_counts_canonical_form);
    tcase_add_test(tc, test_line_limit_rollup);
    tcase_add_test(tc, test_max_tags_config);
    tcase_add_test(tc, test_allowed_specials);
    tcase_add_test(tc, test_name_byte_class);
    tcase_add_test(tc, test_nul_byte_in_metric);
    tcase_add_test(tc, test_64_tags_full_map);
    tcase_add_test(tc, test_70_tags_full_map);
    suite_add_tcase(s, tc);

    tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_parsed_fields);
    tcase_add_test(tc, test_parse_long_direct);
    tcase_add_test(tc, test_parse_java_double_values);
    tcase_add_test(tc, test_javanum_verdicts);
    tcase_add_test(tc, test_line_hash);
    tcase_add_test(tc, test_latin1_to_utf8);
    tcase_add_test(tc, test_error_format_cap);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(point_suite)

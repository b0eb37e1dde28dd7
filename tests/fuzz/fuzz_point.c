/*
 * fuzz_point.c -- libFuzzer target for point.c, rollup.c and histogram.c:
 * the put/rollup/histogram grammar, the canonical line, and the Java
 * number parsers (javanum.c).
 *
 * Input: byte 0 selects what to fuzz, the rest is the text.
 *   bits 0-1: 0 put, 1 rollup, 2 histogram, 3 numbers (below)
 *   bit 2:    put read with implicit_put (framed text without "put ")
 *   bits 3-4: rules: max-tags 8 / 1 / 64 / 8 with allow-specialchars
 *
 * Lines: the text parsed by its command's rules.  Asserts:
 *   - accepted: the canonical line (point_format) has point_canonical_len
 *     bytes, at most 1025, ends in one "\n" and has no other (when the
 *     input had none: the decoders split on "\n" first), no double, leading
 *     or trailing space; it re-parses to the same bytes (idempotence), its
 *     tags are sorted and distinct, its timestamp and value are valid by
 *     references independent of point.c (Java long; strtod reads the float
 *     whole and finite), and point_line_hash(canonical) equals
 *     point_hash(point), point_output_hash and point_line_hash of the
 *     re-formatted line;
 *   - rejected: TS_ERROR, a known error kind, the message shorter than
 *     POINT_ERR_MAX and NUL-terminated, and point_error_format gives one
 *     line (no "\n" even when the input had one) of valid UTF-8 within its
 *     buffer;
 *   - implicit put: "put " + text parsed explicitly gives the same result
 *     (same canonical line, or the same error text).
 * Numbers: point_parse_long against an independent reference of Java's
 * Tags.parseLong (sign, <= 19 digits, overflow) with the same value;
 * javanum_parse_double: accepted text is also accepted whole by C's
 * strtod (suffix dropped) and gives the same double; json_format_double
 * of the input's first 8 bytes as a finite double reads back to the same
 * value, keeps a '.' or exponent and passes javanum_parse_double.
 */
#include "autoconf.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "input/json.h"
#include "base/javanum.h"
#include "base/point.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct point_rules rules[4];
static bool rules_ready;

static void
setup(void)
{
    if (rules_ready)
        return;
    point_rules_init(&rules[0], 8, NULL);
    point_rules_init(&rules[1], 1, NULL);
    point_rules_init(&rules[2], 64, NULL); /* the configured maximum */
    /* config forbids space, '=', "\n" and "\r" among the specials */
    point_rules_init(&rules[3], 8, "!#$%&*+,:;<>?@[]^{|}~\t\x01\x7f\xa9\xd7");
    rules_ready = true;
}

static void
check_error(const struct point_error *err, enum point_cmd cmd, bool input_has_nl)
{
    fuzz_check_point_error(err);
    FUZZ_CHECK(err->cmd == cmd);
    FUZZ_CHECK(err->msg[err->len] == '\0');
    static char buf[POINT_ERR_MAX * 2 + 64];
    size_t k = point_error_format(err, buf, sizeof(buf));
    FUZZ_CHECK(k < sizeof(buf));
    FUZZ_CHECK(fuzz_valid_utf8(buf, k));
    (void)input_has_nl; /* a reply is one line even then ("\n" is escaped) */
    FUZZ_CHECK(memchr(buf, '\n', k) == NULL);
}

static void
fuzz_numbers(const char *s, size_t n)
{
    struct point_error err;
    int64_t v = 0, rv = 0;
    int rc = point_parse_long(s, n, &v, &err);
    bool ref = fuzz_ref_parse_long(s, n, &rv);
    FUZZ_CHECK((rc == TS_OK) == ref);
    if (rc == TS_OK) {
        FUZZ_CHECK(v == rv);
    } else {
        FUZZ_CHECK(rc == TS_ERROR);
        FUZZ_CHECK(err.kind == PE_INVALID_VALUE);
        FUZZ_CHECK(err.len < POINT_ERR_MAX);
    }

    double d = 0;
    float f = 0;
    if (javanum_parse_double(s, n, &d, &f) == TS_OK) {
        /* trimmed as Java trims; under 1100 bytes the value is parsed */
        const char *t = s;
        size_t m = n;
        while (m > 0 && (unsigned char)*t <= ' ') {
            t++;
            m--;
        }
        while (m > 0 && (unsigned char)t[m - 1] <= ' ')
            m--;
        if (m < 1100) {
            char buf[1100];
            memcpy(buf, t, m);
            buf[m] = '\0';
            bool hex = strpbrk(buf, "xX") != NULL;
            char last = m > 0 ? buf[m - 1] : 0;
            if (m > 1 && (last == 'f' || last == 'F' || last == 'd' || last == 'D') &&
                (!hex || strpbrk(buf, "pP") != NULL))
                buf[--m] = '\0';
            FUZZ_CHECK(memchr(buf, '\0', m) == NULL);
            char *end = NULL;
            double c = strtod(buf, &end);
            FUZZ_CHECK(end == buf + m);
            FUZZ_CHECK((isnan(c) && isnan(d)) || c == d);
        }
    }

    if (n >= 8) {
        double x;
        memcpy(&x, s, 8);
        if (isfinite(x)) {
            char out[64];
            size_t k = json_format_double(x, out, sizeof(out));
            FUZZ_CHECK(k > 0 && k < sizeof(out));
            FUZZ_CHECK(out[k] == '\0');
            FUZZ_CHECK(strtod(out, NULL) == x);
            FUZZ_CHECK(strpbrk(out, ".eE") != NULL);
            double y;
            float g;
            FUZZ_CHECK(javanum_parse_double(out, k, &y, &g) == TS_OK);
            FUZZ_CHECK(y == x);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    setup();
    uint8_t sel = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    int mode = sel & 3;
    if (mode == 3) {
        fuzz_numbers(s, n);
        return 0;
    }
    enum point_cmd cmd = mode == 1 ? CMD_ROLLUP : mode == 2 ? CMD_HISTOGRAM : CMD_PUT;
    bool implicit = cmd == CMD_PUT && (sel & 4) != 0;
    const struct point_rules *r = &rules[(sel >> 3) & 3];
    bool has_nl = memchr(s, '\n', n) != NULL;

    static struct point p;
    static struct point_error err;
    static char out[POINT_LINE_MAX + 2];
    size_t olen = 0;
    memset(&err, 0, sizeof(err));
    int rc = pointline_parse(r, cmd, implicit, s, n, &p, &err);
    if (rc == TS_OK) {
        FUZZ_CHECK(p.cmd == cmd);
        olen = point_format(&p, out, sizeof(out));
        FUZZ_CHECK(olen > 0 && olen == point_canonical_len(&p));
        FUZZ_CHECK(point_hash(&p) == point_line_hash(out, olen));
        FUZZ_CHECK(point_output_hash(&p, out, olen) == point_line_hash(out, olen));
        fuzz_check_point_fields(&p);
        fuzz_check_canonical_ex(r, out, olen, has_nl);
    } else {
        FUZZ_CHECK(rc == TS_ERROR);
        check_error(&err, cmd, has_nl);
    }

    if (implicit && n + 4 <= 8192) {
        /* the framed shortcut means exactly "put " + line */
        static char full[8192 + 4];
        memcpy(full, "put ", 4);
        memcpy(full + 4, s, n);
        static struct point p2;
        static struct point_error err2;
        int rc2 = point_parse_line(r, CMD_PUT, false, full, n + 4, &p2, &err2);
        FUZZ_CHECK(rc2 == rc);
        if (rc == TS_OK) {
            static char out2[POINT_LINE_MAX + 2];
            size_t olen2 = point_format(&p2, out2, sizeof(out2));
            FUZZ_CHECK(olen2 == olen && memcmp(out, out2, olen) == 0);
        } else {
            FUZZ_CHECK(err2.kind == err.kind);
            /* "not enough arguments" counts the words it saw: same count */
            FUZZ_CHECK(err2.len == err.len && memcmp(err2.msg, err.msg, err.len) == 0);
        }
    }
    return 0;
}

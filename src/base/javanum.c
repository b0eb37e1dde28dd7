/*
 * javanum.c -- numbers as Java reads them, for the TSD's grammar.
 *
 * Long.parseLong (the TSD's timestamps and integer values), Integer.parseInt
 * (histogram codec ids) and FloatingDecimal.readJavaFormatString (float
 * values) of the JDK the TSD runs on, as verdicts: point.c turns them into
 * the TSD's messages.  Works on the caller's bytes; it must never allocate.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "base/javanum.h"
#include "base/util.h"

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_suffix(char c)
{
    return c == 'f' || c == 'F' || c == 'd' || c == 'D';
}

enum javanum_long
javanum_parse_long(const char *s, size_t n, int64_t *out, size_t *bad)
{
    if (n == 0)
        return JLONG_EMPTY;
    size_t i = 0;
    if (s[0] == '+' || s[0] == '-') {
        if (n == 1)
            return JLONG_SIGN_ONLY;
        if (n > 20)
            return JLONG_TOO_LONG;
        i = 1;
    } else if (n > 19) {
        return JLONG_TOO_LONG;
    }
    uint64_t x = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) {
            *bad = i;
            return JLONG_BAD_CHAR;
        }
        x = x * 10 + (uint64_t)(s[i] - '0'); /* <= 19 digits: no overflow */
    }
    /* Java accumulates -x in a wrapping long and fails when it turns
     * positive, or when a positive result would be Long.MIN_VALUE. */
    int64_t v = (int64_t)(0 - x);
    if (v > 0 || (s[0] != '-' && x == (uint64_t)1 << 63))
        return JLONG_OVERFLOW;
    *out = s[0] == '-' ? v : -v;
    return JLONG_OK;
}

bool
javanum_is_int(const char *s, size_t n)
{
    int32_t unused;
    return javanum_parse_int(s, n, &unused);
}

bool
javanum_parse_int(const char *s, size_t n, int32_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t x = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
        if (x > (uint64_t)INT32_MAX + 1)
            return false;
    }
    if (!neg && x > (uint64_t)INT32_MAX)
        return false;
    *out = neg ? (int32_t)(0 - (int64_t)x) : (int32_t)x;
    return true;
}

/* An exponent's value after its letter: an optional sign, then at least
 * one digit; *i moves past them.  false when there is no digit. */
static bool
exponent_digits(const char *s, size_t *i, size_t n)
{
    if (*i < n && (s[*i] == '+' || s[*i] == '-'))
        (*i)++;
    size_t d = 0;
    while (*i < n && is_digit(s[*i])) { (*i)++; d++; }
    return d > 0;
}

/* A hex float after its "0x": ((H+\.?)|(H*\.H+))[pP]([-+])?D+[fFdD]? to
 * the end of the string. */
static enum javanum_double
hex_grammar(const char *s, size_t i, size_t n)
{
    size_t h1 = 0, h2 = 0;
    while (i < n && is_hex(s[i])) { i++; h1++; }
    bool dot = false;
    if (i < n && s[i] == '.') {
        dot = true;
        i++;
        while (i < n && is_hex(s[i])) { i++; h2++; }
    }
    if (dot ? (h1 == 0 && h2 == 0) : h1 == 0)
        return JDOUBLE_NOT_A_NUMBER;
    if (i >= n || (s[i] != 'p' && s[i] != 'P'))
        return JDOUBLE_NOT_A_NUMBER;
    i++;
    if (!exponent_digits(s, &i, n))
        return JDOUBLE_NOT_A_NUMBER;
    if (i < n && is_suffix(s[i]))
        i++;
    return i == n ? JDOUBLE_OK : JDOUBLE_NOT_A_NUMBER;
}

/* A decimal float after its sign: digits with at most one '.', an
 * optional exponent, an optional type suffix, nothing after. */
static enum javanum_double
decimal_grammar(const char *s, size_t i, size_t n)
{
    size_t digits = 0;
    bool dot = false;
    for (; i < n; i++) {
        if (is_digit(s[i])) {
            digits++;
        } else if (s[i] == '.') {
            if (dot)
                return JDOUBLE_MULTIPLE_POINTS;
            dot = true;
        } else {
            break;
        }
    }
    if (digits == 0)
        return JDOUBLE_NOT_A_NUMBER;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (!exponent_digits(s, &i, n))
            return JDOUBLE_NOT_A_NUMBER;
    }
    if (i < n && (i != n - 1 || !is_suffix(s[i])))
        return JDOUBLE_NOT_A_NUMBER;
    return JDOUBLE_OK;
}

/* FloatingDecimal.readJavaFormatString's grammar on the trimmed string. */
static enum javanum_double
double_grammar(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return JDOUBLE_NOT_A_NUMBER;
    if (s[i] == '+' || s[i] == '-')
        i++;
    if (i < n && s[i] == 'N')
        return (n - i == 3 && memcmp(s + i, "NaN", 3) == 0) ? JDOUBLE_OK : JDOUBLE_NOT_A_NUMBER;
    if (i < n && s[i] == 'I')
        return (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0) ? JDOUBLE_OK
                                                                  : JDOUBLE_NOT_A_NUMBER;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        return hex_grammar(s, i + 2, n);
    return decimal_grammar(s, i, n);
}

enum javanum_double
javanum_double_grammar(const char **s, size_t *n)
{
    while (*n > 0 && (unsigned char)**s <= ' ') {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && (unsigned char)(*s)[*n - 1] <= ' ')
        (*n)--;
    return double_grammar(*s, *n);
}

int
javanum_parse_double(const char *s, size_t n, double *d, float *f)
{
    if (javanum_double_grammar(&s, &n) != JDOUBLE_OK)
        return TS_ERROR;
    char buf[1100];
    if (n >= sizeof(buf)) {
        /* too long to carry on a 1024-byte line anyway; call it finite */
        *d = 1.0;
        *f = 1.0f;
        return TS_OK;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* drop a trailing type suffix (f/F/d/D); for hex floats it can only
     * follow the binary exponent, so a final hex digit is never dropped */
    bool hex = strpbrk(buf, "xX") != NULL;
    if (n > 1 && is_suffix(buf[n - 1]) && (!hex || strpbrk(buf, "pP") != NULL))
        buf[n - 1] = '\0';
    *d = strtod(buf, NULL);
    *f = strtof(buf, NULL);
    return TS_OK;
}

bool
javanum_may_overflow(const char *s, size_t n)
{
    size_t int_digits = 0, i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        return true;
    while (i < n && s[i] == '0')
        i++;
    while (i < n && is_digit(s[i])) {
        i++;
        int_digits++;
    }
    while (i < n && (is_digit(s[i]) || s[i] == '.'))
        i++;
    long e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool neg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        while (i < n && is_digit(s[i]) && e < 100000)
            e = e * 10 + (s[i++] - '0');
        if (neg)
            e = -e;
    }
    return (long)int_digits + e > 300;
}

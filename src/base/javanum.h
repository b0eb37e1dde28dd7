/*
 * javanum.h -- numbers as Java reads them, for the TSD's grammar.
 *
 * Owns what the TSD's number parsers accept and reject, byte for byte:
 * Long.parseLong as Tags.parseLong calls it, Integer.parseInt, and
 * Double.parseDouble (FloatingDecimal.readJavaFormatString), with the
 * reason for a rejection -- never its message: point.c words the TSD's
 * replies.  Pure functions of the caller's bytes; it must never allocate
 * or keep a pointer past the call.
 */
#ifndef TS_JAVANUM_H
#define TS_JAVANUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why Long.parseLong refused a string. */
enum javanum_long {
    JLONG_OK = 0,
    JLONG_EMPTY,        /* "" */
    JLONG_SIGN_ONLY,    /* "+" or "-" alone */
    JLONG_TOO_LONG,     /* more characters than a long can have */
    JLONG_BAD_CHAR,     /* a byte that is not a digit (at *bad) */
    JLONG_OVERFLOW,     /* digits past the range of a long */
};

/* Why Double.parseDouble refused a string. */
enum javanum_double {
    JDOUBLE_OK = 0,
    JDOUBLE_NOT_A_NUMBER,     /* "For input string" */
    JDOUBLE_MULTIPLE_POINTS,  /* a second '.' */
};

/* Long.parseLong, radix 10: *out is set only on JLONG_OK, *bad (the index
 * of the offending byte) only on JLONG_BAD_CHAR. */
enum javanum_long javanum_parse_long(const char *s, size_t n, int64_t *out, size_t *bad);

/* Integer.parseInt: true with the value in *out (a histogram's codec id). */
bool javanum_parse_int(const char *s, size_t n, int32_t *out);
/* Does Integer.parseInt accept it? */
bool javanum_is_int(const char *s, size_t n);

/* Double.parseDouble's grammar: trims *s and *n as String.trim does (bytes
 * <= 0x20 at both ends), then checks what is left. */
enum javanum_double javanum_double_grammar(const char **s, size_t *n);

/* Double.parseDouble: the grammar, then the value as a double and as a
 * float.  TS_OK, or TS_ERROR (d and f untouched). */
int javanum_parse_double(const char *s, size_t n, double *d, float *f);

/* Could this trimmed, grammatical double overflow to infinity?  Only with
 * a large decimal exponent, very many integer digits, or a hex float; a
 * false answer is certain, a true one needs the conversion to tell. */
bool javanum_may_overflow(const char *s, size_t n);

#endif

/*
 * pattern.c -- a rule's regular expression: PCRE2, compiled once, on bytes.
 *
 * Compiled with PCRE2_NEVER_UTF (a (*UTF) in the file cannot turn bytes
 * into code points) and JIT-compiled when PCRE2 can; a pattern that JIT
 * refuses runs in the interpreter.  The literal shortcuts read the
 * pattern's text as PCRE2 does for the characters they accept (letters,
 * digits and any byte that is not a metacharacter, "\" + a punctuation
 * character) and give up at anything else, so they answer exactly what
 * the regex would: subjects are metrics and tag values, which never hold
 * a newline (the TSD refuses it), so "$" is their end.  The group proof
 * reads the nesting of parentheses (classes, escapes, \Q..\E skipped)
 * and gives up at every construct it does not model.  Matching never
 * allocates; compiling does, once per configuration.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/pattern.h"

#define PATTERN_OPTIONS (PCRE2_NEVER_UTF | PCRE2_NEVER_UCP)

/* ---- literal shortcuts ------------------------------------------------- */

static bool
pattern_is_meta(char c)
{
    return c == '\0' || strchr("\\^$.[|()?*+{", c) != NULL;
}

/* The literal a pattern "^lit..." requires at the start of a subject:
 * its bytes in p->lit, and how far the pattern text went. */
static size_t
pattern_prefix(struct pattern *p, const char *s, size_t n)
{
    size_t i = 1;
    p->lit_len = 0;
    while (i < n && p->lit_len < sizeof(p->lit)) {
        char c = s[i];
        size_t adv = 1;
        if (c == '\\') {
            unsigned char d = i + 1 < n ? (unsigned char)s[i + 1] : 0;
            if (d == 0 || isalnum(d) || d >= 0x80)
                break; /* an escape with a meaning of its own */
            c = (char)d;
            adv = 2;
        } else if (pattern_is_meta(c)) {
            break;
        }
        if (i + adv < n && strchr("?*+{", s[i + adv]) != NULL)
            break; /* quantified: not required */
        p->lit[p->lit_len++] = c;
        i += adv;
    }
    return i;
}

static void
pattern_classify(struct pattern *p, const char *s, size_t n)
{
    p->kind = n == 0 ? PAT_ANY : PAT_REGEX;
    p->lit_len = 0;
    if (n == 0 || s[0] != '^' || memchr(s, '|', n) != NULL)
        return;
    size_t end = pattern_prefix(p, s, n);
    if (p->lit_len == 0)
        return;
    if (end == n)
        p->kind = PAT_PREFIX;
    else if (end == n - 1 && s[end] == '$')
        p->kind = PAT_EXACT;
    else
        p->kind = PAT_PREFIX_REGEX;
}

/* ---- compiling --------------------------------------------------------- */

int
pattern_compile(struct pattern *p, const char *src, size_t len, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    pattern_classify(p, src, len);
    if (p->kind == PAT_ANY)
        return TS_OK;
    int code;
    PCRE2_SIZE off;
    p->code = pcre2_compile((PCRE2_SPTR)src, len, PATTERN_OPTIONS, &code, &off, NULL);
    if (p->code == NULL) {
        char msg[256];
        if (pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg)) < 0)
            snprintf(msg, sizeof(msg), "error %d", code);
        snprintf(err, errlen, "%s at offset %zu", msg, (size_t)off);
        return TS_ERROR;
    }
    p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
    (void)pcre2_pattern_info(p->code, PCRE2_INFO_CAPTURECOUNT, &p->captures);
    return TS_OK;
}

void
pattern_free(struct pattern *p)
{
    pcre2_code_free(p->code);
    p->code = NULL;
}

int
pattern_ctx_init(struct pattern_ctx *c, uint32_t max_captures, uint64_t match_limit)
{
    memset(c, 0, sizeof(*c));
    c->md = pcre2_match_data_create(max_captures + 1, NULL);
    c->mc = pcre2_match_context_create(NULL);
    /* a fixed JIT stack: deep patterns fail (counted), they never grow it */
    c->stack = pcre2_jit_stack_create(32 * 1024, 256 * 1024, NULL);
    if (c->md == NULL || c->mc == NULL || c->stack == NULL) {
        pattern_ctx_free(c);
        return TS_ERROR;
    }
    uint32_t lim = match_limit > UINT32_MAX ? UINT32_MAX : (uint32_t)match_limit;
    pcre2_set_match_limit(c->mc, lim);
    pcre2_set_depth_limit(c->mc, lim);
    pcre2_jit_stack_assign(c->mc, NULL, c->stack);
    return TS_OK;
}

void
pattern_ctx_free(struct pattern_ctx *c)
{
    pcre2_match_data_free(c->md);
    pcre2_match_context_free(c->mc);
    pcre2_jit_stack_free(c->stack);
    memset(c, 0, sizeof(*c));
}

/* ---- matching ---------------------------------------------------------- */

static inline bool
pattern_has_prefix(const struct pattern *p, const char *s, size_t n)
{
    return n >= p->lit_len && memcmp(s, p->lit, p->lit_len) == 0;
}

int
pattern_match(const struct pattern *p, struct pattern_ctx *c, const char *s, size_t n)
{
    c->groups = 0; /* a shortcut sets none */
    switch (p->kind) {
    case PAT_ANY:
        return 1;
    case PAT_EXACT:
        return n == p->lit_len && memcmp(s, p->lit, n) == 0;
    case PAT_PREFIX:
        return pattern_has_prefix(p, s, n);
    case PAT_PREFIX_REGEX:
        if (!pattern_has_prefix(p, s, n))
            return 0;
        break;
    case PAT_REGEX:
        break;
    }
    int rc = p->jit ? pcre2_jit_match(p->code, (PCRE2_SPTR)s, n, 0, 0, c->md, c->mc)
                    : pcre2_match(p->code, (PCRE2_SPTR)s, n, 0, 0, c->md, c->mc);
    c->groups = rc > 0 ? rc : 0;
    if (rc > 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    TS_ASSERT(rc != 0); /* the match data holds every group of every pattern */
    return -1;
}

void
pattern_group(const struct pattern_ctx *c, const char *s, uint32_t k, const char **out, size_t *n)
{
    *out = s;
    *n = 0;
    if (k >= (uint32_t)c->groups) /* past the last group the match set: unset */
        return;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
    if (ov[2 * k] == PCRE2_UNSET || ov[2 * k + 1] < ov[2 * k])
        return;
    *out = s + ov[2 * k];
    *n = ov[2 * k + 1] - ov[2 * k];
}

/* ---- the proof that a group is never empty ----------------------------- */

#define PROOF_FRAMES 128

struct proof_frame {
    int parent;
    uint32_t cap;         /* its group number, 0: not a capture */
    bool look;            /* a lookaround: its groups may not take part */
    bool alt;             /* a '|' at its own level */
    bool optional;        /* quantified with a minimum of 0 */
    size_t body;          /* where its body starts */
    size_t close;         /* its ')' */
};

struct proof {
    const char *s;
    size_t n;
    struct proof_frame f[PROOF_FRAMES];
    int nf;
    uint32_t ncap;
};

enum open_kind { OPEN_CAPTURE, OPEN_GROUP, OPEN_LOOK, OPEN_SKIP, OPEN_UNKNOWN };

/* After "(?": option letters, then ')' (a setting: skipped) or ':' (a
 * group).  Only options that change neither how the pattern reads (x)
 * nor which groups capture (n) are known. */
static enum open_kind
pattern_proof_options(const char *s, size_t n, size_t i, size_t *next)
{
    size_t j = i + 2;
    while (j < n && s[j] != '\0' && strchr("imsJU^-", s[j]) != NULL)
        j++;
    if (j < n && (s[j] == ')' || s[j] == ':')) {
        *next = j + 1;
        return s[j] == ')' ? OPEN_SKIP : OPEN_GROUP;
    }
    return OPEN_UNKNOWN;
}

/* A named group "(?<name>", "(?'name'" or "(?P<name>": its body's start. */
static enum open_kind
pattern_proof_named(const char *s, size_t n, size_t from, char close, size_t *next)
{
    const char *e = memchr(s + from, close, n - from);
    if (e == NULL)
        return OPEN_UNKNOWN;
    *next = (size_t)(e - s) + 1;
    return OPEN_CAPTURE;
}

/* What opens at s[i] == '(' and where its body starts. */
static enum open_kind
pattern_proof_open(const char *s, size_t n, size_t i, size_t *next)
{
    char a = i + 1 < n ? s[i + 1] : 0, b = i + 2 < n ? s[i + 2] : 0;
    char c = i + 3 < n ? s[i + 3] : 0;
    *next = i + 1;
    if (a == '*')
        return OPEN_UNKNOWN; /* verbs, (*positive_lookahead: ...) */
    if (a != '?')
        return OPEN_CAPTURE;
    *next = i + 3;
    if (b == ':' || b == '>')
        return OPEN_GROUP;
    if (b == '=' || b == '!')
        return OPEN_LOOK;
    if (b == '<' && (c == '=' || c == '!')) {
        *next = i + 4;
        return OPEN_LOOK;
    }
    if (b == '<' || b == '\'')
        return pattern_proof_named(s, n, i + 3, b == '<' ? '>' : '\'', next);
    if (b == 'P' && c == '<')
        return pattern_proof_named(s, n, i + 4, '>', next);
    if (b == '#') {
        const char *e = memchr(s + i, ')', n - i);
        *next = e ? (size_t)(e - s) + 1 : n;
        return OPEN_SKIP;
    }
    return pattern_proof_options(s, n, i, next);
}

/* Past a character class starting at s[i] == '['. */
static size_t
pattern_proof_class(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    if (j < n && s[j] == '^')
        j++;
    if (j < n && s[j] == ']')
        j++;
    while (j < n) {
        if (s[j] == '\\') {
            j += 2;
        } else if (s[j] == '[' && j + 1 < n && s[j + 1] == ':') {
            const char *e = memmem(s + j + 2, n - j - 2, ":]", 2);
            j = e ? (size_t)(e - s) + 2 : n;
        } else if (s[j] == ']') {
            return j + 1;
        } else {
            j++;
        }
    }
    return n;
}

/* Past an escape at s[i] == '\\' (\Q...\E whole). */
static size_t
pattern_proof_escape(const char *s, size_t n, size_t i)
{
    if (i + 1 < n && s[i + 1] == 'Q') {
        for (size_t j = i + 2; j + 1 < n; j++)
            if (s[j] == '\\' && s[j + 1] == 'E')
                return j + 2;
        return n;
    }
    return i + 2;
}

/* Whether a quantifier at s[i] lets the atom before it match 0 times. */
static bool
pattern_proof_min_zero(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return false;
    if (s[i] == '?' || s[i] == '*')
        return true;
    if (s[i] != '{')
        return false;
    size_t j = i + 1;
    while (j < n && s[j] == ' ')
        j++;
    return j >= n || s[j] == ',' ||
           (s[j] == '0' && (j + 1 >= n || !isdigit((unsigned char)s[j + 1])));
}

/* The nesting of the pattern's parentheses; false at what it does not read. */
static bool
pattern_proof_scan(struct proof *pf)
{
    const char *s = pf->s;
    size_t n = pf->n, i = 0;
    int cur = 0;
    pf->nf = 1;
    memset(&pf->f[0], 0, sizeof(pf->f[0]));
    pf->f[0].parent = -1;
    while (i < n) {
        if (s[i] == '\\') {
            i = pattern_proof_escape(s, n, i);
        } else if (s[i] == '[') {
            i = pattern_proof_class(s, n, i);
        } else if (s[i] == '|') {
            pf->f[cur].alt = true;
            i++;
        } else if (s[i] == ')') {
            if (cur == 0)
                return false;
            pf->f[cur].close = i;
            pf->f[cur].optional = pattern_proof_min_zero(s, n, i + 1);
            cur = pf->f[cur].parent;
            i++;
        } else if (s[i] == '(') {
            size_t next;
            enum open_kind k = pattern_proof_open(s, n, i, &next);
            if (k == OPEN_UNKNOWN || pf->nf == PROOF_FRAMES)
                return false;
            if (k != OPEN_SKIP) {
                struct proof_frame *f = &pf->f[pf->nf];
                memset(f, 0, sizeof(*f));
                f->parent = cur;
                f->cap = k == OPEN_CAPTURE ? ++pf->ncap : 0;
                f->look = k == OPEN_LOOK;
                f->body = next;
                cur = pf->nf++;
            }
            i = next;
        } else {
            i++;
        }
    }
    return cur == 0;
}

bool
pattern_group_nonempty(const char *src, size_t len, uint32_t k)
{
    static struct proof pf; /* configuration loads are serial */
    memset(&pf, 0, sizeof(pf));
    pf.s = src;
    pf.n = len;
    if (k == 0 || !pattern_proof_scan(&pf))
        return false;
    int g = 1;
    while (g < pf.nf && pf.f[g].cap != k)
        g++;
    if (g == pf.nf)
        return false;
    const struct proof_frame *me = &pf.f[g];
    /* it and every group around it take part in every match */
    for (int a = g; a > 0; a = pf.f[a].parent)
        if (pf.f[a].optional || pf.f[a].look || (a != g && pf.f[a].alt))
            return false;
    if (pf.f[0].alt)
        return false;
    /* its body alone never matches fewer than one byte */
    int code;
    PCRE2_SIZE off;
    pcre2_code *body = pcre2_compile((PCRE2_SPTR)src + me->body, me->close - me->body,
                                     PATTERN_OPTIONS, &code, &off, NULL);
    if (body == NULL)
        return false; /* e.g. it refers to another group: not proved */
    uint32_t min = 0;
    bool ok = pcre2_pattern_info(body, PCRE2_INFO_MINLENGTH, &min) == 0 && min >= 1;
    pcre2_code_free(body);
    return ok;
}

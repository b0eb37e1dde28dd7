/*
 * rulecfg.c -- the [group NAME] and [rule NAME] sections of the
 * configuration, as plain data.
 *
 * config.c hands over each header and key of these sections; values are
 * kept as written, in the configuration's own text arena, with the line
 * of each key; lists (backends, tags, keys, to) are split on commas.
 * rulecfg_validate then checks what needs the whole file.  Every error
 * reads "FILE:LINE: [group|rule NAME] key: reason".  Patterns are only
 * stored: compiling them is core/rules.c's.  It must never allocate.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/rulecfg.h"
#include "base/util.h"

static const char *const action_names[] = {
    "", "drop", "rewrite", "set-tags", "drop-tags", "keep-tags", "send", NULL,
};
static const char *const route_names[] = { "hash", "roundrobin", "failover", "all", NULL };

const char *
rulecfg_action_name(enum rule_action a)
{
    return a >= RULE_NONE && a <= RULE_SEND ? action_names[a] : "?";
}

/* ---- errors ------------------------------------------------------------ */

static int rulecfg_fail(const struct rulecfg_err *e, int line, const char *kind,
                        const char *name, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* "FILE:LINE: [kind name] key: reason"; key may be NULL.  TS_ERROR. */
static int
rulecfg_fail(const struct rulecfg_err *e, int line, const char *kind, const char *name,
             const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rulecfg_vfail(e, line, kind, name, key, fmt, ap);
    va_end(ap);
    return TS_ERROR;
}

int
rulecfg_vfail(const struct rulecfg_err *e, int line, const char *kind, const char *name,
              const char *key, const char *fmt, va_list ap)
{
    int n = snprintf(e->buf, e->len, "%s:%d: [%s%s%s]%s%s: ", e->file, line, kind,
                     name[0] ? " " : "", name, key ? " " : "", key ? key : "");
    if (n >= 0 && (size_t)n < e->len)
        vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
    return TS_ERROR;
}

/* ---- text -------------------------------------------------------------- */

static int
rulecfg_text(struct cfg_rules *rc, const char *s, size_t n, struct cfg_text *out)
{
    if (n + 1 > sizeof(rc->text) - rc->text_len)
        return TS_ERROR;
    memcpy(rc->text + rc->text_len, s, n);
    rc->text[rc->text_len + n] = '\0';
    out->off = (uint32_t)rc->text_len;
    out->len = (uint32_t)n;
    rc->text_len += n + 1;
    return TS_OK;
}

static bool
rulecfg_valid_name(const char *s, size_t n)
{
    if (n == 0 || n >= CFG_RULE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static const char *
rulecfg_trim(const char *s, size_t *n)
{
    while (*n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        (*n)--;
    }
    while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* ---- headers ----------------------------------------------------------- */

static struct cfg_group *
rulecfg_cur_group(struct cfg_rules *rc)
{
    return rc->cur_kind == 'g' ? &rc->groups[rc->ngroups - 1] : NULL;
}

static struct cfg_rule *
rulecfg_cur_rule(struct cfg_rules *rc)
{
    return rc->cur_kind == 'r' ? &rc->rules[rc->nrules - 1] : NULL;
}

int
rulecfg_group_index(const struct cfg_rules *rc, const char *name)
{
    for (int i = 0; i < rc->ngroups; i++)
        if (strcmp(rc->groups[i].name, name) == 0)
            return i;
    return -1;
}

static int
rulecfg_rule_index(const struct cfg_rules *rc, const char *name)
{
    for (int i = 0; i < rc->nrules; i++)
        if (strcmp(rc->rules[i].name, name) == 0)
            return i;
    return -1;
}

static int
rulecfg_new_group(struct cfg_rules *rc, const char *name, int line, const struct rulecfg_err *e)
{
    int dup = rulecfg_group_index(rc, name);
    if (dup >= 0)
        return rulecfg_fail(e, line, "group", name, NULL,
                            "group '%s' is defined twice (first at line %d)", name,
                            rc->groups[dup].line);
    if (rc->ngroups == CFG_MAX_GROUPS)
        return rulecfg_fail(e, line, "group", name, NULL, "more than %d groups",
                            CFG_MAX_GROUPS);
    struct cfg_group *g = &rc->groups[rc->ngroups++];
    memset(g, 0, sizeof(*g));
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->line = line;
    rc->cur_kind = 'g';
    return TS_OK;
}

static int
rulecfg_new_rule(struct cfg_rules *rc, const char *name, int line, const struct rulecfg_err *e)
{
    int dup = rulecfg_rule_index(rc, name);
    if (dup >= 0)
        return rulecfg_fail(e, line, "rule", name, NULL,
                            "rule '%s' is defined twice (first at line %d)", name,
                            rc->rules[dup].line);
    if (rc->nrules == CFG_MAX_RULES)
        return rulecfg_fail(e, line, "rule", name, NULL, "more than %d rules", CFG_MAX_RULES);
    struct cfg_rule *r = &rc->rules[rc->nrules++];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->line = line;
    rc->cur_kind = 'r';
    return TS_OK;
}

int
rulecfg_header(struct cfg_rules *rc, const char *sect, int line, const struct rulecfg_err *e,
               int *result)
{
    rc->cur_kind = 0;
    const char *kind = strncmp(sect, "group", 5) == 0 ? "group"
                       : strncmp(sect, "rule", 4) == 0 ? "rule" : NULL;
    if (kind == NULL)
        return 0;
    size_t kl = strlen(kind);
    if (sect[kl] != ' ' && sect[kl] != '\t')
        return 0;
    size_t n = strlen(sect + kl);
    const char *name = rulecfg_trim(sect + kl, &n);
    if (!rulecfg_valid_name(name, n)) {
        *result = rulecfg_fail(e, line, sect, "", NULL, "%s name '%.*s' must be 1-%d of "
                               "[A-Za-z0-9._-]", kind, (int)n, name, CFG_RULE_NAME_MAX - 1);
        return 1;
    }
    char nm[CFG_RULE_NAME_MAX];
    memcpy(nm, name, n);
    nm[n] = '\0';
    *result = kind[0] == 'g' ? rulecfg_new_group(rc, nm, line, e)
                             : rulecfg_new_rule(rc, nm, line, e);
    return 1;
}

/* ---- keys -------------------------------------------------------------- */

/* Splits a comma list into pairs; with eq, each entry is a=b (split at
 * its first '='), else a alone.  TS_OK, or TS_ERROR with why set. */
static int
rulecfg_split_list(struct cfg_rules *rc, const char *value, bool eq, struct cfg_pair *out, int cap,
                   int *count, const char **why)
{
    int n = 0;
    const char *p = value;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *item = rulecfg_trim(p, &len);
        if (len == 0)
            return *why = "an empty entry (entries are separated by commas)", TS_ERROR;
        if (n == cap)
            return *why = "too many entries", TS_ERROR;
        const char *sep = eq ? memchr(item, '=', len) : NULL;
        if (eq && (sep == NULL || sep == item || sep == item + len - 1))
            return *why = "an entry is not key=value", TS_ERROR;
        size_t alen = sep ? (size_t)(sep - item) : len;
        memset(&out[n], 0, sizeof(out[n]));
        if (rulecfg_text(rc, item, alen, &out[n].a) != TS_OK ||
            (sep && rulecfg_text(rc, sep + 1, len - alen - 1, &out[n].b) != TS_OK))
            return *why = "the rules' text is over its bound (64K)", TS_ERROR;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *count = n;
    return TS_OK;
}

static int
rulecfg_pick(const char *const *names, const char *value)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcasecmp(names[i], value) == 0)
            return i;
    return -1;
}

static int
rulecfg_set_group_key(struct cfg_rules *rc, struct cfg_group *g, const char *name,
                      const char *value, int line, const struct rulecfg_err *e)
{
    if (strcmp(name, "routing") == 0) {
        int r = rulecfg_pick(route_names, value);
        if (r < 0)
            return rulecfg_fail(e, line, "group", g->name, name,
                                "'%s' is not one of: hash, roundrobin, failover, all", value);
        g->routing = r;
        g->routing_line = line;
        return TS_OK;
    }
    TS_ASSERT(strcmp(name, "backends") == 0); /* config.c's table knows the names */
    struct cfg_pair items[CFG_GROUP_MEMBERS];
    const char *why = NULL;
    if (rulecfg_split_list(rc, value, false, items, CFG_GROUP_MEMBERS, &g->nmembers, &why) != TS_OK)
        return rulecfg_fail(e, line, "group", g->name, name, "%s", why);
    for (int i = 0; i < g->nmembers; i++)
        g->members[i] = items[i].a;
    g->backends_line = line;
    return TS_OK;
}

/* tags, keys, to: one list per rule, for its action. */
static int
rulecfg_set_rule_list(struct cfg_rules *rc, struct cfg_rule *r, const char *name, const char *value,
                      int line, const struct rulecfg_err *e)
{
    if (r->items_key[0] != '\0' && strcmp(r->items_key, name) != 0)
        return rulecfg_fail(e, line, "rule", r->name, name,
                            "a rule has one list: '%s' was given at line %d", r->items_key,
                            r->items_line);
    const char *why = NULL;
    if (rulecfg_split_list(rc, value, strcmp(name, "tags") == 0, r->items, CFG_RULE_ITEMS,
                           &r->nitems, &why) != TS_OK)
        return rulecfg_fail(e, line, "rule", r->name, name, "%s", why);
    snprintf(r->items_key, sizeof(r->items_key), "%s", name);
    r->items_line = line;
    return TS_OK;
}

static int
rulecfg_set_rule_tag(struct cfg_rules *rc, struct cfg_rule *r, const char *value, int line,
                     const struct rulecfg_err *e)
{
    const char *eq = strchr(value, '=');
    if (eq == NULL || eq == value)
        return rulecfg_fail(e, line, "rule", r->name, "tag",
                            "'%s' is not KEY=REGEX (e.g. tag = host=^web)", value);
    if (r->ntags == CFG_RULE_TAGS)
        return rulecfg_fail(e, line, "rule", r->name, "tag", "more than %d tag conditions",
                            CFG_RULE_TAGS);
    size_t kl = (size_t)(eq - value);
    const char *k = rulecfg_trim(value, &kl);
    struct cfg_pair *t = &r->tags[r->ntags];
    if (rulecfg_text(rc, k, kl, &t->a) != TS_OK ||
        rulecfg_text(rc, eq + 1, strlen(eq + 1), &t->b) != TS_OK)
        return rulecfg_fail(e, line, "rule", r->name, "tag",
                            "the rules' text is over its bound (64K)");
    r->tag_line[r->ntags++] = line;
    return TS_OK;
}

static int
rulecfg_set_rule_key(struct cfg_rules *rc, struct cfg_rule *r, const char *name, const char *value,
                     int line, const struct rulecfg_err *e)
{
    if (strcmp(name, "match") == 0 || strcmp(name, "metric") == 0) {
        bool m = name[1] == 'a';
        if (rulecfg_text(rc, value, strlen(value), m ? &r->match : &r->metric) != TS_OK)
            return rulecfg_fail(e, line, "rule", r->name, name,
                                "the rules' text is over its bound (64K)");
        *(m ? &r->match_line : &r->metric_line) = line;
        return TS_OK;
    }
    if (strcmp(name, "tag") == 0)
        return rulecfg_set_rule_tag(rc, r, value, line, e);
    if (strcmp(name, "action") == 0) {
        int a = rulecfg_pick(action_names + 1, value);
        if (a < 0)
            return rulecfg_fail(e, line, "rule", r->name, name, "'%s' is not one of: drop, "
                                "rewrite, set-tags, drop-tags, keep-tags, send", value);
        r->action = (enum rule_action)(a + 1);
        r->action_line = line;
        return TS_OK;
    }
    if (strcmp(name, "stop") == 0) {
        static const char *const yn[] = { "no", "yes", NULL };
        int s = rulecfg_pick(yn, value);
        if (s < 0)
            return rulecfg_fail(e, line, "rule", r->name, name, "'%s' is not yes or no", value);
        r->stop = s == 1;
        r->stop_line = line;
        return TS_OK;
    }
    TS_ASSERT(strcmp(name, "tags") == 0 || strcmp(name, "keys") == 0 || strcmp(name, "to") == 0);
    return rulecfg_set_rule_list(rc, r, name, value, line, e);
}

int
rulecfg_set(struct cfg_rules *rc, const char *name, const char *value, int line,
            const struct rulecfg_err *e)
{
    struct cfg_group *g = rulecfg_cur_group(rc);
    if (g != NULL)
        return rulecfg_set_group_key(rc, g, name, value, line, e);
    struct cfg_rule *r = rulecfg_cur_rule(rc);
    TS_ASSERT(r != NULL); /* config.c calls only within these sections */
    if (r == NULL)
        return TS_ERROR;
    return rulecfg_set_rule_key(rc, r, name, value, line, e);
}

/* ---- the whole file ------------------------------------------------------ */

static int
rulecfg_bad_byte(const uint8_t *name_ok, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!name_ok[(unsigned char)s[i]])
            return (int)i;
    return -1;
}

static int
rulecfg_check_groups(struct cfg_rules *rc, const char *const *backends, const int *backend_lines,
                     int nbackends, const struct rulecfg_err *e)
{
    bool used[CFG_GROUP_MEMBERS] = { false };
    for (int i = 0; i < rc->ngroups; i++) {
        struct cfg_group *g = &rc->groups[i];
        if (g->nmembers == 0)
            return rulecfg_fail(e, g->line, "group", g->name, "backends",
                                "missing (e.g. backends = tsd1, tsd2)");
        for (int m = 0; m < g->nmembers; m++) {
            const char *b = rulecfg_str(rc, g->members[m]);
            int k = 0;
            while (k < nbackends && strcmp(backends[k], b) != 0)
                k++;
            if (k == nbackends)
                return rulecfg_fail(e, g->backends_line, "group", g->name, "backends",
                                    "'%s' is not a [backend]", b);
            for (int o = 0; o < m; o++)
                if (strcmp(rulecfg_str(rc, g->members[o]), b) == 0)
                    return rulecfg_fail(e, g->backends_line, "group", g->name, "backends",
                                        "'%s' is named twice", b);
            used[k] = true;
        }
    }
    for (int k = 0; k < nbackends && rc->ngroups > 0; k++)
        if (!used[k])
            return rulecfg_fail(e, backend_lines[k], "backend", backends[k], NULL,
                                "in no group: once [group] sections are defined every backend "
                                "must be in one's backends (no implicit group takes the rest)");
    return TS_OK;
}

/* The template: bytes the TSD accepts in a metric, and \1..\9. */
static int
rulecfg_check_template(const struct cfg_rules *rc, const struct cfg_rule *r, const uint8_t *name_ok,
                       const struct rulecfg_err *e)
{
    const char *t = rulecfg_str(rc, r->metric);
    bool refs = false;
    if (r->metric.len == 0)
        return rulecfg_fail(e, r->metric_line, "rule", r->name, "metric", "empty");
    for (size_t i = 0; i < r->metric.len; i++) {
        if (t[i] == '\\' && i + 1 < r->metric.len && t[i + 1] >= '1' && t[i + 1] <= '9') {
            refs = true;
            i++;
        } else if (!name_ok[(unsigned char)t[i]]) {
            return rulecfg_fail(e, r->metric_line, "rule", r->name, "metric",
                                "'%c' is a byte the TSD refuses in a metric (back-references "
                                "are \\1 to \\9)", t[i]);
        }
    }
    if (refs && r->match_line == 0)
        return rulecfg_fail(e, r->metric_line, "rule", r->name, "metric",
                            "back-references need a match = pattern");
    return TS_OK;
}

/* The list of the action: the key it takes, its entries' bytes, and for
 * send the groups. */
static int
rulecfg_check_list(struct cfg_rules *rc, struct cfg_rule *r, const uint8_t *name_ok,
                   const struct rulecfg_err *e)
{
    const char *want = r->action == RULE_SET_TAGS ? "tags"
                       : r->action == RULE_SEND   ? "to"
                       : (r->action == RULE_DROP_TAGS || r->action == RULE_KEEP_TAGS) ? "keys"
                                                                                       : NULL;
    if (want == NULL && r->items_key[0] != '\0')
        return rulecfg_fail(e, r->items_line, "rule", r->name, r->items_key,
                            "not a key of action = %s", rulecfg_action_name(r->action));
    if (want == NULL)
        return TS_OK;
    if (strcmp(r->items_key, want) != 0)
        return rulecfg_fail(e, r->items_key[0] ? r->items_line : r->line, "rule", r->name,
                            r->items_key[0] ? r->items_key : want, "action = %s takes %s = "
                            "(%s)", rulecfg_action_name(r->action), want,
                            r->items_key[0] ? "not this key" : "missing");
    for (int i = 0; i < r->nitems; i++) {
        const char *a = rulecfg_str(rc, r->items[i].a);
        if (r->action == RULE_SEND) {
            /* without [group] sections the one group is the implicit "default" */
            int g = rc->ngroups > 0 ? rulecfg_group_index(rc, a) : strcmp(a, "default") ? -1 : 0;
            if (g < 0)
                return rulecfg_fail(e, r->items_line, "rule", r->name, "to",
                                    "unknown group '%s'%s", a, rc->ngroups > 0 ? "" :
                                    " (no [group] is defined: the only group is 'default')");
            r->to |= 1ull << g;
            continue;
        }
        const char *b = r->items[i].b.len ? rulecfg_str(rc, r->items[i].b) : "";
        int bad = rulecfg_bad_byte(name_ok, a, r->items[i].a.len);
        int badv = rulecfg_bad_byte(name_ok, b, r->items[i].b.len);
        if (bad >= 0 || badv >= 0)
            return rulecfg_fail(e, r->items_line, "rule", r->name, want, "'%c' in '%s' is a "
                                "byte the TSD refuses in a tag", bad >= 0 ? a[bad] : b[badv],
                                bad >= 0 ? a : b);
        for (int o = 0; o < i && r->action == RULE_SET_TAGS; o++)
            if (strcmp(rulecfg_str(rc, r->items[o].a), a) == 0)
                return rulecfg_fail(e, r->items_line, "rule", r->name, want,
                                    "tag '%s' is set twice", a);
    }
    return TS_OK;
}

static int
rulecfg_check_rule(struct cfg_rules *rc, struct cfg_rule *r, const uint8_t *name_ok,
                   const struct rulecfg_err *e)
{
    if (r->action == RULE_NONE)
        return rulecfg_fail(e, r->line, "rule", r->name, "action", "missing (drop, rewrite, "
                            "set-tags, drop-tags, keep-tags or send)");
    if (r->action == RULE_REWRITE && r->metric_line == 0)
        return rulecfg_fail(e, r->line, "rule", r->name, "metric",
                            "missing: action = rewrite needs metric = (e.g. os.cpu.\\1)");
    if (r->action != RULE_REWRITE && r->metric_line != 0)
        return rulecfg_fail(e, r->metric_line, "rule", r->name, "metric",
                            "not a key of action = %s", rulecfg_action_name(r->action));
    if (r->action == RULE_REWRITE && rulecfg_check_template(rc, r, name_ok, e) != TS_OK)
        return TS_ERROR;
    if (r->action == RULE_DROP && r->stop_line != 0 && !r->stop)
        return rulecfg_fail(e, r->stop_line, "rule", r->name, "stop",
                            "a drop always stops (stop = no means nothing here)");
    if (r->stop_line == 0)
        r->stop = r->action == RULE_SEND || r->action == RULE_DROP;
    for (int i = 0; i < r->ntags; i++) {
        int bad = rulecfg_bad_byte(name_ok, rulecfg_str(rc, r->tags[i].a), r->tags[i].a.len);
        if (bad >= 0)
            return rulecfg_fail(e, r->tag_line[i], "rule", r->name, "tag", "'%c' is a byte "
                                "the TSD refuses in a tag key", rulecfg_str(rc, r->tags[i].a)[bad]);
    }
    return rulecfg_check_list(rc, r, name_ok, e);
}

int
rulecfg_validate(struct cfg_rules *rc, const char *const *backends, const int *backend_lines,
                 int nbackends, const char *default_group, int default_group_line,
                 const uint8_t *name_ok, const struct rulecfg_err *e)
{
    if (rulecfg_check_groups(rc, backends, backend_lines, nbackends, e) != TS_OK)
        return TS_ERROR;
    if (rc->ngroups == 0 && strcmp(default_group, "default") != 0)
        return rulecfg_fail(e, default_group_line, "relay", "", "default-group",
                            "'%s' is not a group: without [group] sections the only group is "
                            "the implicit 'default' (every backend)", default_group);
    if (rc->ngroups > 0 && rulecfg_group_index(rc, default_group) < 0)
        return rulecfg_fail(e, default_group_line, "relay", "", "default-group",
                            "'%s' is not a [group]: with groups defined, the group that "
                            "takes what no send rule routes must be one of them",
                            default_group);
    for (int i = 0; i < rc->nrules; i++)
        if (rulecfg_check_rule(rc, &rc->rules[i], name_ok, e) != TS_OK)
            return TS_ERROR;
    return TS_OK;
}

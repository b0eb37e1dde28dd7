/*
 * rulecfg.h -- the [group NAME] and [rule NAME] sections of the
 * configuration, as plain data.
 *
 * Owns their keys (group: backends, routing; rule: match, tag, action,
 * metric, tags, keys, to, stop), the text of their values (one arena per
 * configuration, strings by offset), the line of every key, and the
 * checks that need only the file: names known, keys that belong to the
 * action, the default group, every backend in a group when groups are
 * defined, tag and template bytes the TSD accepts.  Patterns are not
 * compiled here (core/rules.c does, and reports with the same
 * FILE:LINE: [section] key: prefix).  It must never touch the loop or
 * allocate: config.c hands it one section line at a time.
 */
#ifndef TS_RULECFG_H
#define TS_RULECFG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_GROUPS 64        /* a route is a 64-bit mask of groups */
#define CFG_MAX_RULES 256
#define CFG_RULE_TAGS 8          /* tag = conditions of one rule */
#define CFG_RULE_ITEMS 32        /* entries of one tags/keys/to list */
#define CFG_RULES_TEXT (64 * 1024) /* patterns, templates, names, as written */
#define CFG_RULE_NAME_MAX 64
#define CFG_GROUP_MEMBERS 64     /* = CFG_MAX_BACKENDS (config.c checks) */

enum rule_action {
    RULE_NONE = 0, RULE_DROP, RULE_REWRITE, RULE_SET_TAGS, RULE_DROP_TAGS, RULE_KEEP_TAGS,
    RULE_SEND,
};

/* A string of the arena: text + off, len bytes, NUL-terminated. */
struct cfg_text {
    uint32_t off;
    uint32_t len;
};

struct cfg_group {
    char name[CFG_RULE_NAME_MAX];
    struct cfg_text members[CFG_GROUP_MEMBERS]; /* backend names, in the order given */
    int nmembers;
    int routing;                  /* enum routing */
    int line, backends_line, routing_line;
};

/* tag = key=regex; a set-tags pair k=v (a, b); a key; a group name (a). */
struct cfg_pair {
    struct cfg_text a, b;
};

struct cfg_rule {
    char name[CFG_RULE_NAME_MAX];
    int line;
    struct cfg_text match;        /* len 0 with match_line 0: every metric */
    int match_line;
    struct cfg_pair tags[CFG_RULE_TAGS]; /* tag = key=regex */
    int tag_line[CFG_RULE_TAGS];
    int ntags;
    enum rule_action action;
    int action_line;
    struct cfg_text metric;       /* rewrite: the template */
    int metric_line;
    struct cfg_pair items[CFG_RULE_ITEMS]; /* tags / keys / to, by the action */
    int nitems;
    int items_line;               /* where the list was given */
    char items_key[8];            /* ... and by which key */
    uint64_t to;                  /* send: the groups, a mask of indexes */
    bool stop;
    int stop_line;                /* 0: the action's default */
};

struct cfg_rules {
    struct cfg_group groups[CFG_MAX_GROUPS];
    int ngroups;
    struct cfg_rule rules[CFG_MAX_RULES];
    int nrules;
    char text[CFG_RULES_TEXT];
    size_t text_len;
    int cur_kind;                 /* the section being read: 0, 'g' or 'r' */
};

static inline const char *
rulecfg_str(const struct cfg_rules *rc, struct cfg_text t)
{
    return rc->text + t.off;
}

const char *rulecfg_action_name(enum rule_action a);

/* Where an error is written: "FILE:LINE: [section] key: reason". */
struct rulecfg_err {
    const char *file;
    char *buf;
    size_t len;
};

/* A section header (sect: its text between the brackets).  Returns 0 when
 * it is neither "group NAME" nor "rule NAME" (the section being read is
 * then none of its own); else 1, with *result TS_OK (taken) or TS_ERROR
 * (refused, err written). */
int rulecfg_header(struct cfg_rules *rc, const char *sect, int line, const struct rulecfg_err *e,
                   int *result);
/* A key of the section rulecfg_header last took (config.c's key table
 * knows the names).  TS_OK or TS_ERROR with err written. */
int rulecfg_set(struct cfg_rules *rc, const char *name, const char *value, int line,
                const struct rulecfg_err *e);
/* Checks that need the whole file: the backends (names and the lines of
 * their sections), the default group (and the line of its key), the
 * name bytes the TSD accepts (point_rules' name_ok, allow-specialchars
 * included), the keys each action needs.  Sets each rule's stop default
 * and send mask.  TS_OK or TS_ERROR with err written. */
int rulecfg_validate(struct cfg_rules *rc, const char *const *backends, const int *backend_lines,
                     int nbackends, const char *default_group, int default_group_line,
                     const uint8_t *name_ok, const struct rulecfg_err *e);
/* "FILE:LINE: [KIND NAME] KEY: " and the message into e->buf (KEY left
 * out when NULL, NAME when empty).  Returns TS_ERROR. */
int rulecfg_vfail(const struct rulecfg_err *e, int line, const char *kind, const char *name,
                  const char *key, const char *fmt, va_list ap);
/* The index of the group named name, -1 for none. */
int rulecfg_group_index(const struct cfg_rules *rc, const char *name);

#endif

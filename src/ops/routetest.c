/*
 * routetest.c -- tsrelay -T: where each line on stdin would go.
 *
 * For every input line, its account, indented under it:
 *
 *     put sys.cpu.user 1700000000 1 host=web1 pid=42
 *       rules: rename-cpu, trim-pid, to-main
 *       line: put os.cpu.user 1700000000 1 host=web1
 *       to: main (hash) tsd2
 *
 * "to:" lists each group the point goes to, its routing, and the
 * backend(s) it picks with every backend up ("; " between groups).  A
 * line that does not reach a backend says why instead of "line:" and
 * "to:": "invalid: <the reply a client gets>", "dropped: rule NAME" or
 * "refused: <reason>".  Lines are read as a telnet client's: put, rollup
 * and histogram lines, and a line without a command word as a framed
 * packet's (an implicit put).  Roundrobin groups take turns as in a
 * freshly started relay.  It never opens a socket.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "base/pointline.h"
#include "base/point.h"
#include "base/util.h"
#include "core/flow.h"
#include "ops/routetest.h"

struct routetest {
    struct flow *f;
    struct point_rules pr;
    const struct config *cfg;
    FILE *out;
    struct point p;
    struct point_error err;
    char canon[POINT_LINE_MAX + 2];
    char reply[POINT_ERR_MAX * 2 + 64];
};

static struct flow *
routetest_flow(const struct config *cfg, char *err, size_t errlen)
{
    const char *names[CFG_MAX_BACKENDS];
    bool routable[CFG_MAX_BACKENDS];
    for (int i = 0; i < cfg->nbackends; i++) {
        names[i] = cfg->backends[i].name;
        routable[i] = true;
    }
    return flow_build(cfg, names, routable, cfg->nbackends, err, errlen);
}

int
routetest_check(const struct config *cfg, char *err, size_t errlen)
{
    struct flow *f = routetest_flow(cfg, err, errlen);
    flow_free(f);
    return f != NULL ? TS_OK : TS_ERROR;
}

static void
routetest_rules(struct routetest *t)
{
    int idx[CFG_MAX_RULES];
    int n = rules_last_matched(t->f->rules, idx, CFG_MAX_RULES);
    fputs("  rules:", t->out);
    for (int i = 0; i < n; i++)
        fprintf(t->out, "%s %s", i ? "," : "", t->f->rules->rules[idx[i]].name);
    fputs(n == 0 ? " (none)\n" : "\n", t->out);
}

static void
routetest_route(struct routetest *t, uint64_t groups, uint64_t hash)
{
    struct groups *gs = &t->f->groups;
    fputs("  to:", t->out);
    int shown = 0;
    for (int g = 0; g < gs->n; g++) {
        if (!((groups >> g) & 1))
            continue;
        int slots[CFG_MAX_BACKENDS];
        int n = groups_pick(gs, g, hash, NULL, slots, 0);
        fprintf(t->out, "%s %s (%s)", shown++ ? ";" : "", gs->g[g].name,
                config_routing_name(gs->g[g].policy));
        for (int k = 0; k < n; k++)
            fprintf(t->out, "%s %s", k ? "," : "", t->cfg->backends[slots[k]].name);
    }
    fputc('\n', t->out);
}

/* One input line (without its newline). */
static void
routetest_line(struct routetest *t, const char *line, size_t len)
{
    bool implicit;
    enum point_cmd cmd = pointline_cmd(line, len, &implicit);
    fprintf(t->out, "%.*s\n", (int)len, line);
    if (pointline_parse(&t->pr, cmd, implicit, line, len, &t->p, &t->err) != TS_OK) {
        point_error_format(&t->err, t->reply, sizeof(t->reply));
        fprintf(t->out, "  invalid: %s\n", t->reply);
        return;
    }
    size_t n = point_format(&t->p, t->canon, sizeof(t->canon));
    struct rules_verdict v;
    int rc = rules_apply(t->f->rules, t->canon, n, point_output_hash(&t->p, t->canon, n), &v,
                         &t->err);
    routetest_rules(t);
    rules_commit(t->f->rules, &v);
    if (rc == TS_REFUSED) {
        fprintf(t->out, "  refused: %.*s\n", (int)t->err.len, t->err.msg);
        return;
    }
    if (v.drop_rule >= 0) {
        fprintf(t->out, "  dropped: rule %s\n", t->f->rules->rules[v.drop_rule].name);
        return;
    }
    fprintf(t->out, "  line: %.*s\n", (int)(v.len - 1), v.line);
    routetest_route(t, v.groups, v.hash);
}

int
routetest_run(const struct config *cfg, FILE *in, FILE *out, char *err, size_t errlen)
{
    static struct routetest t; /* large (a point, buffers); one run per process */
    memset(&t, 0, sizeof(t));
    t.f = routetest_flow(cfg, err, errlen);
    if (t.f == NULL)
        return TS_ERROR;
    t.cfg = cfg;
    t.out = out;
    point_rules_init(&t.pr, cfg->max_tags, cfg->allow_specialchars);
    size_t cap = (size_t)cfg->max_line_bytes + 2;
    char *buf = malloc(cap);
    if (buf == NULL) {
        flow_free(t.f);
        snprintf(err, errlen, "out of memory");
        return TS_ERROR;
    }
    while (fgets(buf, (int)cap, in) != NULL) {
        size_t len = strlen(buf);
        if (len > 0 && buf[len - 1] != '\n' && !feof(in)) {
            int ch;
            while ((ch = fgetc(in)) != EOF && ch != '\n')
                ;
            fprintf(out, "%.60s...\n  invalid: line longer than max-line-bytes (%llu)\n", buf,
                    (unsigned long long)cfg->max_line_bytes);
            continue;
        }
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            len--;
        routetest_line(&t, buf, len);
    }
    free(buf);
    flow_free(t.f);
    return TS_OK;
}

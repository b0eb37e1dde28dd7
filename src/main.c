/*
 * main.c -- tsrelay's command line: -c FILE, -t, -T, -V, -h.
 *
 * Loads and checks the configuration (its rules compiled too), opens the
 * log, builds the relay and runs its loop until shutdown completes; or,
 * with -T, runs the route test (ops/routetest.c) on stdin.  It owns no
 * data-path logic.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/heap.h"
#include "base/log.h"
#include "base/tls.h"
#include "input/tls_server.h"
#include "ops/credentials.h"
#include "ops/notify.h"
#include "ops/routetest.h"
#include "core/relay.h"
#include "lifecycle.h"
#include "base/util.h"

/* The build passes $(sysconfdir)/tsrelay/tsrelay.conf (Makefile.am). */
#ifndef TSRELAY_CONF
#define TSRELAY_CONF "/etc/tsrelay/tsrelay.conf"
#endif

static const char usage[] =
    "usage: tsrelay [-c FILE] [-t | -T] [-V] [-h]\n"
    "  -c FILE  configuration file (default " TSRELAY_CONF ")\n"
    "  -t       check the configuration and exit (0 = valid)\n"
    "  -T       route test: read put lines on stdin, print the rules each matched,\n"
    "           the line that would leave and its group(s) and backend(s); start nothing\n"
    "  -V       print the version and exit\n"
    "  -h       this help\n";

static void
main_warn(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "tsrelay: warning: %s\n", line);
}

/* -t: the file, and the certificates and keys it names, load; files
 * holding secrets that others may read are warned about.  The exit code. */
static int
check_only(const struct config *cfg, const char *path)
{
    char err[CFG_ERR_MAX];
    struct credentials cr;
    if (credentials_load(&cr, cfg, NULL, err, sizeof(err)) != TS_OK) {
        fprintf(stderr, "tsrelay: configuration error: %s: %s\n", path, err);
        return 1;
    }
    int tls_backends = 0;
    for (int i = 0; i < cfg->nbackends; i++)
        tls_backends += cr.backend[i] != NULL;
    const struct cfg_rules *rc = &cfg->rules;
    printf("tsrelay: configuration %s is valid (%d listeners, %d backends, %d groups, "
           "%d rules, %s)\n", path, cfg->nlisten, cfg->nbackends,
           rc->ngroups > 0 ? rc->ngroups : 1, rc->nrules,
           cfg->redis.enabled ? "Redis spool" : "memory-only");
    if (cr.server != NULL)
        printf("tsrelay: TLS listeners: certificate %s%s\n", cr.server->describe,
               cr.server->mtls ? "; client certificates required" : "");
    if (tls_backends > 0)
        printf("tsrelay: TLS to %d of %d backends\n", tls_backends, cfg->nbackends);
    credentials_free(&cr);
    (void)credentials_check_modes(cfg, main_warn, NULL);
    return 0;
}

int
main(int argc, char **argv)
{
    tls_library_init(); /* before anything allocates through OpenSSL */
    const char *path = TSRELAY_CONF;
    bool test_only = false, route_test = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tTVh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': test_only = true; break;
        case 'T': route_test = true; break;
        case 'V': printf("tsrelay %s (revision %s)\n", PACKAGE_VERSION, TSRELAY_REVISION);
                  return 0;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fputs(usage, stderr);
        return 2;
    }
    if (!test_only)
        heap_reexec(argv); /* glibc's per-thread cache off (base/heap.h) */

    static struct relay relay;
    struct relay *r = &relay;
    char err[CFG_ERR_MAX];
    if (config_load(&r->cfg, path, err, sizeof(err)) != TS_OK ||
        routetest_check(&r->cfg, err, sizeof(err)) != TS_OK) {
        fprintf(stderr, "tsrelay: configuration error: %s\n", err);
        return 1;
    }
    if (route_test) {
        int rc = routetest_run(&r->cfg, stdin, stdout, err, sizeof(err));
        if (rc != TS_OK)
            fprintf(stderr, "tsrelay: %s\n", err);
        return rc == TS_OK && fflush(stdout) == 0 ? 0 : 1;
    }
    if (test_only)
        return check_only(&r->cfg, path);
    enum log_level level = LOG_INFO;
    (void)log_parse_level(r->cfg.log_level, &level);
    if (log_init(level, r->cfg.log_file, r->cfg.log_buffer_bytes) != TS_OK) {
        fprintf(stderr, "tsrelay: cannot open log file %s: %s\n", r->cfg.log_file,
                strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    srand((unsigned)(time(NULL) ^ getpid()));

    if (lifecycle_start(r, err, sizeof(err)) != TS_OK) {
        log_error("start-up failed: %s", err);
        lifecycle_free(r);
        log_close();
        return 1;
    }
    log_attach_loop(r->loop);
    if (r->cfg.rules.ngroups == 0)
        log_info("tsrelay %s started: %d backends (%s routing), %d rules, memory-limit %llu "
                 "bytes, %s", PACKAGE_VERSION, r->nbackends, config_routing_name(r->cfg.routing),
                 r->cfg.rules.nrules, (unsigned long long)r->cfg.memory_limit,
                 r->cfg.redis.enabled ? "Redis spool" : "memory-only");
    else
        log_info("tsrelay %s started: %d backends in %d groups, %d rules, memory-limit %llu "
                 "bytes, %s", PACKAGE_VERSION, r->nbackends, r->cfg.rules.ngroups,
                 r->cfg.rules.nrules, (unsigned long long)r->cfg.memory_limit,
                 r->cfg.redis.enabled ? "Redis spool" : "memory-only");
    notify_ready(r); /* systemd: READY=1, STATUS=, WATCHDOG=1 (no-op without NOTIFY_SOCKET) */
    ev_run(r->loop, 0);
    notify_close();
    lifecycle_free(r);
    log_close();
    return r->exit_code;
}

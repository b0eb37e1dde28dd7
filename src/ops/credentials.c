/*
 * credentials.c -- the TLS contexts of a configuration, and the modes of
 * the files that hold its secrets.
 *
 * Contexts are built into a struct the caller then hands out piece by
 * piece (setting each to NULL); what is left is freed.  A failure frees
 * everything built so far, so a reload refused for one bad certificate
 * changes nothing.  It never writes a secret anywhere.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "input/tls_server.h"
#include "ops/credentials.h"
#include "output/tls_client.h"

int
credentials_load(struct credentials *cr, const struct config *cfg, const bool *only,
                 char *err, size_t errlen)
{
    memset(cr, 0, sizeof(*cr));
    if (config_tls_listeners(cfg)) {
        cr->server = tls_server_new(&cfg->tls, err, errlen);
        if (cr->server == NULL)
            return TS_ERROR;
    }
    for (int i = 0; i < cfg->nbackends; i++) {
        const struct cfg_backend *b = &cfg->backends[i];
        if (!b->tls || (only != NULL && !only[i]))
            continue;
        cr->backend[i] = tls_client_for_backend(b, err, errlen);
        if (cr->backend[i] == NULL) {
            credentials_free(cr);
            return TS_ERROR;
        }
    }
    return TS_OK;
}

void
credentials_free(struct credentials *cr)
{
    tls_server_free(cr->server);
    cr->server = NULL;
    for (int i = 0; i < CFG_MAX_BACKENDS; i++) {
        tls_client_free(cr->backend[i]);
        cr->backend[i] = NULL;
    }
}

/* One file: warns when others may read it.  1 when it warned. */
static int
credentials_check_file(const char *path, const char *holds,
                       void (*warn)(void *ctx, const char *line), void *ctx)
{
    struct stat st;
    if (path[0] == '\0' || stat(path, &st) != 0 || (st.st_mode & S_IROTH) == 0)
        return 0;
    char line[CFG_PATH_MAX + 256];
    snprintf(line, sizeof(line), "%s holds %s and is readable by every user (mode %04o): "
             "chmod o-r %s (Debian: root:tsrelay 0640)", path, holds,
             (unsigned)(st.st_mode & 07777), path);
    warn(ctx, line);
    return 1;
}

int
credentials_check_modes(const struct config *cfg, void (*warn)(void *ctx, const char *line),
                        void *ctx)
{
    int n = 0;
    const struct cfg_redis *rc = &cfg->redis;
    if (rc->enabled && (rc->password[0] != '\0' || rc->sentinel_password[0] != '\0'))
        n += credentials_check_file(cfg->path, "a Redis password", warn, ctx);
    if (config_tls_listeners(cfg) || cfg->tls.key[0] != '\0')
        n += credentials_check_file(cfg->tls.key, "the listeners' TLS private key", warn, ctx);
    for (int i = 0; i < cfg->nbackends; i++) {
        const struct cfg_backend *b = &cfg->backends[i];
        if (!b->tls || b->key[0] == '\0')
            continue;
        bool seen = false; /* one line per file */
        for (int k = 0; k < i && !seen; k++)
            seen = cfg->backends[k].tls && strcmp(cfg->backends[k].key, b->key) == 0;
        if (!seen && strcmp(b->key, cfg->tls.key) != 0)
            n += credentials_check_file(b->key, "a backend's TLS private key", warn, ctx);
    }
    return n;
}

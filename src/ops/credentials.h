/*
 * credentials.h -- what a configuration holds that proves who the relay
 * is and what it may do: TLS certificates and keys, Redis passwords.
 *
 * Owns building every TLS context a configuration asks for, whole or not
 * at all (at start, on SIGHUP -- certificates rotate, so they are read
 * again on every reload even when the file is the same -- and for
 * `tsrelay -t`), and the check that files holding a secret (a key, a
 * configuration with a password) are not readable by everyone.  It must
 * never write a secret anywhere: messages name files and OpenSSL's
 * reasons, never their bytes.
 */
#ifndef TS_CREDENTIALS_H
#define TS_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"

struct tls_server;
struct tls_client;

/* The TLS contexts of one configuration. */
struct credentials {
    struct tls_server *server;                    /* NULL: no TLS listener */
    struct tls_client *backend[CFG_MAX_BACKENDS]; /* by backend index; NULL: clear text */
};

/* Builds them for cfg; only[i] false leaves backend i out (a reload
 * keeps a removed backend's context).  TS_OK, or TS_ERROR with the reason
 * in err (nothing built is kept). */
int credentials_load(struct credentials *cr, const struct config *cfg, const bool *only,
                     char *err, size_t errlen);
/* Frees what is still held (contexts handed over are set to NULL). */
void credentials_free(struct credentials *cr);

/* Calls warn once per file holding a secret that others may read (a
 * private key, the configuration when it holds a password), with a line
 * that says what to do; returns how many. */
int credentials_check_modes(const struct config *cfg, void (*warn)(void *ctx, const char *line),
                            void *ctx);

#endif

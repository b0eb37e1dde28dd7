/*
 * tls.c -- OpenSSL 3 under the relay's sockets, for both sides.
 *
 * OpenSSL's heap goes through counting wrappers (a 16-byte header holds
 * each block's size), so tls_memory_bytes() is exact.  Every call on a
 * connection clears the error queue first, and keeps what a failure left
 * in it (last_*) for tls_failure() before clearing it again.  It never
 * blocks and never prints a key or a password.
 */
#include "autoconf.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/tls.h"
#include "base/util.h"

/* ---- the library and its heap ------------------------------------------- */

#define TLS_HDR 16 /* keeps OpenSSL's blocks 16-byte aligned */

static uint64_t tls_heap_bytes;
static bool tls_heap_counted;

static void *
tls_heap_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    char *p = malloc(n + TLS_HDR);
    if (p == NULL)
        return NULL;
    memcpy(p, &n, sizeof(n));
    tls_heap_bytes += n;
    return p + TLS_HDR;
}

static void
tls_heap_free(void *ptr, const char *file, int line)
{
    (void)file;
    (void)line;
    if (ptr == NULL)
        return;
    char *p = (char *)ptr - TLS_HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    tls_heap_bytes -= n;
    free(p);
}

static void *
tls_heap_realloc(void *ptr, size_t n, const char *file, int line)
{
    if (ptr == NULL)
        return tls_heap_malloc(n, file, line);
    if (n == 0) {
        tls_heap_free(ptr, file, line);
        return NULL;
    }
    char *p = (char *)ptr - TLS_HDR;
    size_t old;
    memcpy(&old, p, sizeof(old));
    char *q = realloc(p, n + TLS_HDR);
    if (q == NULL)
        return NULL;
    memcpy(q, &n, sizeof(n));
    tls_heap_bytes = tls_heap_bytes - old + n;
    return q + TLS_HDR;
}

void
tls_library_init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    tls_heap_counted = CRYPTO_set_mem_functions(tls_heap_malloc, tls_heap_realloc,
                                                tls_heap_free) == 1;
    OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}

uint64_t
tls_memory_bytes(void)
{
    return tls_heap_counted ? tls_heap_bytes : 0;
}

/* ---- errors ------------------------------------------------------------- */

/* What the last failed call left: OpenSSL's error, SSL_get_error, errno. */
static unsigned long last_err;
static int last_ssl_error;
static int last_errno;

/* The reason of OpenSSL's last error, "" when there is none. */
static const char *
tls_reason_text(unsigned long e)
{
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    return r != NULL ? r : "";
}

/* Every queued error's reason, joined, for a context that failed to load
 * (the first names the file problem, the last the key mismatch). */
static void
tls_queue_text(char *buf, size_t len)
{
    size_t n = 0;
    unsigned long e;
    buf[0] = '\0';
    while ((e = ERR_get_error()) != 0 && n + 4 < len) {
        int k = snprintf(buf + n, len - n, "%s%s", n ? "; " : "", tls_reason_text(e));
        if (k < 0)
            break;
        n += TS_MIN((size_t)k, len - n - 1);
    }
    if (n == 0)
        snprintf(buf, len, "unknown error");
}

/* Maps the outcome of an SSL call (ret <= 0) and keeps the failure. */
static enum tls_io
tls_outcome(SSL *s, int ret)
{
    int e = SSL_get_error(s, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_IO_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_IO_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return TLS_IO_CLOSED;
    default:
        break;
    }
    last_ssl_error = e;
    last_errno = errno;
    last_err = ERR_peek_last_error();
    ERR_clear_error();
    if (e == SSL_ERROR_SYSCALL && last_err == 0 && (last_errno == 0 || last_errno == ECONNRESET))
        return TLS_IO_CLOSED; /* end of stream, or reset, without close_notify */
    return TLS_IO_FAILED;
}

const char *
tls_fail_name(enum tls_fail f)
{
    static const char *const names[TLS_FAIL_COUNT] = {
        "timeout", "closed", "version", "cipher", "no_certificate", "bad_certificate",
        "not_tls", "other",
    };
    return (unsigned)f < TLS_FAIL_COUNT ? names[f] : "other";
}

/* The reason code of OpenSSL's error as a failure class. */
static enum tls_fail
tls_classify(int reason)
{
    switch (reason) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
        return TLS_FAIL_VERSION;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        return TLS_FAIL_CIPHER;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return TLS_FAIL_NO_CERT;
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        return TLS_FAIL_BAD_CERT;
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_UNKNOWN_PROTOCOL:
        return TLS_FAIL_NOT_TLS;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        return TLS_FAIL_CLOSED;
    default:
        return TLS_FAIL_OTHER;
    }
}

enum tls_fail
tls_failure(SSL *s, char *buf, size_t len)
{
    long vr = s != NULL ? SSL_get_verify_result(s) : X509_V_OK;
    enum tls_fail f;
    if (last_err == 0 && last_ssl_error == SSL_ERROR_SYSCALL) {
        f = TLS_FAIL_CLOSED;
        snprintf(buf, len, "%s", last_errno ? strerror(last_errno) : "connection closed");
    } else {
        f = tls_classify(ERR_GET_REASON(last_err));
        const char *r = tls_reason_text(last_err);
        if (vr != X509_V_OK)
            snprintf(buf, len, "%s (%s)", r[0] ? r : "certificate verify failed",
                     X509_verify_cert_error_string(vr));
        else
            snprintf(buf, len, "%s", r[0] ? r : "protocol error");
    }
    if (vr != X509_V_OK && f == TLS_FAIL_OTHER)
        f = TLS_FAIL_BAD_CERT;
    last_err = 0;
    last_ssl_error = 0;
    last_errno = 0;
    return f;
}

const char *
tls_version_name(const SSL *s)
{
    return SSL_get_version(s);
}

/* ---- contexts ----------------------------------------------------------- */

/* The settings every context shares. */
/* The passphrase callback: none (an encrypted key does not load). */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *user)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)user;
    return 0;
}

static void
tls_ctx_common(SSL_CTX *ctx, const struct tls_ctx_opts *o)
{
    /* an encrypted key is refused, never prompted for: OpenSSL's default
     * would read a passphrase from the terminal (tsrelay -t waits, a
     * SIGHUP reload would stall the loop) */
    SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
    SSL_CTX_set_min_proto_version(ctx, o->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION);
    /* buffers go back when a connection is idle; writes return record by
     * record; a retried write may come from a moved buffer */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o->server) {
        /* no server-side session cache (it grows with clients); stateless
         * tickets still resume sessions */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
        static const unsigned char sid[] = "tsrelay";
        SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
        /* no TLS 1.3 session tickets: they are bytes a client did not ask
         * for, and a client that never reads (most telnet writers) closes
         * with them unread -- its kernel then resets the connection, and
         * the reset destroys what it sent last before the relay read it */
        SSL_CTX_set_num_tickets(ctx, 0);
    }
}

/* The files o names can be read: TS_OK, or TS_ERROR with err (OpenSSL
 * would only say "system lib"). */
static int
tls_ctx_readable(const struct tls_ctx_opts *o, const char *what, char *err, size_t errlen)
{
    const char *const names[] = { "cert", "key", "ca" };
    const char *const paths[] = { o->cert, o->key, o->ca };
    for (size_t i = 0; i < TS_ARRAY_LEN(paths); i++) {
        if (paths[i] == NULL || paths[i][0] == '\0')
            continue;
        FILE *f = fopen(paths[i], "r");
        if (f == NULL) {
            snprintf(err, errlen, "%s %s %s: cannot read it: %s", what, names[i], paths[i],
                     strerror(errno));
            return TS_ERROR;
        }
        fclose(f);
    }
    return TS_OK;
}

/* Certificate, key and CAs of o into ctx: TS_OK, or TS_ERROR with err. */
static int
tls_ctx_files(SSL_CTX *ctx, const struct tls_ctx_opts *o, const char *what, char *err,
              size_t errlen)
{
    char why[256];
    if (tls_ctx_readable(o, what, err, errlen) != TS_OK)
        return TS_ERROR;
    if (o->cert[0] != '\0') {
        if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
            tls_queue_text(why, sizeof(why));
            snprintf(err, errlen, "%s cert %s: %s", what, o->cert, why);
            return TS_ERROR;
        }
        /* the key's file name only: never its bytes */
        if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            tls_queue_text(why, sizeof(why));
            snprintf(err, errlen, "%s key %s: %s%s", what, o->key, why,
                     strstr(why, "bad decrypt") != NULL || strstr(why, "bad password") != NULL
                         ? " (an encrypted key: tsrelay takes only unencrypted keys; keep "
                           "the file 0640)" : "");
            return TS_ERROR;
        }
    }
    if (o->ca[0] != '\0') {
        if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
            tls_queue_text(why, sizeof(why));
            snprintf(err, errlen, "%s ca %s: %s", what, o->ca, why);
            return TS_ERROR;
        }
        if (o->server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->ca);
            if (names != NULL)
                SSL_CTX_set_client_CA_list(ctx, names);
        }
    } else if (!o->server && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_queue_text(why, sizeof(why));
        snprintf(err, errlen, "%s: the system's trust store: %s", what, why);
        return TS_ERROR;
    }
    return TS_OK;
}

SSL_CTX *
tls_ctx_new(const struct tls_ctx_opts *o, const char *what, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "%s: cannot create a TLS context (out of memory?)", what);
        return NULL;
    }
    tls_ctx_common(ctx, o);
    if (o->ciphers[0] != '\0' && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
        snprintf(err, errlen, "%s ciphers: no cipher of '%s' is known to OpenSSL", what,
                 o->ciphers);
        goto fail;
    }
    if (tls_ctx_files(ctx, o, what, err, errlen) != TS_OK)
        goto fail;
    /* a server with CAs requires client certificates; a client always
     * verifies the server */
    if (!o->server || o->ca[0] != '\0')
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (o->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void
tls_ctx_describe(SSL_CTX *ctx, char *buf, size_t len, time_t *not_after)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    *not_after = 0;
    if (x == NULL) {
        snprintf(buf, len, "no certificate");
        return;
    }
    char subject[200] = "";
    X509_NAME_oneline(X509_get_subject_name(x), subject, (int)sizeof(subject));
    struct tm tm;
    const ASN1_TIME *na = X509_get0_notAfter(x);
    if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1) {
        *not_after = timegm(&tm);
        snprintf(buf, len, "%s, expires %04d-%02d-%02d %02d:%02d UTC", subject,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min);
    } else {
        snprintf(buf, len, "%s", subject);
    }
}

/* ---- one connection ----------------------------------------------------- */

enum tls_io
tls_handshake(SSL *s)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(s);
    return rc == 1 ? TLS_IO_DONE : tls_outcome(s, rc);
}

enum tls_io
tls_read(SSL *s, void *buf, size_t len, bool peek, size_t *got)
{
    *got = 0;
    ERR_clear_error();
    int rc = peek ? SSL_peek_ex(s, buf, len, got) : SSL_read_ex(s, buf, len, got);
    return rc == 1 ? TLS_IO_DONE : tls_outcome(s, 0);
}

enum tls_io
tls_write(SSL *s, const void *buf, size_t len, size_t *put)
{
    *put = 0;
    ERR_clear_error();
    int rc = SSL_write_ex(s, buf, len, put);
    return rc == 1 ? TLS_IO_DONE : tls_outcome(s, 0);
}

int
tls_read_result(enum tls_io io)
{
    switch (io) {
    case TLS_IO_CLOSED:
        return 0;
    case TLS_IO_WANT_READ:
    case TLS_IO_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    default:
        errno = ECONNRESET;
        return -1;
    }
}

int
tls_write_result(enum tls_io io)
{
    errno = io == TLS_IO_WANT_WRITE || io == TLS_IO_WANT_READ ? EAGAIN : EPIPE;
    return -1;
}

void
tls_close_notify(SSL *s)
{
    ERR_clear_error();
    if (SSL_is_init_finished(s))
        (void)SSL_shutdown(s);
    ERR_clear_error();
}

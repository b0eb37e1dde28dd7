/*
 * test_certs.h -- certificates for the unit tests that speak TLS, made at
 * run time in the test process (OpenSSL 3) into a temporary directory:
 *
 *   ca        a test CA
 *   server    relay.test and 127.0.0.1 (subjectAltName), signed by ca
 *   client    a client certificate signed by ca
 *   other     another CA
 *   stranger  a client certificate signed by other
 *
 * each as NAME.pem and NAME.key (EC P-256, the key 0600).  Nothing is
 * committed; certs_remove deletes them (and "open.pem"/"open.key", which
 * a test may leave).
 */
#ifndef TS_TEST_CERTS_H
#define TS_TEST_CERTS_H

#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* dir/name, in one of 8 rotating buffers. */
static const char *
certs_path(const char *dir, const char *name)
{
    static char bufs[8][512];
    static unsigned k;
    char *b = bufs[k++ & 7];
    snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
    return b;
}

static void
certs_add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    ck_assert_ptr_nonnull(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer (NULL: itself). */
static X509 *
certs_make_one(EVP_PKEY *key, const char *cn, const char *san, bool ca, X509 *issuer,
               EVP_PKEY *ikey, long serial)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    certs_add_ext(x, &v3, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca)
        certs_add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (san != NULL)
        certs_add_ext(x, &v3, NID_subject_alt_name, san);
    ck_assert_int_gt(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()), 0);
    return x;
}

/* NAME.pem and NAME.key (0600) in dir. */
static void
certs_write(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
    char file[64];
    snprintf(file, sizeof(file), "%s.pem", name);
    FILE *f = fopen(certs_path(dir, file), "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(file, sizeof(file), "%s.key", name);
    f = fopen(certs_path(dir, file), "w");
    ck_assert_ptr_nonnull(f);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    chmod(certs_path(dir, file), 0600);
}

/* Makes a directory from tmpl ("/tmp/check_x.XXXXXX", rewritten in place)
 * and the certificates in it. */
static void __attribute__((unused))
certs_make(char *tmpl)
{
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *ok = EVP_EC_gen("P-256");
    X509 *ca = certs_make_one(cak, "test CA", NULL, true, NULL, NULL, 1);
    X509 *other = certs_make_one(ok, "other CA", NULL, true, NULL, NULL, 2);
    EVP_PKEY *sk = EVP_EC_gen("P-256"), *clk = EVP_EC_gen("P-256"), *stk = EVP_EC_gen("P-256");
    X509 *srv = certs_make_one(sk, "relay.test", "DNS:relay.test,IP:127.0.0.1", false, ca, cak,
                               1001);
    X509 *cli = certs_make_one(clk, "client", NULL, false, ca, cak, 1002);
    X509 *str = certs_make_one(stk, "stranger", NULL, false, other, ok, 1003);
    certs_write(tmpl, "server", srv, sk);
    certs_write(tmpl, "client", cli, clk);
    certs_write(tmpl, "stranger", str, stk);
    certs_write(tmpl, "ca", ca, cak);
    certs_write(tmpl, "other", other, ok);
    X509 *xs[] = { ca, other, srv, cli, str };
    EVP_PKEY *ks[] = { cak, ok, sk, clk, stk };
    for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
        X509_free(xs[i]);
        EVP_PKEY_free(ks[i]);
    }
}

static void __attribute__((unused))
certs_remove(const char *dir)
{
    static const char *const names[] = { "ca", "other", "server", "client", "stranger", "open" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char f[64];
        snprintf(f, sizeof(f), "%s.pem", names[i]);
        unlink(certs_path(dir, f));
        snprintf(f, sizeof(f), "%s.key", names[i]);
        unlink(certs_path(dir, f));
    }
    rmdir(dir);
}

#endif

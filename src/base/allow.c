/*
 * allow.c -- address allow-lists: CIDR lists parsed and matched.
 *
 * A network is kept as its family, prefix length and masked bytes; a
 * match compares whole bytes, then the bits of the last one.  It never
 * touches a socket and never allocates.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/allow.h"
#include "base/util.h"

/* Whether the first `bits` bits of a and b agree. */
static bool
allow_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xFFu << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* One "ADDR[/BITS]" item (len bytes at s) into net. */
static int
allow_parse_one(const char *s, size_t len, struct allow_net *net, char *why, size_t whylen)
{
    char item[64];
    if (len == 0 || len >= sizeof(item)) {
        snprintf(why, whylen, "'%.*s' is not an address or ADDRESS/BITS", (int)TS_MIN(len, 60),
                 s);
        return TS_ERROR;
    }
    memcpy(item, s, len);
    item[len] = '\0';
    char *slash = strchr(item, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, item, net->addr) == 1) {
        net->family = AF_INET;
        net->bits = 32;
    } else if (inet_pton(AF_INET6, item, net->addr) == 1) {
        net->family = AF_INET6;
        net->bits = 128;
    } else {
        snprintf(why, whylen, "'%s' is not an IPv4 or IPv6 address", item);
        return TS_ERROR;
    }
    if (slash != NULL) {
        const char *b = slash + 1;
        char *end = NULL;
        unsigned long bits = strtoul(b, &end, 10);
        if (!isdigit((unsigned char)*b) || *end != '\0' || bits > net->bits) {
            snprintf(why, whylen, "'%.*s': the prefix length must be 0 to %u", (int)len, s,
                     (unsigned)net->bits);
            return TS_ERROR;
        }
        net->bits = (uint8_t)bits;
    }
    unsigned size = net->family == AF_INET ? 32 : 128;
    for (unsigned i = net->bits; i < size; i++) {
        if (net->addr[i / 8] & (0x80u >> (i % 8))) {
            snprintf(why, whylen, "'%.*s' has bits set past its /%u prefix (a typo? the network "
                     "is written with them zero)", (int)len, s, (unsigned)net->bits);
            return TS_ERROR;
        }
    }
    return TS_OK;
}

int
allow_parse(const char *text, struct allow_list *l, char *why, size_t whylen)
{
    memset(l, 0, sizeof(*l));
    const char *p = text;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        const char *end = p;
        while (*end != '\0' && *end != ',' && *end != ' ' && *end != '\t')
            end++;
        if (l->n == ALLOW_MAX) {
            snprintf(why, whylen, "more than %d networks", ALLOW_MAX);
            return TS_ERROR;
        }
        if (allow_parse_one(p, (size_t)(end - p), &l->nets[l->n], why, whylen) != TS_OK)
            return TS_ERROR;
        l->n++;
        p = end;
    }
    return TS_OK;
}

bool
allow_match(const struct allow_list *l, const struct sockaddr *sa)
{
    if (l->n == 0)
        return true;
    if (sa == NULL)
        return false;
    const uint8_t *a;
    int family = sa->sa_family;
    if (family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        a = (const uint8_t *)a6;
        if (IN6_IS_ADDR_V4MAPPED(a6)) { /* an IPv4 peer on a dual-stack socket */
            family = AF_INET;
            a += 12;
        }
    } else {
        return false;
    }
    for (int i = 0; i < l->n; i++) {
        const struct allow_net *net = &l->nets[i];
        if (net->family == family && allow_prefix_equal(net->addr, a, net->bits))
            return true;
    }
    return false;
}

size_t
allow_format(const struct allow_list *l, char *buf, size_t cap)
{
    size_t n = 0;
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    for (int i = 0; i < l->n && n < cap; i++) {
        const struct allow_net *net = &l->nets[i];
        char ip[INET6_ADDRSTRLEN];
        if (inet_ntop(net->family, net->addr, ip, sizeof(ip)) == NULL)
            snprintf(ip, sizeof(ip), "?");
        int k = snprintf(buf + n, cap - n, "%s%s/%u", i ? "," : "", ip, (unsigned)net->bits);
        if (k < 0)
            break;
        n += (size_t)k;
    }
    return TS_MIN(n, cap - 1);
}

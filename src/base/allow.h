/*
 * allow.h -- address allow-lists: CIDR[,CIDR...] parsed, and an address
 * matched against them.
 *
 * Owns the list's shape (at most ALLOW_MAX networks, IPv4 and IPv6), its
 * parser with an operator's error messages, and the match (an IPv4 peer
 * seen on a dual-stack socket as ::ffff:a.b.c.d matches IPv4 networks).
 * An empty list allows every address.  Plain data: it must never touch a
 * socket, and never allocate.
 */
#ifndef TS_ALLOW_H
#define TS_ALLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ALLOW_MAX 32

struct allow_net {
    uint8_t family;     /* AF_INET or AF_INET6 */
    uint8_t bits;       /* prefix length */
    uint8_t addr[16];   /* network bytes (4 used for IPv4), host bits zero */
};

struct allow_list {
    int n;              /* 0: every address is allowed */
    struct allow_net nets[ALLOW_MAX];
};

/* "10.0.0.0/8, 127.0.0.1/32, ::1/128, 192.168.1.7" (a bare address is a
 * /32 or /128) into l.  TS_OK, or TS_ERROR with the reason in why.  Host
 * bits set under the mask are an error (10.1.2.3/8 is a typo more often
 * than a network). */
int allow_parse(const char *text, struct allow_list *l, char *why, size_t whylen);
/* Whether sa (AF_INET or AF_INET6) is in one of l's networks; an empty
 * list allows all, any other family is refused. */
bool allow_match(const struct allow_list *l, const struct sockaddr *sa);
/* The list written back ("10.0.0.0/8,::1/128"), for logs and `-t`. */
size_t allow_format(const struct allow_list *l, char *buf, size_t cap);

#endif

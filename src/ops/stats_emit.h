/*
 * stats_emit.h -- what the stats renderers share (internal to ops/stats*.c):
 * a sample (name, help, type, up to two tags, a value), the emitter the
 * collector's parts yield samples to, and tables of counter fields.
 * Renders nothing itself and never allocates.
 */
#ifndef TS_STATS_EMIT_H
#define TS_STATS_EMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct relay;

enum mtype { GAUGE = 0, COUNTER = 1 };

struct sample {
    const char *name;   /* dotted, without the "tsrelay." prefix */
    const char *help;
    enum mtype type;
    const char *tagk;   /* NULL: no tag */
    const char *tagv;
    const char *tagk2;  /* a second tag, NULL: none */
    const char *tagv2;
    uint64_t value;
    bool ns_as_seconds; /* value is nanoseconds, shown as seconds */
    bool passing_tag;   /* its tag values come and go (the top tables' clients and
                           metrics): not written to a TSD, where each would be a
                           new series of its own every hour */
};

/* The value as text: an integer, or nanoseconds as decimal seconds. */
static inline const char *
value_text(const struct sample *s, char *buf, size_t cap)
{
    if (s->ns_as_seconds)
        snprintf(buf, cap, "%llu.%09llu", (unsigned long long)(s->value / 1000000000u),
                 (unsigned long long)(s->value % 1000000000u));
    else
        snprintf(buf, cap, "%llu", (unsigned long long)s->value);
    return buf;
}

typedef void (*sample_fn)(void *ctx, const struct sample *s);

/* Where the collector's samples go: one of the writers below. */
struct emitter {
    sample_fn fn;
    void *ctx;
};

static inline void
emit_tagged(const struct emitter *e, const char *name, const char *help, enum mtype type,
           const char *tagk, const char *tagv, uint64_t value)
{
    struct sample s = { .name = name, .help = help, .type = type, .tagk = tagk,
                        .tagv = tagv, .value = value };
    e->fn(e->ctx, &s);
}

static inline void
emit_untagged(const struct emitter *e, const char *name, const char *help, enum mtype type,
    uint64_t value)
{
    emit_tagged(e, name, help, type, NULL, NULL, value);
}

/* A sample with two tags (backend.rejected{backend,reason}). */
static inline void
emit_tagged2(const struct emitter *e, const char *name, const char *help, enum mtype type,
             const char *tagk, const char *tagv, const char *tagk2, const char *tagv2,
             uint64_t value)
{
    struct sample s = { .name = name, .help = help, .type = type, .tagk = tagk, .tagv = tagv,
                        .tagk2 = tagk2, .tagv2 = tagv2, .value = value };
    e->fn(e->ctx, &s);
}

/* A duration in nanoseconds, shown as seconds (a gauge). */
static inline void
emit_seconds(const struct emitter *e, const char *name, const char *help, const char *tagk,
            const char *tagv, uint64_t ns)
{
    struct sample s = { .name = name, .help = help, .type = GAUGE, .tagk = tagk,
                        .tagv = tagv, .value = ns, .ns_as_seconds = true };
    e->fn(e->ctx, &s);
}

/* A counter of a stats struct: where it is, and what it is called. */
struct field {
    const char *name;
    const char *help;
    enum mtype type;
    size_t off;
};

static inline uint64_t
field_value(const void *base, const struct field *f)
{
    uint64_t v;
    memcpy(&v, (const char *)base + f->off, sizeof(v));
    return v;
}

/* Each field of the table read from base, untagged. */
static inline void
emit_fields(const struct emitter *e, const struct field *t, size_t n, const void *base)
{
    for (size_t i = 0; i < n; i++)
        emit_untagged(e, t[i].name, t[i].help, t[i].type, field_value(base, &t[i]));
}

/* The per-backend parts (stats_backends.c): each backend's connections,
 * queues and acknowledgements; the read pass-through's pools; HTTP
 * backends' point fates; the refused points kept in Redis. */
void stats_collect_backends(struct relay *r, const struct emitter *e);
void stats_collect_proxy(struct relay *r, const struct emitter *e);
void stats_collect_backend_fates(struct relay *r, const struct emitter *e);
void stats_collect_rejected(struct relay *r, const struct emitter *e);

#endif

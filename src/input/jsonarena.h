/*
 * jsonarena.h -- YAJL's memory: one arena, reset after every document.
 *
 * Owns the allocator json.c hands YAJL.  It must never grow past its fixed size: what does not fit
 * goes to malloc and back at once.
 */
#ifndef TS_JSONARENA_H
#define TS_JSONARENA_H

#include <yajl/yajl_parse.h>

/* Sets the arena up (json_init calls it once, at start). */
void jsonarena_init(void);
/* The allocator for a new document (the arena starts empty), or NULL
 * (YAJL's own) when json_init found no memory for it. */
yajl_alloc_funcs *jsonarena_funcs(void);
/* The document is done: its allocations are forgotten. */
void jsonarena_reset(void);

#endif

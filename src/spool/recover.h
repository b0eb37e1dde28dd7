/*
 * recover.h -- a (re)connected spool finds what Redis holds for it.
 *
 * Owns recovery, on every connection: a backend's entries of the layout
 * before instances (<prefix>:inflight:B, the entries being delivered at a
 * crash, then <prefix>:spool:B) are moved, in order, in front of this
 * instance's list (<prefix>:<instance>:spool:B), then the list is
 * measured (LLEN, MEMORY USAGE): a list that is not empty puts the backend
 * in spool mode, so it is drained before anything newer.  The spool is
 * ready once every backend is recovered.  It must never move an entry out
 * of order and never drop one.
 */
#ifndef TS_RECOVER_H
#define TS_RECOVER_H

#include "spool/spool_state.h"

/* Recovers every backend's list (the spool goes SP_RECOVERING ->
 * SP_READY once all are). */
void recover_all(struct spool *sp);
/* Recovers one backend's list (a reload added it, or recover_all). */
void recover_one(struct spool_backend *sb);

#endif

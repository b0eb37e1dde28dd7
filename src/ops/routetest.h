/*
 * routetest.h -- tsrelay -T: where each line on stdin would go.
 *
 * Owns the route test (carbon-c-relay's -t for tsrelay): a configuration's
 * groups and rules built as the relay builds them, over its backends'
 * names, with nothing started -- no socket, no loop, no spool -- and each
 * input line validated as a client's, put through the rules and routed,
 * with a short account of what happened printed for it (the format is
 * tsrelay(8)'s, ROUTE TEST).  Every backend counts as up.  It must never
 * open a socket.
 */
#ifndef TS_ROUTETEST_H
#define TS_ROUTETEST_H

#include <stddef.h>
#include <stdio.h>

#include "base/config.h"

/* Builds cfg's groups and rules (the patterns compiled) and frees them:
 * what -t checks beyond config_load.  TS_OK, or TS_ERROR with err
 * written ("FILE:LINE: [rule NAME] match: ..."). */
int routetest_check(const struct config *cfg, char *err, size_t errlen);
/* Reads lines from in until its end, writes each one's account to out.
 * TS_OK, or TS_ERROR with err written (the flow could not be built). */
int routetest_run(const struct config *cfg, FILE *in, FILE *out, char *err, size_t errlen);

#endif

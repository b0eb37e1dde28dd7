/*
 * statuspage.h -- the HTML status page (GET /tsrelay/) and what it loads.
 *
 * Owns the rendering of one self-contained HTML document: server-rendered
 * tables of current values (readable with JavaScript off), inline CSS and
 * script (src/ops/statuspage.css, src/ops/statuspage.js, compiled in), and the
 * chart library's files when the build found dygraphs.  It links to no
 * outside URL, escapes every value it puts in HTML, shows no secret and
 * prints no configuration value it was not written to show.  It only
 * reads state; status.c serves what it renders.
 */
#ifndef TS_STATUSPAGE_H
#define TS_STATUSPAGE_H

#include <stdbool.h>
#include <stddef.h>

struct relay;

/* The whole page.  Writes at most cap bytes and returns the length; a
 * result of cap - 1 or more means it did not fit (render again larger). */
size_t statuspage_format(struct relay *r, char *out, size_t cap);
/* Only the tables (the page's #tables element), for its refresh. */
size_t statuspage_format_tables(struct relay *r, char *out, size_t cap);

/* A file the page loads from /tsrelay/...: true with its content type and
 * bytes (static, never freed); false when unknown or not compiled in. */
bool statuspage_asset(const char *path, size_t path_len, const char **ctype, const char **body,
                      size_t *len);
/* The chart library was compiled in. */
bool statuspage_has_charts(void);

#endif

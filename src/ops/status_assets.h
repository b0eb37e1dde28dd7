/*
 * status_assets.h -- files compiled into the binary for the status page.
 *
 * The definitions are generated at build time (src/status_assets.c, from
 * src/embed-asset.sh): the page's own script and style sheet always, and
 * the dygraphs chart library, its style sheet and its licence when
 * configure found them (length 0 otherwise).  Read-only; never freed.
 */
#ifndef TS_STATUS_ASSETS_H
#define TS_STATUS_ASSETS_H

#include <stddef.h>

extern const unsigned char status_page_js[];
extern const size_t status_page_js_len;
extern const unsigned char status_page_css[];
extern const size_t status_page_css_len;
extern const unsigned char status_dygraph_js[];
extern const size_t status_dygraph_js_len;
extern const unsigned char status_dygraph_css[];
extern const size_t status_dygraph_css_len;
extern const unsigned char status_dygraph_license[];
extern const size_t status_dygraph_license_len;

#endif

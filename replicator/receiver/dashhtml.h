/* The dashboard's HTML pages (docs/dashboard.md), drawn from the JSON of
 * dashdata.h: server-rendered, inline CSS and SVG, no script, nothing
 * fetched; every string from the store escaped. Pure. */
#ifndef NESTOR_RECEIVER_DASHHTML_H
#define NESTOR_RECEIVER_DASHHTML_H

#include <stddef.h>

#include <jansson.h>

/* Each returns the page, malloc'd (caller frees), its length in *len;
 * NULL when out of memory. */
char *dashhtml_overview(const json_t *o, size_t *len);
char *dashhtml_group(const json_t *g, size_t *len);
char *dashhtml_point(const json_t *p, size_t *len);

#endif

/* Escaping text for HTML: every string that reaches a page (group, VM and
 * disk names, drill errors: peer input) goes through here. */
#ifndef NESTOR_COMMON_HTMLESC_H
#define NESTOR_COMMON_HTMLESC_H

#include <stdio.h>

/* Write s (NULL = nothing) to f escaped for HTML text and quoted attribute
 * values: & < > " ' as entities, control characters but tab and newline
 * as U+FFFD. */
void htmlesc_put(FILE *f, const char *s);

/* The same as a malloc'd string (caller frees); NULL when out of memory. */
char *htmlesc(const char *s);

#endif

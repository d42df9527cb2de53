/* Text into HTML: element content and quoted attribute values, for pages
 * that show strings from the network or a guest (names, console output). */
#ifndef NESTOR_COMMON_HTMLESC_H
#define NESTOR_COMMON_HTMLESC_H

#include <stdio.h>

/* Write s to f with & < > " ' as character references and control
 * characters other than tab and newline as U+FFFD, so no byte of s can
 * open markup or end an attribute. NULL writes nothing. */
void htmlesc_fputs(const char *s, FILE *f);

#endif

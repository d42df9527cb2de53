/* Allocating printf (common/strfmt.h). */
#define _GNU_SOURCE /* vasprintf */
#include "common/strfmt.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

char *
strfmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		log_error("out of memory");
		return NULL;
	}
	return s;
}

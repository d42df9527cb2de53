/* Test-only pause points (testhook.h): read from the environment at each
 * call, so nothing is set up and production runs never see them. */
#include "common/testhook.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

bool
testhook_armed(const char *fmt, ...)
{
	const char *want = getenv("NESTOR_TEST_PAUSE");
	char point[128];
	va_list ap;

	if (!want || !*want)
		return false;
	va_start(ap, fmt);
	vsnprintf(point, sizeof(point), fmt, ap);
	va_end(ap);
	return strcmp(want, point) == 0;
}

void
testhook_pause(const char *point)
{
	log_warn("test hook: pid %ld stops at %s (NESTOR_TEST_PAUSE)", (long)getpid(), point);
	raise(SIGSTOP);
}

void
testhook_at(const char *point)
{
	if (testhook_armed("%s", point))
		testhook_pause(point);
}

/* Consistency level names and their order (common/consistency.h). */
#include "common/consistency.h"

#include <string.h>

static const char *const consistency_names[] = {
	[CONS_UNKNOWN] = "unknown",
	[CONS_NOT_PIT] = "not-point-in-time",
	[CONS_CRASH] = "crash-consistent",
	[CONS_APP] = "app-consistent",
};

const char *
consistency_name(int level)
{
	if (level < CONS_UNKNOWN || level > CONS_APP)
		level = CONS_UNKNOWN;
	return consistency_names[level];
}

int
consistency_parse(const char *name, size_t len)
{
	if (!name)
		return CONS_UNKNOWN;
	for (int l = CONS_NOT_PIT; l <= CONS_APP; l++)
		if (strlen(consistency_names[l]) == len &&
		    memcmp(consistency_names[l], name, len) == 0)
			return l;
	return CONS_UNKNOWN;
}

int
consistency_weakest(int a, int b)
{
	return a < b ? a : b;
}

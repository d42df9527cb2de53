/* The retention policy text of receiver.conf (`retention = 1h:all,24h:1h`)
 * parsed into tiers; pure. Applying it to a store is receiver/retention.c. */
#include "replicator/retention-policy.h"

#include <string.h>

#include "common/parse.h"

#define NS_PER_S 1000000000ull
/* 100 years: far beyond any sensible tier, far below uint64 nanoseconds. */
#define RETENTION_MAX_S (100ull * 366 * 86400)

/* "<digits><unit>" of [p, p + len) in nanoseconds. */
static int
parse_span(const char *p, size_t len, uint64_t *ns)
{
	static const struct {
		char unit;
		uint64_t s;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 } };
	char digits[24];
	uint64_t v, mult = 0;

	if (len < 2 || len - 1 >= sizeof(digits))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (p[len - 1] == units[i].unit)
			mult = units[i].s;
	if (mult == 0)
		return -1;
	memcpy(digits, p, len - 1);
	digits[len - 1] = '\0';
	if (parse_u64(digits, &v) < 0 || v == 0 || v > RETENTION_MAX_S / mult)
		return -1;
	*ns = v * mult * NS_PER_S;
	return 0;
}

int
retention_parse(const char *text, struct retention_policy *out, const char **why)
{
	struct retention_policy p = { 0 };
	const char *s = text;
	uint64_t prev_interval = 0;

	*why = "'forever' or AGE:INTERVAL[,AGE:INTERVAL...] such as 1h:all,24h:1h,7d:1d";
	if (!s[0])
		return -1;
	if (strcmp(s, "forever") == 0) {
		p.forever = true;
		*out = p;
		return 0;
	}
	for (;;) {
		size_t len = strcspn(s, ","), alen;
		const char *colon = memchr(s, ':', len);
		struct retention_tier *t;

		if (p.ntiers == RETENTION_MAX_TIERS) {
			*why = "at most 16 tiers";
			return -1;
		}
		t = &p.tiers[p.ntiers];
		if (!colon) {
			*why = "forever, or AGE:INTERVAL for each tier, e.g. 24h:1h (units s, m, h, d, w)";
			return -1;
		}
		alen = (size_t)(colon - s);
		if (parse_span(s, alen, &t->age_ns) < 0) {
			*why = "an age such as 90s, 30m, 24h, 7d or 2w";
			return -1;
		}
		if (len - alen - 1 == 3 && memcmp(colon + 1, "all", 3) == 0) {
			t->interval_ns = 0;
		} else if (parse_span(colon + 1, len - alen - 1, &t->interval_ns) < 0) {
			*why = "an interval such as 1h or 'all'";
			return -1;
		}
		if (p.ntiers > 0 && t->age_ns <= p.tiers[p.ntiers - 1].age_ns) {
			*why = "tier ages in increasing order";
			return -1;
		}
		if (t->interval_ns > t->age_ns) {
			*why = "each tier's interval no longer than its age";
			return -1;
		}
		/* Nested buckets keep the decisions of successive runs consistent. */
		if (prev_interval && (t->interval_ns == 0 || t->interval_ns % prev_interval)) {
			*why = "each interval a multiple of the previous tier's ('all' only first)";
			return -1;
		}
		prev_interval = t->interval_ns;
		p.ntiers++;
		s += len;
		if (!*s)
			break;
		s++;
	}
	*out = p;
	return 0;
}

#define MIN_NS (60 * NS_PER_S)
#define HOUR_NS (3600 * NS_PER_S)
#define DAY_NS (86400 * NS_PER_S)

/* RETENTION_DEFAULT, spelled out (tests/unit/test-retention.c checks that
 * the text parses to it). */
static const struct retention_policy retention_builtin = {
	4,
	{ { 15 * MIN_NS, 0 }, { DAY_NS, MIN_NS }, { 7 * DAY_NS, HOUR_NS },
	  { 30 * DAY_NS, DAY_NS } },
	false,
};

const struct retention_policy *
retention_default(void)
{
	return &retention_builtin;
}

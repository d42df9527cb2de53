/* A retention policy as configured: tiers of (age, interval), parsed from
 * receiver.conf's `retention =` text. Plain data and a pure parser, shared by
 * the configuration (replicator/config-receiver.c) and the receiver's retention. */
#ifndef NESTOR_REPLICATOR_RETENTION_POLICY_H
#define NESTOR_REPLICATOR_RETENTION_POLICY_H

#include <stddef.h>
#include <stdint.h>

#define RETENTION_MAX_TIERS 16

/* Points younger than age_ns are kept one per interval_ns (0 = all). */
struct retention_tier {
	uint64_t age_ns;
	uint64_t interval_ns;
};

/* Tiers by increasing age; points older than the last tier are removed. */
struct retention_policy {
	size_t ntiers;
	struct retention_tier tiers[RETENTION_MAX_TIERS];
};

/* Parse "AGE:INTERVAL[,AGE:INTERVAL...]" such as "1h:all,24h:1h,7d:1d"
 * (units s, m, h, d, w; INTERVAL "all" = every point). Ages must increase,
 * each interval must be at most its age and a multiple of the previous
 * tier's interval (so a point kept once is never wanted after a younger one
 * was removed). 0 / -1 with *why describing the problem (static text). */
int retention_parse(const char *text, struct retention_policy *out, const char **why);

#endif

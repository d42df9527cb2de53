/* A retention policy as configured: tiers of (age, interval), parsed from
 * receiver.conf's `retention =` text. Plain data and a pure parser, shared by
 * the configuration (replicator/config-receiver.c) and the receiver's retention. */
#ifndef NESTOR_REPLICATOR_RETENTION_POLICY_H
#define NESTOR_REPLICATOR_RETENTION_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RETENTION_MAX_TIERS 16

/* Points younger than age_ns are kept one per interval_ns (0 = all). */
struct retention_tier {
	uint64_t age_ns;
	uint64_t interval_ns;
};

/* Tiers by increasing age; points older than the last tier are removed.
 * forever (`retention = forever`, no tiers): every point is kept. */
struct retention_policy {
	size_t ntiers;
	struct retention_tier tiers[RETENTION_MAX_TIERS];
	bool forever;
};

/* What a group without a retention key keeps (issue 17: bounded for a group
 * at sub-second RPO; docs/retention.md, "The default"). */
#define RETENTION_DEFAULT "15m:all,1d:1m,1w:1h,30d:1d"
/* RETENTION_DEFAULT's tiers (static). */
const struct retention_policy *retention_default(void);

/* Parse "forever" or "AGE:INTERVAL[,AGE:INTERVAL...]" such as "1h:all,24h:1h,7d:1d"
 * (units s, m, h, d, w; INTERVAL "all" = every point). Ages must increase,
 * each interval must be at most its age and a multiple of the previous
 * tier's interval (so a point kept once is never wanted after a younger one
 * was removed). 0 / -1 with *why describing the problem (static text). */
int retention_parse(const char *text, struct retention_policy *out, const char **why);

#endif

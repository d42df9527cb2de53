/* Unit tests for replicator/retention: tier parsing, the pure keep/remove
 * policy (a table of cases) and the [group] retention key of receiver.conf. */
#include "replicator/receiver/retention.h"
#include "replicator/config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define S 1000000000ull
#define H (3600 * S)
#define D (24 * H)

Test(retention, parse_good)
{
	struct retention_policy p;
	const char *why;

	cr_assert_eq(retention_parse("1h:all,24h:1h,7d:1d", &p, &why), 0);
	cr_assert_eq(p.ntiers, 3);
	cr_assert_eq(p.tiers[0].age_ns, H);
	cr_assert_eq(p.tiers[0].interval_ns, 0);
	cr_assert_eq(p.tiers[1].age_ns, 24 * H);
	cr_assert_eq(p.tiers[1].interval_ns, H);
	cr_assert_eq(p.tiers[2].age_ns, 7 * D);
	cr_assert_eq(p.tiers[2].interval_ns, D);

	cr_assert_eq(retention_parse("4s:all,20s:4s", &p, &why), 0);
	cr_assert_eq(p.ntiers, 2);
	cr_assert_eq(p.tiers[1].interval_ns, 4 * S);
	cr_assert_eq(retention_parse("30d:1d,8w:1w", &p, &why), 0);
	cr_assert_eq(p.tiers[1].interval_ns, 7 * D);
	cr_assert_eq(retention_parse("90m:all", &p, &why), 0);
	cr_assert_eq(p.tiers[0].age_ns, 90 * 60 * S);
}

Test(retention, parse_bad)
{
	static const char *const bad[] = {
		"", "1h", "1h:", ":all", "1h:all,", ",1h:all", "1x:all", "0h:all", "1h:0m",
		"-1h:all", "1 h:all", "1h:all,1h:1m",   /* ages must increase */
		"2h:all,1h:1m",                          /* ... strictly */
		"1h:2h",                                 /* interval beyond age */
		"1h:all,24h:1h,7d:all",                  /* all only first */
		"1h:7m,24h:1h",                          /* 1h is no multiple of 7m */
		"100000d:all",                           /* beyond 100 years */
		"1h:all;24h:1h", "1h:ALL",
	};
	struct retention_policy p = { .ntiers = 42 };
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(retention_parse(bad[i], &p, &why), -1, "accepted '%s'", bad[i]);
		cr_assert(why && why[0], "no reason for '%s'", bad[i]);
		cr_assert_eq(p.ntiers, 42, "'%s' changed the output", bad[i]);
	}
	cr_assert_eq(retention_parse("1h:all,1h:all,1h:all,1h:all,1h:all,1h:all,1h:all,1h:all,"
				     "1h:all,1h:all,1h:all,1h:all,1h:all,1h:all,1h:all,1h:all,"
				     "1h:all", &p, &why), -1);
}

/* One policy case: point times (seconds), now (seconds), expected keep mask
 * as a string of 'k' (keep) and '-' (remove), oldest first. */
struct decide_case {
	const char *policy;
	uint64_t times[16];
	size_t n;
	uint64_t now;
	const char *expect;
};

static const struct decide_case cases[] = {
	/* one point: always kept, even when far beyond every tier */
	{ "4s:all", { 100 }, 1, 1000, "k" },
	/* beyond the last tier: removed, except the newest */
	{ "4s:all", { 1, 2, 3, 10, 11 }, 5, 11, "---kk" },
	/* age exactly equal to a tier's age belongs to the next tier */
	{ "4s:all", { 7, 8, 11 }, 3, 11, "-kk" },
	/* all-tier keeps everything young */
	{ "1h:all", { 1, 2, 3, 4, 5 }, 5, 6, "kkkkk" },
	/* one per 4 s bucket, the oldest of each: buckets [8,12) [12,16) */
	{ "4s:all,20s:4s", { 8, 9, 11, 12, 13, 15, 24, 25 }, 8, 25, "k--k--kk" },
	/* the bucket is judged against the previous point even if it expired */
	{ "4s:all,20s:4s", { 3, 5, 9, 22, 23 }, 5, 24, "-kkkk" },
	{ "4s:all,20s:4s", { 4, 5, 9, 22, 23 }, 5, 24, "--kkk" },
	/* previous point in the same bucket but expired: still not first */
	{ "4s:all,20s:4s", { 4, 6, 30 }, 3, 25, "--k" },
	/* hourly then daily tiers */
	{ "1h:all,24h:1h,7d:1d",
	  { 0, 3600, 5400, 100000, 110000, 7 * 86400, 8 * 86400 - 7200, 8 * 86400 - 3000,
	    8 * 86400 - 2000, 8 * 86400 - 10 },
	  10, 8 * 86400,
	  /* 0: 8 d old -> gone; 3600, 5400: > 7 d; 100000: day 1 bucket, first -> k;
	   * 110000: same day -> -; 7 d: exactly 1 d old -> daily tier, first -> k;
	   * 8 d - 2 h: 2 h old, hour bucket first -> k; 8 d - 3000 s: < 1 h -> k */
	  "---k-kkkkk" },
	/* time going backwards (clock step): age 0, kept by the first tier */
	{ "4s:all,20s:4s", { 10, 30, 20, 31 }, 4, 31, "-kkk" },
	/* not sorted buckets: a point after a later-bucket point starts again */
	{ "20s:10s", { 10, 25, 15, 26 }, 4, 27, "kkkk" },
};

static void
mask(const bool *keep, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = keep[i] ? 'k' : '-';
	out[n] = '\0';
}

Test(retention, decide_table)
{
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct decide_case *tc = &cases[c];
		struct retention_policy p;
		uint64_t t[16];
		bool keep[16];
		char got[17];
		const char *why;

		cr_assert_eq(retention_parse(tc->policy, &p, &why), 0, "case %zu: %s", c, why);
		for (size_t i = 0; i < tc->n; i++)
			t[i] = tc->times[i] * S;
		memset(keep, 0, sizeof(keep));
		retention_decide(&p, t, tc->n, tc->now * S, 1, keep);
		mask(keep, tc->n, got);
		cr_assert_str_eq(got, tc->expect, "case %zu (%s): got %s, expected %s", c,
				 tc->policy, got, tc->expect);
	}
}

/* retention_min_points: the newest N are kept whatever the policy says. */
Test(retention, decide_min_points)
{
	static const struct {
		const char *policy;
		uint64_t times[8];
		size_t n, min;
		uint64_t now;
		const char *expect;
	} mc[] = {
		/* all beyond the last tier: only the newest min survive */
		{ "4s:all", { 1, 2, 3, 4, 5 }, 5, 3, 100, "--kkk" },
		{ "4s:all", { 1, 2, 3, 4, 5 }, 5, 1, 100, "----k" },
		{ "4s:all", { 1, 2, 3, 4, 5 }, 5, 9, 100, "kkkkk" },
		/* thinning inside a tier yields to the minimum too */
		{ "4s:all,20s:4s", { 8, 9, 10, 11, 24 }, 5, 3, 25, "k-kkk" },
		{ "4s:all,20s:4s", { 8, 9, 10, 11, 24 }, 5, 1, 25, "k---k" },
	};

	for (size_t c = 0; c < sizeof(mc) / sizeof(mc[0]); c++) {
		struct retention_policy p;
		uint64_t t[8];
		bool keep[8];
		char got[9];
		const char *why;

		cr_assert_eq(retention_parse(mc[c].policy, &p, &why), 0);
		for (size_t i = 0; i < mc[c].n; i++)
			t[i] = mc[c].times[i] * S;
		retention_decide(&p, t, mc[c].n, mc[c].now * S, mc[c].min, keep);
		mask(keep, mc[c].n, got);
		cr_assert_str_eq(got, mc[c].expect, "min case %zu: got %s, expected %s", c, got,
				 mc[c].expect);
	}
}

/* Applying the policy after every new point must never remove a point that
 * a single application over the whole history would keep later: replay a
 * point every second and check the invariant "once removed, never wanted". */
Test(retention, decide_incremental_consistent)
{
	struct retention_policy p;
	const char *why;
	uint64_t all[64], cur[64];
	bool keep[64], removed[64] = { false };
	size_t ncur = 0;

	cr_assert_eq(retention_parse("4s:all,20s:4s,60s:12s", &p, &why), 0);
	for (size_t k = 0; k < 64; k++) {
		size_t w = 0;

		all[k] = (1000 + k * 7 / 4) * S + (k % 3) * (S / 3);
		cur[ncur++] = k;
		{
			uint64_t t[64];

			for (size_t i = 0; i < ncur; i++)
				t[i] = all[cur[i]];
			retention_decide(&p, t, ncur, all[k], 1, keep);
		}
		for (size_t i = 0; i < ncur; i++) {
			if (keep[i])
				cur[w++] = cur[i];
			else
				removed[cur[i]] = true;
		}
		ncur = w;
		/* the survivors are a fixpoint: a second run removes nothing */
		{
			uint64_t t[64];

			for (size_t i = 0; i < ncur; i++)
				t[i] = all[cur[i]];
			retention_decide(&p, t, ncur, all[k], 1, keep);
			for (size_t i = 0; i < ncur; i++)
				cr_assert(keep[i], "step %zu: point %zu kept once, removed on rerun", k,
					  cur[i]);
		}
	}
	/* everything younger than 4 s at the end is still there */
	for (size_t k = 0; k < 64; k++)
		if (all[63] - all[k] < 4 * S)
			cr_assert(!removed[k], "young point %zu removed", k);
}

/* The default's text and its tiers are the same policy; at 1.6 points a
 * second for a year it keeps a bounded number of points. */
Test(retention, default_is_bounded)
{
	const struct retention_policy *d = retention_default();
	struct retention_policy p;
	const char *why;
	static uint64_t times[200000];
	static bool keep[200000];
	size_t n = 0, kept = 0;

	cr_assert_eq(retention_parse(RETENTION_DEFAULT, &p, &why), 0);
	cr_assert_eq(p.ntiers, d->ntiers);
	for (size_t i = 0; i < p.ntiers; i++) {
		cr_assert_eq(p.tiers[i].age_ns, d->tiers[i].age_ns);
		cr_assert_eq(p.tiers[i].interval_ns, d->tiers[i].interval_ns);
	}
	cr_assert(!d->forever);
	cr_assert_eq(retention_parse("forever", &p, &why), 0);
	cr_assert(p.forever);
	cr_assert_eq(p.ntiers, 0);
	/* The last 40 days of a year of points (older ones are gone whatever
	 * the rate), 200,000 of them 17.28 s apart */
	for (uint64_t t = 0; t < 40 * D && n < 200000; t += 40 * D / 200000)
		times[n++] = 365 * D + t;
	retention_decide(d, times, n, times[n - 1], 3, keep);
	for (size_t i = 0; i < n; i++)
		kept += keep[i];
	/* 15 min of all points (53 here), 1440 - 15 minutes, 144 hours, 23
	 * days: at most 1440 + 15 min of points + 167 whatever the rate */
	cr_assert_leq(kept, 53 + 1440 + 144 + 30, "%zu kept", kept);
	cr_assert_geq(kept, 1440);
}

Test(retention, receiver_config_group)
{
	static const char head[] =
		"[receiver]\nlisten = 127.0.0.1:7000\nca = /c\ncert = /c\nkey = /k\nstore = /s\n";
	struct receiver_config *c = NULL;
	char text[1024];
	const struct retention_policy *p;

	snprintf(text, sizeof(text), "%s\n[group g1]\nretention = 1h:all,24h:1h\n[group g2]\n",
		 head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), 0);
	p = receiver_config_retention(c, "g1");
	cr_assert_not_null(p);
	cr_assert_eq(p->ntiers, 2);
	/* issue 17: no key is the bounded default, no longer keep all */
	cr_assert_eq(receiver_config_retention(c, "g2"), retention_default());
	cr_assert_eq(receiver_config_retention(c, "g3"), retention_default());
	receiver_config_free(c);
	c = NULL;

	/* forever keeps every point; [receiver] retention is every other
	 * group's */
	snprintf(text, sizeof(text), "%sretention = 2h:all\n\n[group g1]\nretention = forever\n"
		 "[group g2]\nretention = 1h:all\n", head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), 0);
	cr_assert_null(receiver_config_retention(c, "g1"));
	cr_assert_eq(receiver_config_retention(c, "g2")->tiers[0].age_ns, H);
	cr_assert_eq(receiver_config_retention(c, "g3")->tiers[0].age_ns, 2 * H);
	receiver_config_free(c);
	c = NULL;
	snprintf(text, sizeof(text), "%sretention = forever\n\n[group g1]\nretention = 1h:all\n",
		 head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), 0);
	cr_assert_null(receiver_config_retention(c, "g2"));
	cr_assert_not_null(receiver_config_retention(c, "g1"));
	receiver_config_free(c);
	c = NULL;
	snprintf(text, sizeof(text), "%sretention = forever,1h:all\n", head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), -1);

	snprintf(text, sizeof(text), "%s\n[group g1]\nretention = 1h:2h\n", head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), -1);
	snprintf(text, sizeof(text), "%s\n[group g1]\nkeep = 1\n", head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), -1);
	snprintf(text, sizeof(text), "%s\n[group g1]\n[group g1]\n", head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), -1);
	snprintf(text, sizeof(text), "%s\n[group ../x]\n", head);
	cr_assert_eq(receiver_config_load_string("t.conf", text, &c), -1);
	cr_assert_null(c);
}

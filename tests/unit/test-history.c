/* Unit tests of a group's history rules (issue 12, section 1): BEGIN
 * admission by point id and snapshot time (history_check_begin), the
 * immutability window (history_immutable, and the store refusing a removal
 * inside it), retention counting on the receiver's clock only (agent times
 * skewed by a year change nothing), and the receiver.conf keys. The store
 * parts use a hand-written catalog in a temp dir: deciding and refusing
 * touch no disk data, so no qemu is needed. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/clock.h"
#include "replicator/config.h"
#include "replicator/receiver/catalog.h"
#include "replicator/receiver/history.h"
#include "replicator/receiver/retention.h"
#include "replicator/receiver/store.h"
#include "tmpdir.h"

#define S 1000000000ull
#define YEAR (365ull * 86400 * S)
#define T0 1700000000000000000ull /* a receiver time, 2023 */

TMPDIR_SUITE(history, root, "nestor-history");

Test(history, begin_ids)
{
	/* newest 5, no pending: only 6 */
	struct history_group h = { 5, T0, T0, 0 };
	uint64_t t = T0 + S;

	cr_assert_eq(history_check_begin(&h, 6, t, T0 + 2 * S, 300 * S), STORE_OK);
	cr_assert_eq(history_check_begin(&h, 5, t, T0 + 2 * S, 300 * S), STORE_ERR_SEQUENCE);
	cr_assert_eq(history_check_begin(&h, 7, t, T0 + 2 * S, 300 * S), STORE_ERR_SEQUENCE);
	cr_assert_eq(history_check_begin(&h, (uint64_t)INT64_MAX, t, T0 + 2 * S, 300 * S),
		     STORE_ERR_SEQUENCE);
	cr_assert_eq(history_check_begin(&h, UINT64_MAX, t, T0 + 2 * S, 300 * S),
		     STORE_ERR_SEQUENCE);
	/* pending 6: resumed (6) or discarded for 7; 8 is a jump */
	h.pending_id = 6;
	cr_assert_eq(history_check_begin(&h, 6, t, T0 + 2 * S, 300 * S), STORE_OK);
	cr_assert_eq(history_check_begin(&h, 7, t, T0 + 2 * S, 300 * S), STORE_OK);
	cr_assert_eq(history_check_begin(&h, 8, t, T0 + 2 * S, 300 * S), STORE_ERR_SEQUENCE);
	/* an empty group starts at 1 (or follows its pending point) */
	h = (struct history_group){ 0 };
	cr_assert_eq(history_check_begin(&h, 1, 1, T0, 300 * S), STORE_OK);
	cr_assert_eq(history_check_begin(&h, 2, 1, T0, 300 * S), STORE_ERR_SEQUENCE);
	h.pending_id = 1;
	cr_assert_eq(history_check_begin(&h, 2, 1, T0, 300 * S), STORE_OK);
}

Test(history, begin_times)
{
	struct history_group h = { 5, T0, T0, 0 };
	uint64_t now = T0 + 60 * S;

	/* within the skew ahead of the receiver's clock: fine; beyond: refused */
	cr_assert_eq(history_check_begin(&h, 6, now + 300 * S, now, 300 * S), STORE_OK);
	cr_assert_eq(history_check_begin(&h, 6, now + 300 * S + 1, now, 300 * S),
		     STORE_ERR_FUTURE);
	cr_assert_eq(history_check_begin(&h, 6, now + YEAR, now, 300 * S), STORE_ERR_FUTURE);
	cr_assert_eq(history_check_begin(&h, 6, UINT64_MAX, now, 300 * S), STORE_ERR_FUTURE);
	/* not after the newest point: refused, also far in the past */
	cr_assert_eq(history_check_begin(&h, 6, T0, now, 300 * S), STORE_ERR_PAST);
	cr_assert_eq(history_check_begin(&h, 6, T0 - YEAR, now, 300 * S), STORE_ERR_PAST);
	cr_assert_eq(history_check_begin(&h, 6, 0, now, 300 * S), STORE_ERR_PAST);
	cr_assert_eq(history_check_begin(&h, 6, T0 + 1, now, 300 * S), STORE_OK);
	/* the empty group has no floor */
	h = (struct history_group){ 0 };
	cr_assert_eq(history_check_begin(&h, 1, 1, now, 300 * S), STORE_OK);
	/* a newest point dated a year ahead (stored before the rule) does not
	 * lock the group out: its time counts as received + skew at most */
	h = (struct history_group){ 5, T0 + YEAR, T0, 0 };
	cr_assert_eq(history_check_begin(&h, 6, T0 + 300 * S + 1, now + 300 * S, 300 * S),
		     STORE_OK);
	cr_assert_eq(history_check_begin(&h, 6, T0 + 300 * S, now + 300 * S, 300 * S),
		     STORE_ERR_PAST);
}

Test(history, immutable_window)
{
	cr_assert_not(history_immutable(T0, T0 + 10 * S, 0));        /* off */
	cr_assert(history_immutable(T0, T0 + 10 * S, 11 * S));
	cr_assert_not(history_immutable(T0, T0 + 10 * S, 10 * S));   /* just out */
	cr_assert(history_immutable(T0 + 5 * S, T0, 10 * S));        /* clock stepped back */
	cr_assert(history_immutable(T0, T0, 1));
}

/* <root>/grp/catalog.json with n points: receiver times one second apart
 * from rx0, agent times agent[i]. */
static void
write_catalog(size_t n, const uint64_t *agent, uint64_t rx0)
{
	struct catalog cat = { 0 };
	char gdir[128];

	snprintf(gdir, sizeof(gdir), "%s/grp", root);
	cr_assert_eq(mkdir(gdir, 0750), 0);
	for (size_t i = 0; i < n; i++) {
		struct store_disk_info disk[1];
		struct store_point_info pi = { .disks = disk };

		pi.id = i + 1;
		pi.base_id = i;
		pi.time_ns = agent[i];
		pi.received_ns = rx0 + i * S;
		pi.committed_ns = pi.received_ns + S / 2;
		pi.ndisks = 1;
		snprintf(disk[0].name, sizeof(disk[0].name), "vda");
		disk[0].size = 1 << 20;
		cr_assert_eq(catalog_append(&cat, &pi), 0);
	}
	cr_assert_eq(catalog_save(gdir, &cat), 0);
	catalog_free(&cat);
}

static char *
ids_text(const uint64_t *ids, size_t n)
{
	char *s = calloc(1, n * 8 + 1);

	cr_assert_not_null(s);
	for (size_t i = 0; i < n; i++)
		sprintf(s + strlen(s), "%s%llu", i ? " " : "", (unsigned long long)ids[i]);
	return s;
}

#define NPTS 100

/* 100 points whose agent times jump a year ahead and back: retention keeps
 * exactly what the policy gives on the receiver times, and the same set as
 * for an agent with a sane clock. */
Test(history, retention_ignores_agent_times)
{
	uint64_t skewed[NPTS], sane[NPTS], rx[NPTS], kept_ids[NPTS];
	bool keep[NPTS], keep_agent[NPTS];
	struct retention_policy p;
	struct retention_result res;
	struct store *st;
	const char *why;
	char *want, *got, *got_sane;
	size_t nk = 0;

	cr_assert_eq(retention_parse("2s:all,10s:2s", &p, &why), 0);
	for (size_t i = 0; i < NPTS; i++) {
		rx[i] = T0 + i * S;
		sane[i] = rx[i] - S / 3;
		skewed[i] = i % 3 == 0 ? rx[i] + YEAR : i % 3 == 1 ? rx[i] - YEAR : rx[i];
	}
	retention_decide(&p, rx, NPTS, rx[NPTS - 1], 3, keep);
	for (size_t i = 0; i < NPTS; i++)
		if (keep[i])
			kept_ids[nk++] = i + 1;
	want = ids_text(kept_ids, nk);
	/* the agent's times would decide otherwise: the test can fail */
	retention_decide(&p, skewed, NPTS, skewed[NPTS - 1], 3, keep_agent);
	cr_assert_neq(memcmp(keep, keep_agent, sizeof(keep)), 0);

	write_catalog(NPTS, skewed, T0);
	st = store_open(root, NULL);
	cr_assert_not_null(st);
	cr_assert_eq(retention_apply(st, root, "grp", &p, 3, true, &res), 0);
	cr_assert_eq(res.now_ns, rx[NPTS - 1]); /* the newest arrival, not the clock */
	got = ids_text(res.kept, res.nkept);
	cr_assert_str_eq(got, want);
	cr_assert_eq(res.nkept + res.nremoved, NPTS);
	retention_result_clear(&res);
	store_free(st);

	tmpdir_remove(root);
	cr_assert_eq(mkdir(root, 0700), 0);
	write_catalog(NPTS, sane, T0);
	st = store_open(root, NULL);
	cr_assert_eq(retention_apply(st, root, "grp", &p, 3, true, &res), 0);
	got_sane = ids_text(res.kept, res.nkept);
	cr_assert_str_eq(got_sane, want);
	retention_result_clear(&res);
	store_free(st);
	free(want);
	free(got);
	free(got_sane);
}

static void
window_rules(const void *arg, const char *group, struct store_rules *out)
{
	(void)group;
	out->immutable_ns = *(const uint64_t *)arg;
}

/* The store itself refuses to remove a point inside the window, whoever
 * asks; retention reports such points as kept and immutable. */
Test(history, store_refuses_immutable_removal)
{
	uint64_t agent[4], window, rx0 = clock_now_ns() - 3600 * S;
	struct store_point_info *pts;
	struct retention_policy p;
	struct retention_result res;
	struct store *st;
	const char *why;
	size_t n;

	/* received an hour ago, a second apart; the agent's times a year on */
	for (size_t i = 0; i < 4; i++)
		agent[i] = rx0 + YEAR + i * S;
	write_catalog(4, agent, rx0);
	st = store_open(root, NULL);
	cr_assert_not_null(st);
	window = 2 * 3600 * S;
	store_set_rules(st, window_rules, &window);
	cr_assert_eq(store_point_remove(st, "grp", 1, NULL, NULL), 2);
	cr_assert_eq(store_point_remove(st, "grp", 2, NULL, NULL), 2);
	cr_assert_eq(store_list_points(st, "grp", &pts, &n), 0);
	cr_assert_eq(n, 4);
	free(pts);

	cr_assert_eq(retention_parse("1s:all", &p, &why), 0);
	cr_assert_eq(retention_apply(st, root, "grp", &p, 1, false, &res), 0);
	cr_assert_eq(res.nremoved, 0);
	cr_assert_eq(res.nkept, 4);
	cr_assert_eq(res.nimmutable, 3);
	retention_result_clear(&res);
	/* the agent's year-ahead times do not shorten the window either:
	 * 30 minutes from the receiver times still covers them */
	window = 3600 * S + 1800 * S;
	cr_assert_eq(store_point_remove(st, "grp", 1, NULL, NULL), 2);
	cr_assert_eq(store_list_points(st, "grp", &pts, &n), 0);
	cr_assert_eq(n, 4);
	free(pts);

	/* the window off: the dry run names them, the store would go ahead
	 * (the removal itself needs disk data, tested in test-store) */
	window = 0;
	cr_assert_eq(retention_apply(st, root, "grp", &p, 1, true, &res), 0);
	cr_assert_eq(res.nremoved, 3);
	cr_assert_eq(res.nimmutable, 0);
	retention_result_clear(&res);
	store_free(st);
}

static const char rx_head[] =
	"[receiver]\nlisten = 127.0.0.1:7000\nca = /c\ncert = /c\nkey = /k\nstore = /s\n";

static struct receiver_config *
conf(const char *tail)
{
	struct receiver_config *c = NULL;
	char *text = NULL;

	cr_assert(asprintf(&text, "%s%s", rx_head, tail) > 0);
	(void)receiver_config_load_string("t.conf", text, &c);
	free(text);
	return c;
}

Test(history, config_keys)
{
	struct receiver_config *c = conf("");
	struct receiver_history_cfg h;

	cr_assert_not_null(c);
	receiver_config_history(c, "any", &h);
	cr_assert_eq(h.max_clock_skew_s, 300);
	cr_assert_eq(h.immutable_s, 0);
	cr_assert_eq(h.min_points, 3);
	receiver_config_free(c);

	c = conf("max_clock_skew = 30s\nimmutable = 7d\nretention_min_points = 5\n"
		 "[group g1]\nimmutable = 0\nretention_min_points = 10\n"
		 "[group g2]\nmax_clock_skew = 1h\n");
	cr_assert_not_null(c);
	receiver_config_history(c, "g1", &h);
	cr_assert_eq(h.max_clock_skew_s, 30);
	cr_assert_eq(h.immutable_s, 0);
	cr_assert_eq(h.min_points, 10);
	receiver_config_history(c, "g2", &h);
	cr_assert_eq(h.max_clock_skew_s, 3600);
	cr_assert_eq(h.immutable_s, 7 * 86400);
	cr_assert_eq(h.min_points, 5);
	receiver_config_history(c, "g3", &h);
	cr_assert_eq(h.immutable_s, 7 * 86400);
	receiver_config_free(c);

	cr_assert_null(conf("max_clock_skew = 0\n"));
	cr_assert_null(conf("max_clock_skew = 2d\n"));
	cr_assert_null(conf("immutable = 7w\n"));
	cr_assert_null(conf("immutable = 3661d\n"));
	cr_assert_null(conf("retention_min_points = 0\n"));
	cr_assert_null(conf("[group g]\nretention_min_points = many\n"));
	cr_assert_null(conf("[group g]\nimmutable = -1d\n"));
}

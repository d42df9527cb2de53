/* Unit tests of failover/accel: the remembered KVM verdict (and the
 * report fields that say where a run's accelerator came from). Only a fresh
 * verdict for this very host, kernel and QEMU is used; anything else
 * (another key, too old, corrupt, unreadable) means probe again. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "failover/accel.h"
#include "failover/report.h"
#include "tmpdir.h"

TMPDIR_SUITE(accel, root, "nestor-accel");

#define NOW_NS 1800000000000000000ull
#define DAY_NS (86400ull * 1000000000ull)

static char *
vpath(void)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/%s", root, ACCEL_VERDICT_FILE) > 0);
	return p;
}

static struct accel_key
key(const char *host, const char *kernel, const char *qemu)
{
	struct accel_key k;

	memset(&k, 0, sizeof(k));
	snprintf(k.host, sizeof(k.host), "%s", host);
	snprintf(k.kernel, sizeof(k.kernel), "%s", kernel);
	snprintf(k.qemu, sizeof(k.qemu), "%s", qemu);
	return k;
}

static void
put(const char *path, const char *text)
{
	cr_assert_eq(file_write_atomic(path, text, strlen(text), 0644), 0);
}

/* 1 and a reason, *c cleared */
static void
assert_none(const char *path, const struct accel_key *k, uint64_t now, const char *want)
{
	struct accel_cached c = { .verdict = ACCEL_KVM, .probed_ns = 1 };
	const char *why = NULL;

	cr_assert_eq(accel_verdict_load(path, k, now, &c, &why), 1);
	cr_assert_eq(c.verdict, ACCEL_NONE);
	cr_assert_eq(c.probed_ns, 0);
	cr_assert_not_null(why);
	cr_assert(strstr(why, want), "why '%s', want '%s'", why, want);
}

Test(accel, host_key)
{
	struct accel_key k;
	struct utsname u;

	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(accel_key_host(&k, 7002022), 0);
	cr_assert_str_eq(k.host, u.nodename);
	cr_assert_str_eq(k.kernel, u.release);
	cr_assert_str_eq(k.qemu, "7.2.22");
	cr_assert_eq(accel_key_host(&k, 10001000), 0);
	cr_assert_str_eq(k.qemu, "10.1.0");
}

Test(accel, fresh_verdict_round_trips)
{
	char *p = vpath();
	struct accel_key k = key("dr1", "6.18.44", "7.2.22");
	struct accel_cached c;
	const char *why = NULL;
	struct stat sb;
	json_t *j;

	assert_none(p, &k, NOW_NS, "no verdict");
	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_TCG, NOW_NS), 0);
	cr_assert_eq(accel_verdict_load(p, &k, NOW_NS + DAY_NS, &c, &why), 0);
	cr_assert_eq(c.verdict, ACCEL_TCG);
	cr_assert_eq(c.probed_ns, NOW_NS);
	/* the file says what it holds for, readable by an operator */
	j = json_load_file(p, 0, NULL);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "verdict")), "tcg");
	cr_assert_str_eq(json_string_value(json_object_get(j, "kernel")), "6.18.44");
	cr_assert_str_eq(json_string_value(json_object_get(j, "probed")), "2027-01-15T08:00:00Z");
	json_decref(j);
	/* replaced durably, no temporary left */
	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_KVM, NOW_NS + 2), 0);
	cr_assert_eq(accel_verdict_load(p, &k, NOW_NS + 2, &c, &why), 0);
	cr_assert_eq(c.verdict, ACCEL_KVM);
	cr_assert_eq(c.probed_ns, NOW_NS + 2);
	{
		char *tmp = NULL;

		cr_assert(asprintf(&tmp, "%s.tmp", p) > 0);
		cr_assert_eq(stat(tmp, &sb), -1);
		free(tmp);
	}
	/* what a verdict cannot be is refused before anything is written */
	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_NONE, NOW_NS), -1);
	cr_assert_eq(accel_verdict_load(p, &k, NOW_NS + 2, &c, &why), 0);
	cr_assert_eq(c.verdict, ACCEL_KVM);
	free(p);
}

Test(accel, key_mismatch_means_probe_again)
{
	char *p = vpath();
	struct accel_key k = key("dr1", "6.18.44", "7.2.22");
	struct accel_key other_host = key("dr2", "6.18.44", "7.2.22");
	struct accel_key other_kernel = key("dr1", "6.18.45", "7.2.22");
	struct accel_key other_qemu = key("dr1", "6.18.44", "8.0.0");

	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_TCG, NOW_NS), 0);
	assert_none(p, &other_host, NOW_NS, "another host");
	assert_none(p, &other_kernel, NOW_NS, "another host, kernel or QEMU");
	assert_none(p, &other_qemu, NOW_NS, "another host, kernel or QEMU");
	free(p);
}

Test(accel, stale_or_future_means_probe_again)
{
	char *p = vpath();
	struct accel_key k = key("dr1", "6.18.44", "7.2.22");
	struct accel_cached c;
	const char *why = NULL;
	uint64_t max = (uint64_t)ACCEL_VERDICT_MAX_AGE_S * 1000000000ull;

	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_TCG, NOW_NS), 0);
	cr_assert_eq(accel_verdict_load(p, &k, NOW_NS + max, &c, &why), 0);
	assert_none(p, &k, NOW_NS + max + 1, "older than");
	/* the clock went back: the verdict cannot be dated */
	assert_none(p, &k, NOW_NS - 1, "future");
	free(p);
}

Test(accel, corrupt_file_means_probe_again)
{
	char *p = vpath();
	struct accel_key k = key("dr1", "6.18.44", "7.2.22");
	static const char *const bad[] = {
		"",
		"{\"version\":1,",
		"[1,2]",
		"not json",
		/* every field right but one */
		"{\"version\":2,\"host\":\"dr1\",\"kernel\":\"6.18.44\",\"qemu\":\"7.2.22\","
		"\"verdict\":\"tcg\",\"probed_ns\":1800000000000000000}",
		"{\"version\":1,\"host\":\"dr1\",\"kernel\":\"6.18.44\",\"qemu\":\"7.2.22\","
		"\"verdict\":\"maybe\",\"probed_ns\":1800000000000000000}",
		"{\"version\":1,\"host\":\"dr1\",\"kernel\":\"6.18.44\",\"qemu\":\"7.2.22\","
		"\"verdict\":\"tcg\",\"probed_ns\":-5}",
		"{\"version\":1,\"host\":\"dr1\",\"kernel\":\"6.18.44\",\"qemu\":\"7.2.22\","
		"\"verdict\":\"tcg\",\"probed_ns\":\"1800000000000000000\"}",
		"{\"version\":1,\"host\":\"dr1\",\"kernel\":6,\"qemu\":\"7.2.22\","
		"\"verdict\":\"tcg\",\"probed_ns\":1800000000000000000}",
		"{\"version\":1,\"host\":\"dr1\",\"kernel\":\"6.18.44\",\"qemu\":\"7.2.22\","
		"\"verdict\":\"tcg\"}",
		/* a duplicate key could hide which verdict holds */
		"{\"version\":1,\"host\":\"dr1\",\"kernel\":\"6.18.44\",\"qemu\":\"7.2.22\","
		"\"verdict\":\"kvm\",\"verdict\":\"tcg\",\"probed_ns\":1800000000000000000}",
	};
	const char *good = "{\"version\":1,\"host\":\"dr1\",\"kernel\":\"6.18.44\","
			   "\"qemu\":\"7.2.22\",\"verdict\":\"tcg\",\"probed_ns\":1800000000000000000}";
	struct accel_cached c;
	const char *why = NULL;

	/* the control: this exact text is a verdict */
	put(p, good);
	cr_assert_eq(accel_verdict_load(p, &k, NOW_NS, &c, &why), 0);
	cr_assert_eq(c.verdict, ACCEL_TCG);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(p, bad[i]);
		assert_none(p, &k, NOW_NS, "malformed");
	}
	/* larger than any verdict file: not read */
	{
		char *big = malloc(8192);

		cr_assert_not_null(big);
		memset(big, ' ', 8191);
		big[0] = '{';
		big[8190] = '}';
		big[8191] = '\0';
		put(p, big);
		free(big);
		assert_none(p, &k, NOW_NS, "unreadable");
	}
	/* a new save repairs it */
	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_KVM, NOW_NS), 0);
	cr_assert_eq(accel_verdict_load(p, &k, NOW_NS, &c, &why), 0);
	cr_assert_eq(c.verdict, ACCEL_KVM);
	free(p);
}

Test(accel, unreadable_means_probe_again)
{
	char *p = vpath();
	struct accel_key k = key("dr1", "6.18.44", "7.2.22");

	/* a directory where the file should be */
	cr_assert_eq(mkdir(p, 0755), 0);
	assert_none(p, &k, NOW_NS, "unreadable");
	free(p);
}

Test(accel, save_fails_cleanly)
{
	char *p = NULL;
	struct accel_key k = key("dr1", "6.18.44", "7.2.22");

	cr_assert(asprintf(&p, "%s/missing/%s", root, ACCEL_VERDICT_FILE) > 0);
	cr_assert_eq(accel_verdict_save(p, &k, ACCEL_TCG, NOW_NS), -1);
	free(p);
}

/* The report says where its accelerator came from, so an RTO is read
 * with it (failover/report.c). */
Test(accel, report_fields)
{
	struct report r = { .kvm = false, .accel_source = "cache", .started_ns = NOW_NS };
	json_t *j = report_json(&r);

	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "accel")), "tcg");
	cr_assert_str_eq(json_string_value(json_object_get(j, "accel_source")), "cache");
	cr_assert(json_is_true(json_object_get(j, "accel_cached")));
	cr_assert_float_eq(json_real_value(json_object_get(j, "accel_fallback_s")), 0.0, 1e-9);
	json_decref(j);

	r.accel_source = "probe";
	r.accel_fallback_s = 7.4844;
	j = report_json(&r);
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "accel_source")), "probe");
	cr_assert(json_is_false(json_object_get(j, "accel_cached")));
	cr_assert_float_eq(json_real_value(json_object_get(j, "accel_fallback_s")), 7.484, 1e-9);
	json_decref(j);

	/* no boot reached: no source, nothing cached */
	r.accel_source = NULL;
	r.accel_fallback_s = 0;
	j = report_json(&r);
	cr_assert_not_null(j);
	cr_assert(json_is_null(json_object_get(j, "accel_source")));
	cr_assert(json_is_false(json_object_get(j, "accel_cached")));
	json_decref(j);
}

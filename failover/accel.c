/* The accelerator verdict file (failover/accel.h): one small JSON object,
 * read strictly (anything unexpected means "probe again"), replaced
 * atomically. */
#define _GNU_SOURCE
#include "failover/accel.h"

#include <stdbool.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/jsonfile.h"
#include "common/lockfile.h"
#include "common/log.h"

#define ACCEL_FILE_MAX 4096
#define ACCEL_FILE_VERSION 1

int
accel_key_host(struct accel_key *k, unsigned long qemu_version)
{
	struct utsname u;

	memset(k, 0, sizeof(*k));
	if (uname(&u) < 0) {
		log_error("uname: %m");
		return -1;
	}
	snprintf(k->host, sizeof(k->host), "%s", u.nodename);
	snprintf(k->kernel, sizeof(k->kernel), "%s", u.release);
	snprintf(k->qemu, sizeof(k->qemu), "%lu.%lu.%lu", qemu_version / 1000000,
		 qemu_version / 1000 % 1000, qemu_version % 1000);
	return 0;
}

const char *
accel_verdict_name(enum accel_verdict v)
{
	return v == ACCEL_KVM ? "kvm" : v == ACCEL_TCG ? "tcg" : "none";
}

/* obj[key] is a string equal to want. */
static bool
str_is(const json_t *obj, const char *key, const char *want)
{
	const json_t *j = json_object_get(obj, key);

	return json_is_string(j) && strcmp(json_string_value(j), want) == 0;
}

/* The verdict of a parsed file for k at now_ns: 0 (*c filled), 1 (not for
 * k or not fresh: *why), -1 malformed. */
static int
verdict_of(const json_t *root, const struct accel_key *k, uint64_t now_ns,
	   struct accel_cached *c, const char **why)
{
	const json_t *v = json_object_get(root, "verdict");
	uint64_t version, probed;

	if (jsonfile_u64(root, "version", UINT32_MAX, &version, NULL) < 0 ||
	    version != ACCEL_FILE_VERSION ||
	    jsonfile_u64(root, "probed_ns", INT64_MAX, &probed, NULL) < 0 ||
	    !json_is_string(v) || !json_is_string(json_object_get(root, "host")) ||
	    !json_is_string(json_object_get(root, "kernel")) ||
	    !json_is_string(json_object_get(root, "qemu")))
		return -1;
	if (!strcmp(json_string_value(v), "kvm"))
		c->verdict = ACCEL_KVM;
	else if (!strcmp(json_string_value(v), "tcg"))
		c->verdict = ACCEL_TCG;
	else
		return -1;
	if (!str_is(root, "host", k->host) || !str_is(root, "kernel", k->kernel) ||
	    !str_is(root, "qemu", k->qemu)) {
		*why = "probed on another host, kernel or QEMU";
		return 1;
	}
	if (probed > now_ns || now_ns - probed > (uint64_t)ACCEL_VERDICT_MAX_AGE_S * 1000000000u) {
		*why = "older than 30 days or from the future";
		return 1;
	}
	c->probed_ns = probed;
	return 0;
}

int
accel_verdict_load(const char *path, const struct accel_key *k, uint64_t now_ns,
		   struct accel_cached *c, const char **why)
{
	json_t *root = NULL;
	json_error_t jerr;
	int r;

	memset(c, 0, sizeof(*c));
	r = jsonfile_read(path, ACCEL_FILE_MAX, JSON_REJECT_DUPLICATES, &root, &jerr);
	if (r == 1) {
		*why = "no verdict yet";
		return 1;
	}
	if (r == 0)
		r = verdict_of(root, k, now_ns, c, why);
	else if (r == -1)
		*why = "unreadable"; /* logged by jsonfile_read */
	if (r < -1 || (r == -1 && root)) {
		*why = "malformed";
		log_warn("accel verdict %s: malformed: KVM is probed again", path);
	}
	json_decref(root);
	if (r == 0)
		return 0;
	memset(c, 0, sizeof(*c));
	return 1;
}

int
accel_verdict_save(const char *path, const struct accel_key *k, enum accel_verdict v,
		   uint64_t now_ns)
{
	char when[CLOCK_ISO_LEN];
	char *dir = strdup(path);
	json_t *root = NULL;
	int dfd = -1, ret = -1;

	if (!dir) {
		log_error("out of memory");
		goto out;
	}
	clock_iso8601(now_ns, when, sizeof(when));
	root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:s}", "version", ACCEL_FILE_VERSION,
			 "host", k->host, "kernel", k->kernel, "qemu", k->qemu,
			 "verdict", accel_verdict_name(v), "probed_ns", (json_int_t)now_ns,
			 "probed", when);
	if (!root || (v != ACCEL_KVM && v != ACCEL_TCG)) {
		log_error("accel verdict %s: cannot encode verdict %s", path,
			  accel_verdict_name(v));
		goto out;
	}
	/* drills of other groups may save at the same moment: one writer of
	 * the shared temporary file at a time */
	if ((dfd = lockfile_take(dirname(dir), 0, true, "accel verdict")) < 0)
		goto out;
	ret = jsonfile_save(path, root, JSON_INDENT(2), 0644);
out:
	lockfile_release(dfd);
	json_decref(root);
	free(dir);
	return ret;
}

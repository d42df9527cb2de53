/* cutover.json (cutover.h): the on-prem cutover's state, one step forward
 * at a time, durable before the step it allows is taken. */
#define _GNU_SOURCE
#include "failback/cutover.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"

#define CUTOVER_FILE    "cutover.json"
#define CUTOVER_VERSION 1
#define CUTOVER_MAX     (64u * 1024)
#define CUTOVER_ID_MAX  (UINT64_C(1) << 62)

static const char *const state_names[] = {
	[CUTOVER_NONE] = "none",
	[CUTOVER_REQUESTED] = "requested",
	[CUTOVER_SYNCED] = "synced",
	[CUTOVER_COMMITTING] = "committing",
	[CUTOVER_COMMITTED] = "committed",
	[CUTOVER_STARTED] = "started",
	[CUTOVER_VERIFIED] = "verified",
	[CUTOVER_RELEASED] = "released",
};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *
cutover_state_name(enum cutover_state s)
{
	return (unsigned)s < NSTATES ? state_names[s] : "?";
}

static int
state_parse(const char *name)
{
	for (size_t i = 0; name && i < NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0)
			return (int)i;
	return -1;
}

int
cutover_abortable(enum cutover_state s)
{
	return s <= CUTOVER_SYNCED;
}

/* What a record in state s must carry: the points it names so far. */
static int
cutover_valid(const struct cutover *c, const char *what)
{
	if ((c->state >= CUTOVER_SYNCED) != (c->reverse_point != 0) ||
	    (c->state == CUTOVER_RELEASED) != (c->forward_point != 0) ||
	    (c->domains_started && c->state < CUTOVER_STARTED) ||
	    c->reverse_point > CUTOVER_ID_MAX || c->forward_point > CUTOVER_ID_MAX) {
		log_error("failback: %s: state %s with reverse point %" PRIu64 " and forward "
			  "point %" PRIu64 ": not a cutover's", what, cutover_state_name(c->state),
			  c->reverse_point, c->forward_point);
		return -1;
	}
	return 0;
}

/* "domains_started": absent (written before it existed) is false. */
static int
load_started(const json_t *j, struct cutover *out, const char *path)
{
	const json_t *v = json_object_get(j, "domains_started");

	if (v && !json_is_boolean(v)) {
		log_error("failback: %s: domains_started is not a boolean", path);
		return -1;
	}
	out->domains_started = json_is_true(v);
	return 0;
}

int
cutover_load(const char *gdir, struct cutover *out)
{
	char *path = strfmt("%s/" CUTOVER_FILE, gdir);
	json_t *j = NULL;
	int r, s, rc = -1;

	memset(out, 0, sizeof(*out));
	if (!path)
		return -1;
	r = jsonfile_load(path, CUTOVER_MAX, JSON_REJECT_DUPLICATES, &j);
	if (r == 1) {
		rc = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	s = state_parse(json_string_value(json_object_get(j, "state")));
	if (json_integer_value(json_object_get(j, "version")) != CUTOVER_VERSION || s <= 0) {
		log_error("failback: %s: not a cutover state of version %d", path, CUTOVER_VERSION);
		goto out;
	}
	out->state = (enum cutover_state)s;
	if (jsonfile_u64(j, "reverse_point", CUTOVER_ID_MAX, &out->reverse_point, path) < 0 ||
	    jsonfile_u64(j, "forward_point", CUTOVER_ID_MAX, &out->forward_point, path) < 0 ||
	    load_started(j, out, path) < 0 || cutover_valid(out, path) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	json_decref(j);
	free(path);
	return rc;
}

/* next may follow cur: the same state with the same points, or the next
 * state keeping the points already recorded. */
static int
transition_ok(const struct cutover *cur, const struct cutover *next, const char *path)
{
	bool same = next->state == cur->state, step = next->state == cur->state + 1;
	bool keeps = (cur->reverse_point == 0 || next->reverse_point == cur->reverse_point) &&
		     (cur->forward_point == 0 || next->forward_point == cur->forward_point) &&
		     (!cur->domains_started || next->domains_started);

	if ((same && next->reverse_point == cur->reverse_point &&
	     next->forward_point == cur->forward_point &&
	     next->domains_started == cur->domains_started) || (step && keeps))
		return 0;
	log_error("failback: %s: %s (reverse point %" PRIu64 ") cannot become %s (reverse point %"
		  PRIu64 "): a cutover only goes forward, one step at a time", path,
		  cutover_state_name(cur->state), cur->reverse_point,
		  cutover_state_name(next->state), next->reverse_point);
	return -1;
}

int
cutover_advance(const char *gdir, const struct cutover *next)
{
	char *path = strfmt("%s/" CUTOVER_FILE, gdir);
	char when[CLOCK_ISO_LEN];
	struct cutover cur;
	json_t *j = NULL;
	int rc = -1;

	if (!path || (unsigned)next->state >= NSTATES || next->state == CUTOVER_NONE ||
	    cutover_valid(next, path ? path : gdir) < 0 || cutover_load(gdir, &cur) < 0 ||
	    transition_ok(&cur, next, path) < 0)
		goto out;
	if (cur.state == next->state) {
		rc = 0; /* recorded already */
		goto out;
	}
	clock_iso8601(clock_now_ns(), when, sizeof(when));
	j = json_pack("{s:i, s:s, s:I, s:I, s:b, s:s}", "version", CUTOVER_VERSION, "state",
		      cutover_state_name(next->state), "reverse_point",
		      (json_int_t)next->reverse_point, "forward_point",
		      (json_int_t)next->forward_point, "domains_started", next->domains_started,
		      "updated", when);
	if (!j) {
		log_error("failback: %s: out of memory", path);
		goto out;
	}
	rc = jsonfile_save(path, j, JSON_INDENT(2) | JSON_SORT_KEYS, 0600);
	if (rc == 0)
		log_info("failback: %s: %s", gdir, cutover_state_name(next->state));
out:
	json_decref(j);
	free(path);
	return rc;
}

/* The reverse direction's summary file (revstate.h). */
#include "replicator/revstate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"

#define REVSTATE_VERSION 1
#define REVSTATE_MAX     (16u * 1024)
#define REVSTATE_U64_MAX (UINT64_C(1) << 62)

char *
revstate_agent_path(const char *state_dir, const char *group)
{
	return strfmt("%s/failback/%s/reverse.json", state_dir, group);
}

char *
revstate_rx_path(const char *store_dir, const char *group)
{
	return strfmt("%s/%s/reverse-stream.json", store_dir, group);
}

int
revstate_load(const char *path, struct revstate *out)
{
	json_t *j = NULL, *fo;
	int r, rc = -1;

	memset(out, 0, sizeof(*out));
	r = jsonfile_load(path, REVSTATE_MAX, JSON_REJECT_DUPLICATES, &j);
	if (r != 0)
		return r == 1 ? 1 : -1;
	fo = json_object_get(j, "failover");
	if (json_integer_value(json_object_get(j, "version")) != REVSTATE_VERSION ||
	    (fo && !json_is_string(fo))) {
		log_error("%s: not a reverse stream state of version %d", path, REVSTATE_VERSION);
		goto out;
	}
	if (jsonfile_u64(j, "points", REVSTATE_U64_MAX, &out->points, path) < 0 ||
	    jsonfile_u64(j, "last_point", REVSTATE_U64_MAX, &out->last_point, path) < 0 ||
	    jsonfile_u64(j, "last_time_ns", REVSTATE_U64_MAX, &out->last_time_ns, path) < 0 ||
	    jsonfile_u64(j, "last_bytes", REVSTATE_U64_MAX, &out->last_bytes, path) < 0 ||
	    jsonfile_u64(j, "bytes_total", REVSTATE_U64_MAX, &out->bytes_total, path) < 0)
		goto out;
	if ((out->points == 0) != (out->last_point == 0)) {
		log_error("%s: %llu points but newest point %llu", path,
			  (unsigned long long)out->points, (unsigned long long)out->last_point);
		goto out;
	}
	out->released = json_is_true(json_object_get(j, "released"));
	snprintf(out->failover, sizeof(out->failover), "%s", fo ? json_string_value(fo) : "");
	rc = 0;
out:
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	json_decref(j);
	return rc;
}

int
revstate_save(const char *path, const struct revstate *rs)
{
	json_t *j = json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:b, s:s}", "version",
			      REVSTATE_VERSION, "points", (json_int_t)rs->points, "last_point",
			      (json_int_t)rs->last_point, "last_time_ns",
			      (json_int_t)rs->last_time_ns, "last_bytes", (json_int_t)rs->last_bytes,
			      "bytes_total", (json_int_t)rs->bytes_total, "released", rs->released,
			      "failover", rs->failover);
	int rc;

	if (!j) {
		log_error("%s: out of memory", path);
		return -1;
	}
	rc = jsonfile_save(path, j, JSON_INDENT(2) | JSON_SORT_KEYS, 0600);
	json_decref(j);
	return rc;
}

int
revstate_note(const char *path, uint64_t point, uint64_t time_ns, uint64_t bytes,
	      const char *failover)
{
	struct revstate rs;

	/* Unreadable: start again rather than stop the stream over a figure. */
	if (revstate_load(path, &rs) < 0)
		log_warn("%s: counted again from this point", path);
	if (failover && strcmp(rs.failover, failover) != 0) {
		/* Another failover's stream: its counts are not this one's. */
		memset(&rs, 0, sizeof(rs));
		snprintf(rs.failover, sizeof(rs.failover), "%s", failover);
	}
	if (point != rs.last_point) {
		rs.points++;
		rs.bytes_total += bytes;
	}
	rs.last_point = point;
	rs.last_time_ns = time_ns;
	rs.last_bytes = bytes;
	rs.released = false;
	return revstate_save(path, &rs);
}

const char *
revstate_direction(const struct revstate *rs, bool failed_over)
{
	if (rs && rs->points && !rs->released)
		return "reverse";
	return failed_over ? "failed_over" : "forward";
}

double
revstate_rpo(const struct revstate *rs, uint64_t now)
{
	if (!rs || !rs->last_point)
		return -1;
	return now > rs->last_time_ns ? (double)(now - rs->last_time_ns) / 1e9 : 0;
}

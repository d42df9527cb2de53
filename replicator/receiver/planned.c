/* planned.json of a group (planned.h): the request of a planned failover
 * and how far it went. The command and the receiver both rewrite it, so
 * every read-modify-write holds <group>/planned.lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/lockfile.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "replicator/receiver/planned.h"

#define PLANNED_FILE "planned.json"
#define PLANNED_LOCK "planned.lock"
#define PLANNED_RUN  "planned.run.lock"
#define PLANNED_MAX  (64u * 1024)

static const char *const state_names[] = {
	[PLANNED_REQUESTED] = "requested",
	[PLANNED_ACKNOWLEDGED] = "acknowledged",
	[PLANNED_REFUSED] = "refused",
	[PLANNED_FINAL] = "final",
	[PLANNED_ABANDONED] = "abandoned",
};

const char *
planned_state_name(enum planned_state s)
{
	return s >= PLANNED_REQUESTED && s <= PLANNED_ABANDONED ? state_names[s] : "?";
}

bool
planned_flag_due(const struct planned *p, uint64_t now_ns)
{
	return (p->state == PLANNED_REQUESTED || p->state == PLANNED_ACKNOWLEDGED) &&
	       now_ns < p->deadline_ns;
}

static char *
planned_path(const char *store_dir, const char *group, const char *name)
{
	char *p = strfmt("%s/%s/%s", store_dir, group, name);

	if (!p)
		log_error("group %s: out of memory", group);
	return p;
}

/* The group's lock file name taken (lockfile_take: LOCKFILE_HELD not
 * logged, -1 logged). */
static int
planned_lock_file(const char *store_dir, const char *group, const char *name, bool blocking)
{
	char *path = planned_path(store_dir, group, name);
	int fd = path ? lockfile_take(path, 0640, blocking, "group %s", group) : -1;

	free(path);
	return fd;
}

/* The group's lock, blocking: held for a read-modify-write only. -1 logged. */
static int
planned_lock(const char *store_dir, const char *group)
{
	return planned_lock_file(store_dir, group, PLANNED_LOCK, true);
}

static int
copy_str(const json_t *o, const char *key, char *dst, size_t cap, bool required)
{
	const json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);

	if (!v && !required) {
		dst[0] = '\0';
		return 0;
	}
	if (!s || strlen(s) >= cap)
		return -1;
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

/* JSON -> struct; -1 when a field is missing or out of range. */
static int
planned_from_json(const json_t *o, struct planned *p)
{
	const char *st = json_string_value(json_object_get(o, "state"));

	memset(p, 0, sizeof(*p));
	for (int s = PLANNED_REQUESTED; st && s <= PLANNED_ABANDONED; s++)
		if (strcmp(st, state_names[s]) == 0)
			p->state = (enum planned_state)s;
	if (p->state == 0 ||
	    copy_str(o, "id", p->id, sizeof(p->id), true) < 0 ||
	    jsonfile_u64(o, "requested_ns", UINT64_MAX >> 1, &p->requested_ns, NULL) < 0 ||
	    jsonfile_u64(o, "deadline_ns", UINT64_MAX >> 1, &p->deadline_ns, NULL) < 0 ||
	    copy_str(o, "agent", p->agent, sizeof(p->agent), false) < 0 ||
	    copy_str(o, "reason", p->reason, sizeof(p->reason), false) < 0)
		return -1;
	if (json_object_get(o, "acknowledged_ns") &&
	    jsonfile_u64(o, "acknowledged_ns", UINT64_MAX >> 1, &p->acknowledged_ns, NULL) < 0)
		return -1;
	if (p->state == PLANNED_FINAL &&
	    (jsonfile_u64(o, "point", UINT64_MAX >> 1, &p->point, NULL) < 0 || p->point == 0))
		return -1;
	if (p->state == PLANNED_ABANDONED &&
	    ((json_object_get(o, "point") &&
	      jsonfile_u64(o, "point", UINT64_MAX >> 1, &p->point, NULL) < 0) ||
	     jsonfile_u64(o, "abandoned_ns", UINT64_MAX >> 1, &p->abandoned_ns, NULL) < 0))
		return -1;
	return 0;
}

static json_t *
planned_to_json(const struct planned *p)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "state", planned_state_name(p->state),
			      "id", p->id, "requested_ns", (json_int_t)p->requested_ns,
			      "deadline_ns", (json_int_t)p->deadline_ns);

	if (o && p->agent[0]) {
		json_object_set_new(o, "agent", json_string(p->agent));
		json_object_set_new(o, "acknowledged_ns", json_integer((json_int_t)p->acknowledged_ns));
	}
	if (o && (p->state == PLANNED_FINAL || (p->state == PLANNED_ABANDONED && p->point)))
		json_object_set_new(o, "point", json_integer((json_int_t)p->point));
	if (o && p->state == PLANNED_ABANDONED)
		json_object_set_new(o, "abandoned_ns", json_integer((json_int_t)p->abandoned_ns));
	if (o && p->reason[0])
		json_object_set_new(o, "reason", json_string(p->reason));
	return o;
}

int
planned_load(const char *store_dir, const char *group, struct planned *p)
{
	char *path = planned_path(store_dir, group, PLANNED_FILE);
	json_t *o = NULL;
	json_error_t jerr;
	int ret = -1;

	if (!path)
		return -1;
	switch (jsonfile_read(path, PLANNED_MAX, JSON_REJECT_DUPLICATES, &o, &jerr)) {
	case 0:
		if (planned_from_json(o, p) == 0)
			ret = 0;
		else
			log_error("group %s: %s: malformed planned failover request", group, path);
		break;
	case 1:
		ret = 1;
		break;
	case -2:
		log_error("group %s: %s is not a JSON object: %s", group, path, jerr.text);
		break;
	default:
		break;
	}
	json_decref(o);
	free(path);
	return ret;
}

static int
planned_save(const char *store_dir, const char *group, const struct planned *p)
{
	char *path = planned_path(store_dir, group, PLANNED_FILE);
	json_t *o = planned_to_json(p);
	int ret = -1;

	if (path && o)
		ret = jsonfile_save(path, o, JSON_INDENT(2) | JSON_SORT_KEYS, 0640);
	else if (path)
		log_error("group %s: out of memory", group);
	json_decref(o);
	free(path);
	return ret;
}

int
planned_request(const char *store_dir, const char *group, uint64_t timeout_ns,
		struct planned *p)
{
	uint64_t now = clock_now_ns();
	struct planned old;
	int fd = planned_lock(store_dir, group), ret = -1, r;

	if (fd < 0)
		return -1;
	r = planned_load(store_dir, group, &old);
	if (r < 0)
		goto out;
	if (r == 0 && (planned_flag_due(&old, now) || old.state == PLANNED_FINAL)) {
		log_error("group %s: a planned failover is already %s (request %s); wait for "
			  "it or cancel it with `nestor failover --planned-cancel %s`", group,
			  planned_state_name(old.state), old.id, group);
		goto out;
	}
	memset(p, 0, sizeof(*p));
	p->state = PLANNED_REQUESTED;
	p->requested_ns = now;
	p->deadline_ns = now + timeout_ns;
	snprintf(p->id, sizeof(p->id), "%" PRIx64 "-%ld", now / 1000000u, (long)getpid());
	ret = planned_save(store_dir, group, p);
out:
	lockfile_release(fd);
	return ret;
}

/* Remove the file, the lock held. 0 / -1 (logged). */
static int
planned_unlink_locked(const char *store_dir, const char *group)
{
	char *path = planned_path(store_dir, group, PLANNED_FILE);
	char *dir = strfmt("%s/%s", store_dir, group);
	int ret = -1;

	if (!path || !dir)
		log_error("group %s: out of memory", group);
	else if (unlink(path) < 0 && errno != ENOENT)
		log_error("group %s: cannot remove %s: %m", group, path);
	else if (dir_fsync(dir) == 0)
		ret = 0;
	free(path);
	free(dir);
	return ret;
}

int
planned_take(const char *store_dir, const char *group, struct planned *last)
{
	int fd = planned_lock(store_dir, group), ret = -1, r;

	if (fd < 0)
		return -1;
	r = planned_load(store_dir, group, last);
	if (r == 1) {
		ret = 1;
		goto out;
	}
	if (r < 0) /* malformed: logged; removing it is what the caller asked */
		memset(last, 0, sizeof(*last));
	ret = planned_unlink_locked(store_dir, group);
out:
	lockfile_release(fd);
	return ret;
}

/* p (loaded, an agent acted on it) becomes abandoned for reason; saved. */
static int
planned_mark_abandoned(const char *store_dir, const char *group, struct planned *p,
		       const char *reason)
{
	p->state = PLANNED_ABANDONED;
	p->abandoned_ns = clock_now_ns();
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
	if (planned_save(store_dir, group, p) < 0)
		return -1;
	log_warn("group %s: planned failover %s abandoned (%s): agent %s is told at its next "
		 "contact that %s", group, p->id, reason, p->agent[0] ? p->agent : "(none yet)",
		 p->point ? "its final point will not be booted" : "no final point is wanted");
	return 0;
}

int
planned_abandon(const char *store_dir, const char *group, const char *reason,
		struct planned *last)
{
	int fd = planned_lock(store_dir, group), ret = -1, r;
	struct planned p;

	if (fd < 0)
		return -1;
	r = planned_load(store_dir, group, &p);
	if (r == 1) {
		ret = 1;
		goto out;
	}
	if (r < 0) /* malformed: logged; nobody can act on it */
		memset(&p, 0, sizeof(p));
	*last = p;
	if (p.state == PLANNED_ACKNOWLEDGED || p.state == PLANNED_FINAL)
		ret = planned_mark_abandoned(store_dir, group, &p, reason);
	else if (p.state == PLANNED_ABANDONED)
		ret = 0;
	else
		ret = planned_unlink_locked(store_dir, group);
out:
	lockfile_release(fd);
	return ret;
}

int
planned_expire(const char *store_dir, const char *group, struct planned *last)
{
	int fd = planned_lock(store_dir, group), ret = -1, r;
	struct planned p;

	if (fd < 0)
		return -1;
	r = planned_load(store_dir, group, &p);
	if (r == 1) {
		ret = 1;
		goto out;
	}
	if (r < 0)
		memset(&p, 0, sizeof(p));
	*last = p;
	if (p.state == PLANNED_FINAL)
		ret = 0;
	else if (p.state == PLANNED_ACKNOWLEDGED)
		ret = planned_mark_abandoned(store_dir, group, &p,
					     "no final point within the timeout");
	else
		ret = planned_unlink_locked(store_dir, group);
out:
	lockfile_release(fd);
	return ret;
}

int
planned_run_lock(const char *store_dir, const char *group)
{
	int fd = planned_lock_file(store_dir, group, PLANNED_RUN, false);

	if (fd == LOCKFILE_HELD) {
		log_error("group %s: another `nestor failover --planned` of the group "
			  "is running", group);
		fd = -1;
	}
	return fd;
}

/* Does a command hold group's run lock (it will boot a final point)? An
 * error counts as yes: never abandon on a doubt. */
static bool
planned_runner_alive(const char *store_dir, const char *group)
{
	char *path = planned_path(store_dir, group, PLANNED_RUN);
	/* Free, or never made: nobody. */
	bool alive = !path || lockfile_held(path, "group %s", group) != 0;

	free(path);
	return alive;
}

int
planned_remove(const char *store_dir, const char *group)
{
	struct planned last;

	return planned_take(store_dir, group, &last) < 0 ? -1 : 0;
}

/* Is there a request at all? A stat: the common case on every query. */
static bool
planned_exists(const char *store_dir, const char *group)
{
	char *path = planned_path(store_dir, group, PLANNED_FILE);
	struct stat sb;
	bool yes = path && stat(path, &sb) == 0;

	free(path);
	return yes;
}

enum planned_answer
planned_on_query(const char *store_dir, const char *group, const char *peer)
{
	enum planned_answer ans = PLANNED_ANSWER_NONE;
	struct planned p;
	char why[96];
	int fd;

	if (!planned_exists(store_dir, group) || (fd = planned_lock(store_dir, group)) < 0)
		return PLANNED_ANSWER_NONE;
	if (planned_load(store_dir, group, &p) != 0)
		goto out;
	/* The command holds the run lock until it has booted the final point
	 * (then the group is failed over and answered so before this) or
	 * recorded why not: without it, nobody will. */
	if (p.state == PLANNED_FINAL && !planned_runner_alive(store_dir, group)) {
		snprintf(why, sizeof(why), "the failover command ended without booting final "
			 "point %" PRIu64, p.point);
		(void)planned_mark_abandoned(store_dir, group, &p, why);
	}
	if (p.state == PLANNED_ABANDONED) {
		ans = PLANNED_ANSWER_ABANDONED;
	} else if (planned_flag_due(&p, clock_now_ns())) {
		ans = PLANNED_ANSWER_PLANNED;
		if (p.state == PLANNED_REQUESTED || strcmp(p.agent, peer) != 0) {
			p.state = PLANNED_ACKNOWLEDGED;
			snprintf(p.agent, sizeof(p.agent), "%s", peer);
			p.acknowledged_ns = clock_now_ns();
			/* The flag goes out anyway: the agent acts on it, the
			 * command only prints less. */
			(void)planned_save(store_dir, group, &p);
			log_info("group %s: planned failover %s: agent %s told to shut the "
				 "source down and send a final point", group, p.id, peer);
		}
	}
out:
	lockfile_release(fd);
	return ans;
}

void
planned_on_error(const char *store_dir, const char *group, const char *peer,
		 const char *text)
{
	struct planned p;
	int fd;

	if (!planned_exists(store_dir, group) || (fd = planned_lock(store_dir, group)) < 0)
		return;
	if (planned_load(store_dir, group, &p) == 0 && p.state == PLANNED_ACKNOWLEDGED &&
	    strcmp(p.agent, peer) == 0) {
		p.state = PLANNED_REFUSED;
		snprintf(p.reason, sizeof(p.reason), "%s", text);
		(void)planned_save(store_dir, group, &p);
		log_warn("group %s: planned failover %s refused by agent %s: %s", group, p.id,
			 peer, text);
	}
	lockfile_release(fd);
}

void
planned_on_final(const char *store_dir, const char *group, const char *peer, uint64_t point)
{
	struct planned p;
	int fd;

	if (!planned_exists(store_dir, group) || (fd = planned_lock(store_dir, group)) < 0) {
		log_warn("group %s: final point %" PRIu64 " from agent %s without a planned "
			 "failover request: kept as an ordinary point", group, point, peer);
		return;
	}
	if (planned_load(store_dir, group, &p) != 0)
		p.state = 0;
	if (p.state == PLANNED_REQUESTED || p.state == PLANNED_ACKNOWLEDGED) {
		p.state = PLANNED_FINAL;
		p.point = point;
		snprintf(p.agent, sizeof(p.agent), "%s", peer);
		if (!p.acknowledged_ns)
			p.acknowledged_ns = clock_now_ns();
		if (planned_save(store_dir, group, &p) == 0)
			log_info("group %s: planned failover %s: final point %" PRIu64
				 " committed by agent %s", group, p.id, point, peer);
	} else if (p.state == PLANNED_ABANDONED) {
		/* Begun before the request ended: the agent awaits a boot. */
		p.point = point;
		snprintf(p.agent, sizeof(p.agent), "%s", peer);
		if (planned_save(store_dir, group, &p) == 0)
			log_warn("group %s: final point %" PRIu64 " from agent %s came after "
				 "planned failover %s was abandoned (%s): kept as an ordinary "
				 "point, the agent is told", group, point, peer, p.id, p.reason);
	}
	lockfile_release(fd);
}

void
planned_on_point(const char *store_dir, const char *group, const char *peer)
{
	struct planned p;
	int fd;

	if (!planned_exists(store_dir, group) || (fd = planned_lock(store_dir, group)) < 0)
		return;
	if (planned_load(store_dir, group, &p) == 0 && p.state == PLANNED_ABANDONED &&
	    planned_unlink_locked(store_dir, group) == 0)
		log_info("group %s: agent %s resumed after abandoned planned failover %s",
			 group, peer, p.id);
	lockfile_release(fd);
}

/* The waiting side of a planned failover (planned-wait.h): the command
 * writes the request, the receiver advances it as the agent answers, and
 * this loop turns each step into one line for the operator. */
#include "failover/planned-wait.h"

#include <inttypes.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "failover/drill-run.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/owner.h"
#include "replicator/receiver/planned.h"
#include "replicator/receiver/store.h"

void
planned_fmt_duration(uint64_t ns, char *buf, size_t cap)
{
	uint64_t s = ns / 1000000000u;

	if (s >= 3600)
		snprintf(buf, cap, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", s / 3600, s / 60 % 60,
			 s % 60);
	else if (s >= 60)
		snprintf(buf, cap, "%" PRIu64 "m%" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, cap, "%" PRIu64 "s", s);
}

static void __attribute__((format(printf, 2, 3)))
say(const struct planned_wait_opts *o, const char *fmt, ...)
{
	char line[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->say)
		o->say(o->say_arg, line);
}

/* "point N committed at T" of the newest point, or why there is none:
 * the last the store heard of the agent. */
static void
last_contact(struct store *st, const char *group, uint64_t *newest, char *buf, size_t cap)
{
	struct store_point_info *pts = NULL;
	char when[64];
	size_t n = 0;

	*newest = 0;
	snprintf(buf, cap, "no point received yet");
	if (store_list_points(st, group, &pts, &n) == 0 && n > 0) {
		*newest = pts[n - 1].id;
		clock_iso8601(pts[n - 1].committed_ns, when, sizeof(when));
		snprintf(buf, cap, "point %" PRIu64 " committed at %s", pts[n - 1].id, when);
	}
	free(pts);
}

/* The deadline passed in state last.state: say why, and what to do. */
static void
planned_timed_out(struct store *st, const struct planned_wait_opts *o, const struct planned *last,
		  const char *agent)
{
	char dur[32], contact[128], when[64];
	uint64_t newest;

	planned_fmt_duration(o->timeout_ns, dur, sizeof(dur));
	last_contact(st, o->group, &newest, contact, sizeof(contact));
	if (last->state == PLANNED_ACKNOWLEDGED) {
		clock_iso8601(last->acknowledged_ns, when, sizeof(when));
		log_error("group %s: agent %s was told at %s but committed no final point "
			  "within %s (last contact: %s): the request is abandoned (the agent "
			  "is told at its next contact and resumes forward cycles); its VMs "
			  "may be shut down; check them, then run `nestor failover %s` "
			  "(unplanned) to boot the newest point %" PRIu64 ", or start the "
			  "source VMs again", o->group, last->agent, when, dur, contact, o->group,
			  newest);
		return;
	}
	log_error("group %s: agent %s did not contact the receiver within %s (last "
		  "contact: %s): the source may be down; run `nestor failover %s` "
		  "(unplanned) to boot the newest point %" PRIu64, o->group, agent, dur,
		  contact, o->group, newest);
}

/* How the final point's source went down, from its metadata: the line
 * the operator needs before trusting that nothing writes to it any more. */
static void
say_shutdown(struct store *st, const struct planned_wait_opts *o, uint64_t point)
{
	json_t *meta = NULL, *pf, *vms;
	json_error_t jerr;
	char line[1024] = "";
	size_t len = 0, off = 0;
	void *blob = NULL;

	if (store_point_meta(st, o->group, point, &blob, &len) == 0)
		meta = json_loadb(blob, len, 0, &jerr);
	free(blob);
	pf = json_object_get(meta, "planned_failover");
	vms = json_object_get(pf, "shutdown");
	if (json_array_size(vms) == 0) {
		say(o, "the source was not shut down by Nestor (%s): make sure nothing writes "
		    "to it any more", json_string_value(json_object_get(pf, "not_shut_down"))
		    ? json_string_value(json_object_get(pf, "not_shut_down"))
		    : "the point says nothing of a shutdown");
	} else {
		for (size_t i = 0; i < json_array_size(vms) && off < sizeof(line); i++) {
			json_t *v = json_array_get(vms, i);
			int n = snprintf(line + off, sizeof(line) - off, "%s%s (%s)", i ? ", " : "",
					 json_string_value(json_object_get(v, "vm")),
					 json_string_value(json_object_get(v, "how")));

			off += n > 0 ? (size_t)n : 0;
		}
		say(o, "source VMs shut down by the agent: %s", line);
	}
	json_decref(meta);
}

/* One look at the request: 1 go on waiting, 0 final (*point), -1 over. */
static int
planned_step(struct store *st, const struct planned_wait_opts *o, enum planned_state *seen,
	     uint64_t *pending_seen, uint64_t *point)
{
	struct store_progress *pr;
	struct planned p;
	int r = planned_load(o->store_dir, o->group, &p);

	if (r == 1) {
		log_error("group %s: the planned failover request was removed (cancelled "
			  "with --planned-cancel?): nothing was booted", o->group);
		return -1;
	}
	if (r < 0)
		return -1;
	if (p.state == PLANNED_ACKNOWLEDGED && *seen == PLANNED_REQUESTED)
		say(o, "agent %s answered: shutting the source VMs down, then the final point",
		    p.agent);
	if (p.state == PLANNED_REFUSED) {
		(void)planned_remove(o->store_dir, o->group);
		log_error("group %s: agent %s refused the planned failover: %s; nothing was "
			  "booted; the source VMs are as the agent left them (see its log); "
			  "run `nestor failover %s` (unplanned) to boot the newest point, or "
			  "fix the cause and ask again", o->group, p.agent, p.reason, o->group);
		return -1;
	}
	if (p.state == PLANNED_ABANDONED) {
		log_error("group %s: the planned failover was abandoned meanwhile (%s): nothing "
			  "was booted; agent %s is told at its next contact and resumes "
			  "forward cycles", o->group, p.reason, p.agent[0] ? p.agent : "(none)");
		return -1;
	}
	*seen = p.state;
	if (p.state == PLANNED_FINAL) {
		say(o, "final point %" PRIu64 " committed", p.point);
		say_shutdown(st, o, p.point);
		*point = p.point;
		return 0;
	}
	pr = malloc(sizeof(*pr));
	if (pr && store_progress(st, o->group, pr) == 0 && pr->pending_point != 0 &&
	    pr->pending_point != *pending_seen && p.state == PLANNED_ACKNOWLEDGED) {
		*pending_seen = pr->pending_point;
		say(o, "point %" PRIu64 " being received", pr->pending_point);
	}
	free(pr);
	return 1;
}

int
planned_wait(struct store *st, const struct planned_wait_opts *o, uint64_t *point)
{
	enum planned_state seen = PLANNED_REQUESTED;
	char agent[OWNER_CN_MAX + 1] = "", dur[32], contact[128];
	uint64_t pending = 0, newest;
	struct planned p, last;
	int r;

	if (failover_group_is_failed_over(o->store_dir, o->group)) {
		log_error("group %s is failed over already: nothing to plan", o->group);
		return -1;
	}
	if (owner_load(o->store_dir, o->group, agent) != 0 || !agent[0])
		snprintf(agent, sizeof(agent), "(the group's)");
	last_contact(st, o->group, &newest, contact, sizeof(contact));
	if (newest == 0) {
		log_error("group %s has no complete point in this store: its agent never "
			  "replicated it here, nothing to plan", o->group);
		return -1;
	}
	if (planned_request(o->store_dir, o->group, o->timeout_ns, &p) < 0)
		return -1;
	planned_fmt_duration(o->timeout_ns, dur, sizeof(dur));
	say(o, "planned failover of group %s requested (%s): waiting up to %s for agent %s's "
	    "next contact (last: %s)", o->group, p.id, dur, agent, contact);
	for (;;) {
		r = planned_step(st, o, &seen, &pending, point);
		if (r <= 0)
			break;
		if (drill_stopped()) {
			char when[64];

			clock_iso8601(p.deadline_ns, when, sizeof(when));
			log_error("group %s: interrupted: the request stays until %s (the agent "
				  "may still shut its VMs down and send a final point, which nobody "
				  "boots then: the agent is told and resumes); cancel it with "
				  "`nestor failover --planned-cancel %s`", o->group, when, o->group);
			return -1;
		}
		if (clock_now_ns() >= p.deadline_ns) {
			/* Under the lock: a final point recorded meanwhile wins. */
			r = planned_expire(o->store_dir, o->group, &last);
			if (r == 0 && last.state == PLANNED_FINAL) {
				say(o, "final point %" PRIu64 " committed", last.point);
				say_shutdown(st, o, last.point);
				*point = last.point;
				return 0;
			}
			if (r == 0)
				planned_timed_out(st, o, &last, agent);
			return -1;
		}
		clock_nap_ms((long)o->poll_ms);
	}
	return r;
}

int
planned_wait_lock(const struct planned_wait_opts *o)
{
	return planned_run_lock(o->store_dir, o->group);
}

int
planned_boot_done(const struct planned_wait_opts *o, uint64_t point, bool booted)
{
	struct planned last;
	char why[128];

	/* Failed over (a check failed after the boot): the agent is told that
	 * by the marker, the request has nothing left to say. */
	if (booted || failover_group_is_failed_over(o->store_dir, o->group))
		return planned_remove(o->store_dir, o->group);
	snprintf(why, sizeof(why), "the failover of final point %" PRIu64 " failed", point);
	if (planned_abandon(o->store_dir, o->group, why, &last) < 0)
		return -1;
	say(o, "final point %" PRIu64 " was not booted: the planned failover is abandoned; "
	    "agent %s is told at its next contact and resumes forward cycles (its source "
	    "VMs stay as the shutdown left them: start them again, or fix the cause and run "
	    "`nestor failover %s`)", point, last.agent[0] ? last.agent : "(unknown)", o->group);
	return 0;
}

int
planned_cancel(const char *store_dir, const char *group,
	       void (*say_fn)(void *arg, const char *line), void *say_arg)
{
	struct planned last;
	char line[2048];
	int r = planned_abandon(store_dir, group, "cancelled by the operator", &last);

	if (r == 1)
		log_error("group %s: no planned failover is requested", group);
	if (r != 0)
		return -1;
	if (last.state == PLANNED_ABANDONED) {
		/* Heard by every agent that knows the flag; an older one refuses
		 * the answer: removing it lets that one replicate again. */
		if (planned_remove(store_dir, group) < 0)
			return -1;
		snprintf(line, sizeof(line), "planned failover %s of group %s, abandoned (%s), "
			 "removed: agent %s is no longer told", last.id, group, last.reason,
			 last.agent[0] ? last.agent : "(none)");
	} else if (last.state == PLANNED_ACKNOWLEDGED || last.state == PLANNED_FINAL) {
		snprintf(line, sizeof(line), "planned failover %s of group %s cancelled; agent %s "
			 "had been told: it is told at its next contact that nothing will be "
			 "booted and resumes forward cycles; its source VMs may be shut down: "
			 "start them", last.id, group, last.agent);
	} else {
		snprintf(line, sizeof(line), "planned failover %s of group %s cancelled (%s): "
			 "no agent had acted on it", last.id[0] ? last.id : "?", group,
			 last.state ? planned_state_name(last.state) : "malformed");
	}
	if (say_fn)
		say_fn(say_arg, line);
	return 0;
}

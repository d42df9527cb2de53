/* Agent daemon: one thread per protection group running cycles back to
 * back (bounded by min_interval), back-off on failure, RPO alerts, status
 * files and Prometheus metrics; the main thread waits for signals (reload,
 * stop). Groups share nothing but the read-only configuration they were
 * started with; their state is read by the metrics thread under daemon.mu. */
#include "replicator/agent/daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/consistency.h"
#include "common/fileutil.h"
#include "common/jsonfile.h"
#include "common/log.h"
#include "replicator/agent/agent.h"
#include "replicator/agent/channel.h"
#include "replicator/config.h"
#include "replicator/metrics.h"
#include "replicator/revstate.h"
#include "snapshot/libvirt.h"

#define BACKOFF_FIRST_S 5
#define TICK_MS         200

/* A loaded configuration, shared by the group threads started from it. */
struct cfg_ref {
	struct agent_config *cfg;
	int refs; /* under daemon.mu */
};

/* A group's state: written by its thread under daemon.mu, read by the
 * status file writer (same thread) and the metrics thread. */
struct gstate {
	uint64_t started_ns;
	uint64_t last_point, last_point_ns; /* newest committed by this daemon; ns = its cycle start */
	uint64_t last_success_ns;           /* when that cycle committed */
	uint64_t failures, cycles;          /* failures: consecutive */
	uint64_t points_total, failures_total, bytes_sent_total;
	bool breached;
	bool in_cycle;
	/* The receiver said the group is failed over: no cycle snapshots, the
	 * RPO alert is off. fo_end_ns: the start of the first cycle after a
	 * failover ended; the RPO counts from it when the newest point is
	 * older (the failover's time is not a replication delay). */
	bool failed_over;
	uint64_t fo_end_ns;
	/* The planned failover's final point, committed by this thread; set
	 * (with failed_over) until the receiver says the group is failed over.
	 * Its VMs are shut down: meanwhile the thread only polls, since a
	 * cycle would copy the stopped source past the point being booted. */
	uint64_t final_point, final_ns;
	/* The last final point the receiver said nobody will boot (the
	 * planned failover was abandoned there) and when it said so: kept
	 * for the status file until the next final point. */
	uint64_t abandoned_point, abandoned_ns;
	struct agent_cycle_stats last;
	int last_ok;
};

struct gthread {
	struct daemon *d;
	struct cfg_ref *ref;
	const struct agent_group_cfg *g;
	pthread_t th;
	volatile int stop;
	struct gstate s; /* under d->mu */
	struct gthread *next;
};

struct daemon {
	pthread_mutex_t mu; /* cfg_ref counts, the thread list, every gstate */
	struct gthread *threads;
};

static void
ref_put(struct daemon *d, struct cfg_ref *r)
{
	bool last;

	pthread_mutex_lock(&d->mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&d->mu);
	if (last) {
		agent_config_free(r->cfg);
		free(r);
	}
}

/* Age of the newest point (of the start while there is none), in ns. */
static uint64_t
rpo_ns(const struct gstate *s, uint64_t now)
{
	uint64_t since = s->last_point_ns ? s->last_point_ns : s->started_ns;

	if (s->fo_end_ns > since)
		since = s->fo_end_ns;
	return now > since ? now - since : 0;
}

/* The alert: never while failed over (forward cycles are stopped on
 * purpose; the receiver's own failover event says so). */
static bool
rpo_breached(uint64_t target_s, const struct gstate *s, uint64_t now)
{
	return !s->failed_over && rpo_ns(s, now) > target_s * 1000000000ull;
}

/* A planned failover as this daemon saw it: awaiting the boot of its
 * final point, or that point abandoned at the DR site; null for neither. */
static json_t *
planned_json(const struct gstate *s)
{
	if (s->final_point)
		return json_pack("{s:s, s:I, s:I}", "state", "awaiting_failover", "final_point",
				 (json_int_t)s->final_point, "since_ns", (json_int_t)s->final_ns);
	if (s->abandoned_point)
		return json_pack("{s:s, s:I, s:I}", "state", "abandoned", "final_point",
				 (json_int_t)s->abandoned_point, "at_ns",
				 (json_int_t)s->abandoned_ns);
	return json_null();
}

/* Writes the status file from a copy of the state taken under the lock. */
static void
write_status(struct gthread *t)
{
	const struct agent_group_cfg *g = t->g;
	uint64_t now = clock_now_ns();
	struct gstate copy, *s = &copy;
	char dir[4096], path[4200];
	json_t *j;

	pthread_mutex_lock(&t->d->mu);
	copy = t->s;
	pthread_mutex_unlock(&t->d->mu);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", t->ref->cfg->state_dir, g->name) >=
	    sizeof(dir))
		return;
	snprintf(path, sizeof(path), "%s/status.json", dir);
	j = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:{s:b, s:I, s:b, s:b, s:I, s:I, s:f}, s:I}",
		      "group", g->name,
		      "failed_over", s->failed_over,
		      "last_point", (json_int_t)s->last_point,
		      "last_point_time_ns", (json_int_t)s->last_point_ns,
		      "rpo_seconds", (json_int_t)(rpo_ns(s, now) / 1000000000ull),
		      "rpo_target_seconds", (json_int_t)g->rpo_s,
		      "rpo_breached", s->breached,
		      "in_cycle", s->in_cycle,
		      "cycles", (json_int_t)s->cycles,
		      "consecutive_failures", (json_int_t)s->failures,
		      "last_cycle",
		      "ok", s->last_ok,
		      "point", (json_int_t)s->last.point_id,
		      "incremental", s->last.incremental,
		      "resync", s->last.resync,
		      "bytes_data", (json_int_t)s->last.bytes_data,
		      "bytes_wire", (json_int_t)s->last.bytes_wire,
		      "seconds", s->last.seconds,
		      "updated_ns", (json_int_t)now);
	if (j)
		json_object_set_new(json_object_get(j, "last_cycle"), "consistency",
				    json_string(consistency_name(s->last.consistency)));
	if (j)
		json_object_set_new(j, "planned", planned_json(s));
	if (j && mkdir_p(dir, 0700) == 0)
		(void)jsonfile_save(path, j, JSON_COMPACT, 0600);
	json_decref(j);
}

/* Logs a breach once when it starts and once when it ends. */
static void
check_rpo(struct gthread *t)
{
	struct gstate *s = &t->s;
	uint64_t now = clock_now_ns(), age;
	bool now_breached, changed, fo;

	pthread_mutex_lock(&t->d->mu);
	fo = s->failed_over;
	age = rpo_ns(s, now) / 1000000000ull;
	now_breached = rpo_breached(t->g->rpo_s, s, now);
	changed = now_breached != s->breached;
	s->breached = now_breached;
	pthread_mutex_unlock(&t->d->mu);
	if (!changed)
		return;
	if (now_breached)
		log_warn("group %s: RPO %" PRIu64 " s exceeds the target of %" PRIu64 " s",
			 t->g->name, age, t->g->rpo_s);
	else if (fo)
		log_info("group %s: RPO alert off while the group is failed over", t->g->name);
	else
		log_info("group %s: RPO back within its target (%" PRIu64 " s)", t->g->name, age);
	write_status(t);
}

/* Does a control poll's answer r end the wait: a failover's start or end,
 * taken up by a cycle now (one while failed over opens nothing on-prem);
 * after the final point, the failover only (the receiver answers as for
 * any group until its boot marks the group failed over). */
static bool
poll_news(struct gthread *t, int r)
{
	bool fo, awaiting;

	pthread_mutex_lock(&t->d->mu);
	fo = t->s.failed_over;
	awaiting = t->s.final_point != 0;
	pthread_mutex_unlock(&t->d->mu);
	if (awaiting)
		return r == AGENT_POLL_FAILED_OVER || r == AGENT_POLL_ABANDONED;
	return (r == AGENT_POLL_FAILED_OVER) != fo;
}

/* After a cycle (under daemon.mu): a failover's start and end, each logged
 * once, however many cycles the failover lasts. */
static void
note_failed_over(struct gthread *t, const struct agent_cycle_stats *cs, uint64_t t0)
{
	struct gstate *s = &t->s;

	if (cs->failed_over && !s->failed_over)
		log_warn("group %s is failed over at the DR site: no forward cycle until "
			 "failback", t->g->name);
	if (!cs->failed_over && s->failed_over) {
		log_info("group %s: the failover ended (released or failed back): forward "
			 "cycles resume", t->g->name);
		s->fo_end_ns = t0;
	}
	s->failed_over = cs->failed_over != 0;
}

static bool
awaiting_failover(struct gthread *t)
{
	bool w;

	pthread_mutex_lock(&t->d->mu);
	w = t->s.final_point != 0;
	pthread_mutex_unlock(&t->d->mu);
	return w;
}

/* After the final point (under daemon.mu): failed over from now on, as far
 * as this thread's cycles, alert and metrics go. */
static void
note_final(struct gthread *t, uint64_t point)
{
	log_info("group %s: final point %" PRIu64 " of the planned failover committed: no "
		 "forward cycle until the failover is released or failed back (polling "
		 "meanwhile)", t->g->name, point);
	t->s.failed_over = true;
	t->s.final_point = point;
	t->s.final_ns = clock_now_ns();
	t->s.abandoned_point = 0;
}

/* The wait between two polls for the failover: the group's interval (the
 * control poll checks meanwhile); after a failed poll no more than
 * retry_max; never less than a second. */
static uint64_t
awaiting_delay_s(const struct gthread *t, bool ok)
{
	uint64_t d = t->g->min_interval_s;

	if (!ok && d > t->ref->cfg->retry_max_s)
		d = t->ref->cfg->retry_max_s;
	if (!ok && d < BACKOFF_FIRST_S)
		d = BACKOFF_FIRST_S;
	return d ? d : 1;
}

/* Instead of a cycle while awaiting the failover: one poll, which opens
 * nothing on-prem (a failed one is logged by the poll). The failover ends
 * the wait, and so does a new request (the switch was called off and asked
 * again): the next cycle takes either up; so does the receiver's word that
 * the final point will not be booted (abandoned): forward cycles resume,
 * the source as the shutdown left it. */
static int
poll_for_failover(struct gthread *t, const struct agent_opts *o)
{
	int r = agent_control_poll(t->ref->cfg, t->g, o);
	struct gstate *s = &t->s;

	pthread_mutex_lock(&t->d->mu);
	if (r == AGENT_POLL_FAILED_OVER)
		log_info("group %s is failed over at the DR site (final point %" PRIu64 "): "
			 "polling until it is released", t->g->name, s->final_point);
	if (r == AGENT_POLL_PLANNED) {
		log_info("group %s: a planned failover is requested again", t->g->name);
		s->failed_over = false;
	}
	if (r == AGENT_POLL_ABANDONED) {
		log_warn("group %s: the DR site abandoned the planned failover: final point "
			 "%" PRIu64 " will not be booted (the failover failed, was cancelled or "
			 "its command ended; see `nestor failover` and the receiver's log "
			 "there): forward cycles resume; the source VMs stay as the shutdown "
			 "left them: start them again", t->g->name, s->final_point);
		s->failed_over = false;
		s->fo_end_ns = clock_now_ns();
		s->abandoned_point = s->final_point;
		s->abandoned_ns = s->fo_end_ns;
	}
	if (r == AGENT_POLL_FAILED_OVER || r == AGENT_POLL_PLANNED || r == AGENT_POLL_ABANDONED)
		s->final_point = 0;
	pthread_mutex_unlock(&t->d->mu);
	return r < 0 ? -1 : r;
}

static void
set_in_cycle(struct gthread *t, bool on)
{
	pthread_mutex_lock(&t->d->mu);
	t->s.in_cycle = on;
	pthread_mutex_unlock(&t->d->mu);
}

/* Until next: RPO checks and, after a good cycle, the control poll (a
 * planned failover must not wait for the next cycle). A failed poll stops
 * polling until the next cycle: one error line, not one per poll. */
static void
wait_next(struct gthread *t, const struct agent_opts *o, uint64_t next, bool poll)
{
	const struct agent_config *cfg = t->ref->cfg;
	uint64_t every = cfg->control_poll_s * 1000000000ull, next_poll = clock_now_ns() + every;

	poll = poll && every != 0;
	while (!t->stop && clock_now_ns() < next) {
		int r;

		clock_nap_ms(TICK_MS);
		check_rpo(t);
		if (!poll || t->stop || clock_now_ns() < next_poll)
			continue;
		switch ((r = agent_control_poll(cfg, t->g, o))) {
		case AGENT_POLL_PLANNED:
			log_info("group %s: planned failover requested: cycle now", t->g->name);
			return;
		case AGENT_POLL_NONE:
		case AGENT_POLL_FAILED_OVER:
		case AGENT_POLL_ABANDONED:
			if (poll_news(t, r))
				return;
			next_poll = clock_now_ns() + every;
			break;
		default:
			poll = false;
			break;
		}
	}
}

/* Cycles at most this far apart share one connection (issue 17, RPO: a
 * TLS handshake per cycle saved); groups that wait longer between cycles
 * hold no idle connection at the receiver. */
#define KEEP_CONN_MAX_INTERVAL_S 2

static void *
group_main(void *arg)
{
	struct gthread *t = arg;
	const struct agent_config *cfg = t->ref->cfg;
	struct channel *kept = NULL;
	struct agent_opts o = { .stop = &t->stop };
	struct gstate *s = &t->s;

	if (t->g->min_interval_s <= KEEP_CONN_MAX_INTERVAL_S) {
		o.keep = &kept;
		/* and the libvirt connection of its domains (NULL: none) */
		if (t->g->domains)
			o.lvkeep = snapshot_libvirt_keep_new();
	}

	log_info("group %s: replicating (RPO target %" PRIu64 " s, min interval %" PRIu64 " s)",
		 t->g->name, t->g->rpo_s, t->g->min_interval_s);
	while (!t->stop) {
		uint64_t t0 = clock_now_ns(), next, failures = 0;
		struct agent_cycle_stats cs = { 0 };
		int r;

		if (awaiting_failover(t)) {
			channel_free(kept); /* no point for a while */
			kept = NULL;
			r = poll_for_failover(t, &o);
			/* A new request (the VMs are down: a final point again),
			 * the failover, or its abandon (forward cycles again):
			 * the cycle takes it up now. */
			if (r == AGENT_POLL_PLANNED || r == AGENT_POLL_FAILED_OVER ||
			    r == AGENT_POLL_ABANDONED)
				continue;
			next = clock_now_ns() + awaiting_delay_s(t, r == 0) * 1000000000ull;
			check_rpo(t);
			write_status(t);
			wait_next(t, &o, next, r == 0);
			continue;
		}
		set_in_cycle(t, true);
		write_status(t);
		r = agent_cycle(cfg, t->g, &o, &cs);
		pthread_mutex_lock(&t->d->mu);
		s->in_cycle = false;
		s->bytes_sent_total += cs.bytes_wire;
		/* Only an answer changes what is known of a failover; a cycle
		 * that ended on it made no point and is no failure either. */
		if (!t->stop && r == 0)
			note_failed_over(t, &cs, t0);
		if (!t->stop && !(r == 0 && cs.failed_over)) {
			s->last = cs;
			s->cycles++;
			s->last_ok = r == 0;
			if (r == 0) {
				s->failures = 0;
				s->last_point = cs.point_id;
				s->last_point_ns = t0;
				s->last_success_ns = clock_now_ns();
				s->points_total++;
			} else {
				s->failures++;
				s->failures_total++;
			}
			failures = s->failures;
		}
		if (!t->stop && r == 0 && cs.final)
			note_final(t, cs.point_id);
		pthread_mutex_unlock(&t->d->mu);
		if (t->stop)
			break;
		if (r == 0) {
			next = t0 + t->g->min_interval_s * 1000000000ull;
		} else {
			uint64_t delay = BACKOFF_FIRST_S;

			for (uint64_t i = 1; i < failures && delay < cfg->retry_max_s; i++)
				delay *= 2;
			if (delay > cfg->retry_max_s)
				delay = cfg->retry_max_s;
			log_warn("group %s: cycle failed (%" PRIu64 " in a row), retrying in %" PRIu64 " s",
				 t->g->name, failures, delay);
			next = clock_now_ns() + delay * 1000000000ull;
		}
		check_rpo(t);
		write_status(t);
		wait_next(t, &o, next, r == 0);
	}
	channel_free(kept);
	snapshot_libvirt_keep_free(o.lvkeep);
	write_status(t);
	log_info("group %s: stopped", t->g->name);
	return NULL;
}

/* The daemon's /metrics page, from every running group's state. */
enum afield { A_RPO, A_TARGET, A_BREACH, A_POINTS, A_BYTES, A_CYCLE, A_FAILURES,
	      A_CONSECUTIVE, A_IN_CYCLE, A_LAST_SUCCESS, A_FAILED_OVER, A_DIRECTION, A_REV_RPO,
	      A_REV_POINTS, A_REV_BYTES };

static const struct metrics_family afamilies[] = {
	{ A_RPO, "nestor_agent_rpo_seconds", "gauge",
	  "Age of the newest point committed by this daemon (since the group started while there is none)." },
	{ A_TARGET, "nestor_agent_rpo_target_seconds", "gauge", "The group's RPO target." },
	{ A_BREACH, "nestor_agent_rpo_breach", "gauge",
	  "1 while the achieved RPO exceeds the target (the alert), else 0." },
	{ A_POINTS, "nestor_agent_points_total", "counter",
	  "Points committed by this daemon since the group started." },
	{ A_BYTES, "nestor_agent_bytes_sent_total", "counter",
	  "Frame bytes sent for the group's cycles, failed ones included." },
	{ A_CYCLE, "nestor_agent_last_cycle_seconds", "gauge", "Duration of the last finished cycle." },
	{ A_FAILURES, "nestor_agent_failures_total", "counter", "Cycles that failed since the group started." },
	{ A_CONSECUTIVE, "nestor_agent_consecutive_failures", "gauge",
	  "Cycles failed in a row since the last success." },
	{ A_IN_CYCLE, "nestor_agent_in_cycle", "gauge", "1 while a cycle is running." },
	{ A_LAST_SUCCESS, "nestor_agent_last_success_timestamp_seconds", "gauge",
	  "Unix time when the newest point was committed." },
	{ A_FAILED_OVER, "nestor_agent_failed_over", "gauge",
	  "1 while the receiver says the group is failed over: no forward cycles, no RPO alert." },
	{ A_DIRECTION, "nestor_agent_direction", "gauge",
	  "1 for the group's direction (forward, reverse: a failback streams back, failed_over), 0 for the others." },
	{ A_REV_RPO, "nestor_agent_reverse_rpo_seconds", "gauge",
	  "While failing back: age of the newest reverse point's snapshot instant." },
	{ A_REV_POINTS, "nestor_agent_reverse_points", "gauge",
	  "While failing back: reverse points in the on-prem target." },
	{ A_REV_BYTES, "nestor_agent_reverse_bytes_total", "counter",
	  "While failing back: payload bytes of the reverse points received on-prem." },
};

static const char *const directions[] = { "forward", "reverse", "failed_over" };

struct gview {
	const char *name;
	const char *state_dir;
	uint64_t target_s;
	struct gstate s;
	struct revstate rev; /* a failback's, read at the scrape */
	const char *direction;
};

/* The groups of one scrape, newest first, for agent_sample. */
struct agent_page {
	const struct gview *v;
	size_t n;
	uint64_t now;
};

static void
agent_sample(FILE *f, const struct metrics_family *fam, size_t row, void *arg)
{
	const struct agent_page *pg = arg;
	/* The list is newest first; print in start order. */
	const struct gview *v = &pg->v[pg->n - 1 - row];
	const struct gstate *s = &v->s;
	uint64_t now = pg->now;
	double val;

	switch ((enum afield)fam->id) {
	case A_RPO: val = (double)rpo_ns(s, now) / 1e9; break;
	case A_TARGET: val = (double)v->target_s; break;
	case A_BREACH: val = rpo_breached(v->target_s, s, now); break;
	case A_FAILED_OVER: val = s->failed_over; break;
	case A_POINTS: val = (double)s->points_total; break;
	case A_BYTES: val = (double)s->bytes_sent_total; break;
	case A_CYCLE:
		if (!s->cycles)
			return;
		val = s->last.seconds;
		break;
	case A_FAILURES: val = (double)s->failures_total; break;
	case A_CONSECUTIVE: val = (double)s->failures; break;
	case A_IN_CYCLE: val = s->in_cycle; break;
	case A_LAST_SUCCESS:
		if (!s->last_success_ns)
			return;
		val = (double)s->last_success_ns / 1e9;
		break;
	case A_DIRECTION:
		for (size_t i = 0; i < sizeof(directions) / sizeof(directions[0]); i++)
			metrics_put_sample_label(f, fam->name, v->name, "direction", directions[i],
						 strcmp(directions[i], v->direction) == 0);
		return;
	case A_REV_RPO:
	case A_REV_POINTS:
	case A_REV_BYTES:
		if (strcmp(v->direction, "reverse") != 0)
			return;
		val = fam->id == A_REV_RPO ? revstate_rpo(&v->rev, now)
		      : fam->id == A_REV_POINTS ? (double)v->rev.points : (double)v->rev.bytes_total;
		break;
	default:
		return;
	}
	metrics_put_sample(f, fam->name, v->name, val);
}

/* A failback's direction of v's group: its target's summary file. */
static void
gview_reverse(struct gview *v)
{
	char *path = revstate_agent_path(v->state_dir, v->name);
	bool have = path && revstate_load(path, &v->rev) == 0;

	v->direction = revstate_direction(have ? &v->rev : NULL, v->s.failed_over);
	free(path);
}

static char *
agent_render(void *arg)
{
	struct daemon *d = arg;
	struct gview *v = NULL;
	size_t n = 0, k = 0;
	char *body;
	uint64_t now;

	/* Copy under the lock, format outside it: scrapes never stall cycles. */
	pthread_mutex_lock(&d->mu);
	for (struct gthread *t = d->threads; t; t = t->next)
		n++;
	v = calloc(n + 1, sizeof(*v));
	for (struct gthread *t = d->threads; v && t; t = t->next)
		v[k++] = (struct gview){ .name = t->g->name, .state_dir = t->ref->cfg->state_dir,
					 .target_s = t->g->rpo_s, .s = t->s };
	now = clock_now_ns();
	pthread_mutex_unlock(&d->mu);
	if (!v) {
		log_error("metrics: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < k; i++)
		gview_reverse(&v[i]);
	body = metrics_page(afamilies, sizeof(afamilies) / sizeof(afamilies[0]), k, agent_sample,
			    &(struct agent_page){ v, k, now });
	free(v);
	return body;
}

static int
start_group(struct daemon *d, struct cfg_ref *ref, const struct agent_group_cfg *g)
{
	struct gthread *t = calloc(1, sizeof(*t));

	if (!t) {
		log_error("group %s: out of memory", g->name);
		return -1;
	}
	t->d = d;
	t->ref = ref;
	t->g = g;
	t->s.started_ns = clock_now_ns();
	pthread_mutex_lock(&d->mu);
	ref->refs++;
	/* Listed before it runs: it locks d->mu, and the list is read under it. */
	t->next = d->threads;
	d->threads = t;
	pthread_mutex_unlock(&d->mu);
	if (pthread_create(&t->th, NULL, group_main, t) != 0) {
		log_error("group %s: cannot start its thread", g->name);
		pthread_mutex_lock(&d->mu);
		d->threads = t->next;
		pthread_mutex_unlock(&d->mu);
		ref_put(d, ref);
		free(t);
		return -1;
	}
	return 0;
}

static void
stop_group(struct daemon *d, struct gthread *t)
{
	struct gthread **pp;

	t->stop = 1;
	/* Joined without the lock: the thread takes it until its last status. */
	pthread_join(t->th, NULL);
	pthread_mutex_lock(&d->mu);
	for (pp = &d->threads; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	pthread_mutex_unlock(&d->mu);
	ref_put(d, t->ref);
	free(t);
}

static bool
str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Settings of the agent that every group's cycles use. */
static bool
agent_eq(const struct agent_config *a, const struct agent_config *b)
{
	return str_eq(a->name, b->name) && str_eq(a->receiver_host, b->receiver_host) &&
	       a->receiver_port == b->receiver_port && str_eq(a->server_name, b->server_name) &&
	       str_eq(a->ca, b->ca) && str_eq(a->cert, b->cert) && str_eq(a->key, b->key) &&
	       str_eq(a->state_dir, b->state_dir) && a->compress_level == b->compress_level &&
	       a->compress_adapt == b->compress_adapt &&
	       a->retry_max_s == b->retry_max_s && a->planned_shutdown_s == b->planned_shutdown_s &&
	       a->control_poll_s == b->control_poll_s;
}

static bool
group_eq(const struct agent_group_cfg *a, const struct agent_group_cfg *b)
{
	if (strcmp(a->name, b->name) != 0 || a->ndisks != b->ndisks ||
	    !str_eq(a->domain_xml, b->domain_xml) || !str_eq(a->domains, b->domains) ||
	    !str_eq(a->libvirt_uri, b->libvirt_uri) || !str_eq(a->ceph_conf, b->ceph_conf) ||
	    !str_eq(a->ceph_client, b->ceph_client) || a->rpo_s != b->rpo_s ||
	    a->min_interval_s != b->min_interval_s)
		return false;
	for (size_t i = 0; i < a->ndisks; i++) {
		const struct agent_disk_cfg *x = &a->disks[i], *y = &b->disks[i];

		if (strcmp(x->name, y->name) != 0 || !str_eq(x->path, y->path) ||
		    !str_eq(x->format, y->format) || !str_eq(x->rbd, y->rbd))
			return false;
	}
	return true;
}

/* Apply a new configuration: keep the threads of unchanged groups. */
static void
reload(struct daemon *d, struct cfg_ref *next)
{
	struct gthread *t, *tn;

	for (t = d->threads; t; t = tn) {
		const struct agent_group_cfg *ng = NULL;

		tn = t->next;
		for (size_t i = 0; i < next->cfg->ngroups; i++)
			if (strcmp(next->cfg->groups[i].name, t->g->name) == 0)
				ng = &next->cfg->groups[i];
		if (ng && agent_eq(t->ref->cfg, next->cfg) && group_eq(t->g, ng))
			continue;
		log_info("group %s: %s", t->g->name, ng ? "changed: restarting" : "removed: stopping");
		stop_group(d, t);
	}
	for (size_t i = 0; i < next->cfg->ngroups; i++) {
		bool running = false;

		for (t = d->threads; t; t = t->next)
			if (strcmp(t->g->name, next->cfg->groups[i].name) == 0)
				running = true;
		if (!running)
			(void)start_group(d, next, &next->cfg->groups[i]);
	}
}

static struct cfg_ref *
load(const char *path, bool verbose)
{
	struct cfg_ref *r = calloc(1, sizeof(*r));

	if (!r || agent_config_load(path, &r->cfg) < 0) {
		free(r);
		return NULL;
	}
	log_set_level(verbose ? LOG_LVL_DEBUG : r->cfg->log_level);
	r->refs = 1; /* the daemon's own reference while it is current */
	return r;
}

int
agent_daemon(const char *config_path, bool verbose)
{
	struct daemon d = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct metrics_thread *mt = NULL;
	struct cfg_ref *cur;
	sigset_t set;
	int sig;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Threads inherit the mask: only the main thread takes these. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	cur = load(config_path, verbose);
	if (!cur)
		return -1;
	if (agent_children_open(cur->cfg) < 0) {
		ref_put(&d, cur);
		return -1;
	}
	if (cur->cfg->metrics_host) {
		mt = metrics_thread_new(cur->cfg->metrics_host, cur->cfg->metrics_port,
					agent_render, &d);
		if (!mt) {
			ref_put(&d, cur);
			return -1;
		}
	}
	log_info("agent daemon started with %zu groups", cur->cfg->ngroups);
	for (size_t i = 0; i < cur->cfg->ngroups; i++)
		(void)start_group(&d, cur, &cur->cfg->groups[i]);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			struct cfg_ref *next = load(config_path, verbose);

			if (!next) {
				log_error("reload of %s failed: keeping the running configuration",
					  config_path);
				continue;
			}
			log_info("reloading %s", config_path);
			if (!str_eq(cur->cfg->metrics_host, next->cfg->metrics_host) ||
			    cur->cfg->metrics_port != next->cfg->metrics_port)
				log_warn("[agent] metrics changed: it takes effect when the daemon restarts");
			reload(&d, next);
			ref_put(&d, cur);
			cur = next;
			continue;
		}
		log_info("signal %d: stopping (cycles in flight are abandoned and resumable)", sig);
		break;
	}
	for (struct gthread *t = d.threads; t; t = t->next)
		t->stop = 1;
	while (d.threads)
		stop_group(&d, d.threads);
	metrics_thread_free(mt);
	ref_put(&d, cur);
	return 0;
}

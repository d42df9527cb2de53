/* Agent daemon: one thread per protection group running cycles back to
 * back (bounded by min_interval), back-off on failure, RPO alerts, status
 * files; the main thread waits for signals (reload, stop). Groups share
 * nothing but the read-only configuration they were started with. */
#include "replicator/daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/fileutil.h"
#include "common/log.h"
#include "replicator/agent.h"
#include "replicator/config.h"

#define BACKOFF_FIRST_S 5
#define TICK_MS         200

/* A loaded configuration, shared by the group threads started from it. */
struct cfg_ref {
	struct agent_config *cfg;
	int refs; /* under daemon.mu */
};

struct gthread {
	struct daemon *d;
	struct cfg_ref *ref;
	const struct agent_group_cfg *g;
	pthread_t th;
	volatile int stop;
	struct gthread *next;
};

struct daemon {
	pthread_mutex_t mu;
	struct gthread *threads;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

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

struct gstate {
	uint64_t started_ns;
	uint64_t last_point, last_point_ns; /* newest committed by this daemon */
	uint64_t failures, cycles;
	bool breached;
	bool in_cycle;
	struct agent_cycle_stats last;
	int last_ok;
};

static void
write_status(const struct gthread *t, const struct gstate *s)
{
	const struct agent_group_cfg *g = t->g;
	uint64_t now = now_ns();
	uint64_t since = s->last_point_ns ? s->last_point_ns : s->started_ns;
	char dir[4096], path[4200];
	json_t *j;
	char *txt;

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", t->ref->cfg->state_dir, g->name) >=
	    sizeof(dir))
		return;
	snprintf(path, sizeof(path), "%s/status.json", dir);
	j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I, s:{s:b, s:I, s:b, s:b, s:I, s:I, s:f}, s:I}",
		      "group", g->name,
		      "last_point", (json_int_t)s->last_point,
		      "last_point_time_ns", (json_int_t)s->last_point_ns,
		      "rpo_seconds", (json_int_t)((now - since) / 1000000000ull),
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
	txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (txt && mkdir_p(dir, 0700) == 0)
		(void)file_write_atomic(path, txt, strlen(txt), 0600);
	free(txt);
	json_decref(j);
}

static void
check_rpo(const struct gthread *t, struct gstate *s)
{
	uint64_t since = s->last_point_ns ? s->last_point_ns : s->started_ns;
	uint64_t age = (now_ns() - since) / 1000000000ull;

	if (age > t->g->rpo_s && !s->breached) {
		log_warn("group %s: RPO %" PRIu64 " s exceeds the target of %" PRIu64 " s",
			 t->g->name, age, t->g->rpo_s);
		s->breached = true;
		write_status(t, s);
	} else if (age <= t->g->rpo_s && s->breached) {
		log_info("group %s: RPO back within its target (%" PRIu64 " s)", t->g->name, age);
		s->breached = false;
		write_status(t, s);
	}
}

static void *
group_main(void *arg)
{
	struct gthread *t = arg;
	const struct agent_config *cfg = t->ref->cfg;
	struct agent_opts o = { .stop = &t->stop };
	struct gstate s = { .started_ns = now_ns() };

	log_info("group %s: replicating (RPO target %" PRIu64 " s, min interval %" PRIu64 " s)",
		 t->g->name, t->g->rpo_s, t->g->min_interval_s);
	while (!t->stop) {
		uint64_t t0 = now_ns(), next;
		int r;

		s.in_cycle = true;
		write_status(t, &s);
		r = agent_cycle(cfg, t->g, &o, &s.last);
		s.in_cycle = false;
		if (t->stop)
			break;
		s.cycles++;
		s.last_ok = r == 0;
		if (r == 0) {
			s.failures = 0;
			s.last_point = s.last.point_id;
			s.last_point_ns = t0;
			next = t0 + t->g->min_interval_s * 1000000000ull;
		} else {
			uint64_t delay = BACKOFF_FIRST_S;

			s.failures++;
			for (uint64_t i = 1; i < s.failures && delay < cfg->retry_max_s; i++)
				delay *= 2;
			if (delay > cfg->retry_max_s)
				delay = cfg->retry_max_s;
			log_warn("group %s: cycle failed (%" PRIu64 " in a row), retrying in %" PRIu64 " s",
				 t->g->name, s.failures, delay);
			next = now_ns() + delay * 1000000000ull;
		}
		check_rpo(t, &s);
		write_status(t, &s);
		while (!t->stop && now_ns() < next) {
			struct timespec ts = { 0, TICK_MS * 1000000L };

			nanosleep(&ts, NULL);
			check_rpo(t, &s);
		}
	}
	write_status(t, &s);
	log_info("group %s: stopped", t->g->name);
	return NULL;
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
	pthread_mutex_lock(&d->mu);
	ref->refs++;
	pthread_mutex_unlock(&d->mu);
	if (pthread_create(&t->th, NULL, group_main, t) != 0) {
		log_error("group %s: cannot start its thread", g->name);
		ref_put(d, ref);
		free(t);
		return -1;
	}
	t->next = d->threads;
	d->threads = t;
	return 0;
}

static void
stop_group(struct daemon *d, struct gthread *t)
{
	struct gthread **pp;

	t->stop = 1;
	pthread_join(t->th, NULL);
	for (pp = &d->threads; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
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
	       a->retry_max_s == b->retry_max_s;
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
	ref_put(&d, cur);
	return 0;
}

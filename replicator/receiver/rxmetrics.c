/* The receiver's Prometheus metrics (replicator/receiver/rxmetrics.h):
 * per-group counters kept in memory and gauges read from the store at
 * scrape time. The counters are updated from the receiver's event loop and
 * scrapes run on the same loop, so they need no lock. */
#include "replicator/receiver/rxmetrics.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "replicator/config.h"
#include "replicator/httpd.h"
#include "replicator/metrics.h"
#include "replicator/receiver/dashboard.h"
#include "replicator/receiver/notify.h"
#include "replicator/receiver/status.h"

/* Group names come from authorised agents only, but the table stays
 * bounded whatever they send. */
#define METRICS_MAX_GROUPS 4096

struct metrics_group {
	char name[65];
	uint64_t bytes_total;
	uint64_t points_total;
	uint64_t failures_total;
	double last_seconds; /* < 0: no point committed since start */
};

struct rxmetrics {
	struct httpd *http;
	struct dashboard *dash;
	struct store *st;
	const char *store_dir;
	struct metrics_group *g;
	size_t n, cap;
	const struct receiver_config *cfg; /* RPO targets; NULL: none exported */
	struct notify *notify;             /* NULL: notify off */
};

static struct metrics_group *
group_get(struct rxmetrics *m, const char *name)
{
	struct metrics_group *ng;

	for (size_t i = 0; i < m->n; i++) {
		if (strcmp(m->g[i].name, name) == 0)
			return &m->g[i];
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;

		if (m->cap >= METRICS_MAX_GROUPS) {
			log_warn("metrics: more than %d groups; %s not counted",
				 METRICS_MAX_GROUPS, name);
			return NULL;
		}
		ng = realloc(m->g, cap * sizeof(*ng));
		if (!ng) {
			log_warn("metrics: out of memory; %s not counted", name);
			return NULL;
		}
		m->g = ng;
		m->cap = cap;
	}
	ng = &m->g[m->n++];
	memset(ng, 0, sizeof(*ng));
	snprintf(ng->name, sizeof(ng->name), "%s", name);
	ng->last_seconds = -1;
	return ng;
}

void
rxmetrics_point_committed(struct rxmetrics *m, const char *group, uint64_t bytes, double seconds)
{
	struct metrics_group *g = m ? group_get(m, group) : NULL;

	if (m)
		dashboard_point_committed(m->dash, group);
	if (!g)
		return;
	g->bytes_total += bytes;
	g->points_total++;
	g->last_seconds = seconds;
}

void
rxmetrics_session_failed(struct rxmetrics *m, const char *group, uint64_t bytes)
{
	struct metrics_group *g = m ? group_get(m, group) : NULL;

	if (!g)
		return;
	g->bytes_total += bytes;
	g->failures_total++;
}

/* Every group the store knows plus every group counted only in memory. */
struct view {
	const char *name;
	const struct status_rx_group *rx; /* NULL: not in the store */
	const struct metrics_group *c;    /* NULL: no traffic since start */
};

enum field { F_POINTS, F_RPO, F_LAST_BYTES, F_BYTES_TOTAL, F_POINTS_TOTAL, F_CYCLE,
	     F_FAILURES, F_FAILED_OVER, F_DRILL, F_DRILL_RTO, F_RPO_TARGET, F_DRILL_TIME,
	     F_FAILING_BACK, F_REV_RPO, F_REV_POINTS, F_REV_BYTES };

static const struct metrics_family families[] = {
	{ F_POINTS, "nestor_group_points", "gauge", "Committed recovery points of the group." },
	{ F_RPO, "nestor_group_rpo_seconds", "gauge",
	  "Age of the newest point's snapshot instant (RPO as seen by the receiver)." },
	{ F_LAST_BYTES, "nestor_group_last_point_bytes", "gauge",
	  "Payload bytes received for the newest point." },
	{ F_BYTES_TOTAL, "nestor_group_bytes_received_total", "counter",
	  "Payload bytes received for the group since the receiver started." },
	{ F_POINTS_TOTAL, "nestor_group_points_committed_total", "counter",
	  "Points committed for the group since the receiver started." },
	{ F_CYCLE, "nestor_group_cycle_seconds", "gauge",
	  "Seconds from begin to commit of the last point received since start." },
	{ F_FAILURES, "nestor_group_failures_total", "counter",
	  "Sessions that ended with their point not committed, since start." },
	{ F_FAILED_OVER, "nestor_group_failed_over", "gauge",
	  "1 while the group is failed over (new points refused)." },
	{ F_DRILL, "nestor_drill_last_result", "gauge", "Verdict of the newest drill: 1 pass, 0 fail." },
	{ F_DRILL_RTO, "nestor_drill_last_rto_seconds", "gauge",
	  "Longest VM recovery time of the newest drill." },
	{ F_RPO_TARGET, "nestor_group_rpo_target_seconds", "gauge",
	  "The group's RPO target (rpo in the receiver's configuration)." },
	{ F_DRILL_TIME, "nestor_drill_last_timestamp_seconds", "gauge",
	  "Start of the newest drill, in seconds since the epoch." },
	{ F_FAILING_BACK, "nestor_group_failing_back", "gauge",
	  "1 while the failed-over group is being failed back (a reverse stream ran for this failover)." },
	{ F_REV_RPO, "nestor_group_reverse_rpo_seconds", "gauge",
	  "While failing back: age of the newest reverse point's snapshot instant." },
	{ F_REV_POINTS, "nestor_group_reverse_points", "gauge",
	  "While failing back: reverse points committed on-prem for this failover." },
	{ F_REV_BYTES, "nestor_group_reverse_bytes_total", "counter",
	  "While failing back: payload bytes of the reverse points sent for this failover." },
};

/* The groups of one scrape, for sample. */
struct rx_page {
	const struct view *v;
	uint64_t now;
	const struct receiver_config *cfg;
};

/* Prints one sample (metrics_sample_fn); none when the group has no value. */
static void
sample(FILE *f, const struct metrics_family *fam, size_t row, void *arg)
{
	const struct rx_page *pg = arg;
	const struct view *v = &pg->v[row];
	uint64_t now = pg->now;
	const struct status_rx_group *r = v->rx;
	const struct metrics_group *c = v->c;
	double val;

	switch ((enum field)fam->id) {
	case F_POINTS: val = r ? (double)r->points : 0; break;
	case F_RPO:
		if (!r || !r->last_point)
			return;
		val = status_rx_rpo(r, now);
		break;
	case F_LAST_BYTES:
		if (!r || !r->last_point)
			return;
		val = (double)r->last_point_bytes;
		break;
	case F_BYTES_TOTAL: val = c ? (double)c->bytes_total : 0; break;
	case F_POINTS_TOTAL: val = c ? (double)c->points_total : 0; break;
	case F_CYCLE:
		if (!c || c->last_seconds < 0)
			return;
		val = c->last_seconds;
		break;
	case F_FAILURES: val = c ? (double)c->failures_total : 0; break;
	case F_FAILED_OVER: val = r && r->failed_over; break;
	case F_DRILL:
		if (!r || r->drill_result < 0)
			return;
		val = r->drill_result;
		break;
	case F_DRILL_RTO:
		if (!r || r->drill_result < 0 || r->drill_rto_s < 0)
			return;
		val = r->drill_rto_s;
		break;
	case F_RPO_TARGET:
		if (!pg->cfg)
			return;
		val = (double)receiver_config_rpo(pg->cfg, v->name);
		break;
	case F_DRILL_TIME:
		if (!r || r->drill_result < 0 || !r->drill_started_ns)
			return;
		val = (double)r->drill_started_ns / 1e9;
		break;
	case F_FAILING_BACK: val = r && r->failing_back; break;
	case F_REV_RPO:
	case F_REV_POINTS:
	case F_REV_BYTES:
		if (!r || !r->failing_back)
			return;
		val = fam->id == F_REV_RPO ? revstate_rpo(&r->reverse, now)
		      : fam->id == F_REV_POINTS ? (double)r->reverse.points
						: (double)r->reverse.bytes_total;
		break;
	default:
		return;
	}
	metrics_put_sample(f, fam->name, v->name, val);
}

char *
rxmetrics_render(struct rxmetrics *m)
{
	struct status_rx_group *rx = NULL;
	struct view *v = NULL;
	size_t nrx = 0, nv = 0;
	char *body = NULL;
	uint64_t now = clock_now_ns();

	if (status_rx_groups(m->st, m->store_dir, &rx, &nrx) < 0)
		goto out;
	v = calloc(nrx + m->n + 1, sizeof(*v));
	if (!v) {
		log_error("metrics: out of memory");
		goto out;
	}
	for (size_t i = 0; i < nrx; i++)
		v[nv++] = (struct view){ rx[i].name, &rx[i], NULL };
	for (size_t k = 0; k < m->n; k++) {
		size_t i;

		for (i = 0; i < nrx && strcmp(v[i].name, m->g[k].name) != 0; i++)
			;
		if (i < nrx)
			v[i].c = &m->g[k];
		else
			v[nv++] = (struct view){ m->g[k].name, NULL, &m->g[k] };
	}
	body = metrics_page(families, sizeof(families) / sizeof(families[0]), nv, sample,
			    &(struct rx_page){ v, now, m->cfg });
	if (body && m->notify)
		body = notify_metrics_append(m->notify, body);
out:
	free(v);
	free(rx);
	return body;
}

static char *
receiver_render(void *arg)
{
	return rxmetrics_render(arg);
}

/* Everything on the listener asks for the same credentials: /metrics
 * tells as much about the groups as the pages do. */
static void
on_request(const struct httpd_req *req, struct httpd_resp *resp, void *arg)
{
	struct rxmetrics *m = arg;

	if (!dashboard_authorized(m->dash, req, resp))
		return;
	if (strcmp(req->path, "/metrics") == 0) {
		metrics_answer(resp, receiver_render, m);
		return;
	}
	if (dashboard_answer(m->dash, req, resp))
		return;
	resp->status = 404;
	resp->body = strdup("not found: /metrics, / (the dashboard), /group/NAME, /api/...\n");
	resp->len = resp->body ? strlen(resp->body) : 0;
}

struct rxmetrics *
rxmetrics_new(struct event_base *base, const struct receiver_config *cfg, struct store *st)
{
	/* A page is bounded (dashdata.h); these bound the clients. */
	static const struct httpd_limits lim = { .max_conns = 32, .max_request = 8192,
						 .max_headers = 64, .max_response = 8u << 20,
						 .timeout_s = 10 };
	struct rxmetrics *m = calloc(1, sizeof(*m));

	if (!m) {
		log_error("metrics: out of memory");
		return NULL;
	}
	m->st = st;
	m->cfg = cfg;
	m->store_dir = cfg->store_dir;
	m->dash = dashboard_new(st, cfg);
	if (!m->dash)
		goto fail;
	m->http = httpd_new(base, cfg->metrics_host, cfg->metrics_port, &lim, on_request, m);
	if (!m->http)
		goto fail;
	log_info("metrics on http://%s:%u/metrics, dashboard on http://%s:%u/", cfg->metrics_host,
		 cfg->metrics_port, cfg->metrics_host, cfg->metrics_port);
	return m;
fail:
	rxmetrics_free(m);
	return NULL;
}

void
rxmetrics_set_notify(struct rxmetrics *m, struct notify *n)
{
	if (m)
		m->notify = n;
}

void
rxmetrics_free(struct rxmetrics *m)
{
	if (!m)
		return;
	httpd_free(m->http);
	dashboard_free(m->dash);
	free(m->g);
	free(m);
}

/* The dashboard's routes and auth (replicator/receiver/dashboard.h). Pages
 * are built on the receiver's loop from the store, like a /metrics scrape:
 * each is bounded (dashdata.h), and no state is kept between requests. */
#include "replicator/receiver/dashboard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/config.h"
#include "replicator/httpauth.h"
#include "replicator/httpd.h"
#include "replicator/receiver/dashdata.h"
#include "replicator/receiver/dashhtml.h"
#include "replicator/receiver/dashreport.h"

struct dashboard {
	struct dash_src src;
	struct httpauth *auth; /* NULL: no auth */
};

struct dashboard *
dashboard_new(struct store *st, const struct receiver_config *cfg)
{
	struct dashboard *d = calloc(1, sizeof(*d));

	if (!d) {
		log_error("dashboard: out of memory");
		return NULL;
	}
	d->src = (struct dash_src){ st, cfg };
	if (cfg->dashboard_auth && httpauth_load(cfg->dashboard_auth, &d->auth) < 0) {
		free(d);
		return NULL;
	}
	if (!d->auth)
		log_info("dashboard without authentication on %s:%u%s", cfg->metrics_host,
			 cfg->metrics_port, cfg->dashboard_public ? " (dashboard_public = yes)" : "");
	return d;
}

void
dashboard_free(struct dashboard *d)
{
	if (!d)
		return;
	httpauth_free(d->auth);
	free(d);
}

static void
answer_text(struct httpd_resp *resp, int status, const char *msg)
{
	resp->status = status;
	resp->type = "text/plain; charset=utf-8";
	resp->body = strdup(msg);
	resp->len = resp->body ? strlen(resp->body) : 0;
}

bool
dashboard_authorized(struct dashboard *d, const struct httpd_req *req, struct httpd_resp *resp)
{
	enum httpauth_verdict v;

	if (!d || !d->auth)
		return true;
	v = httpauth_check(d->auth, req->authorization, clock_mono_ns());
	if (v == HTTPAUTH_OK)
		return true;
	if (v == HTTPAUTH_BUSY) {
		answer_text(resp, 503, "too many logins at once: try again in a second\n");
		return false;
	}
	answer_text(resp, 401, "authentication required\n");
	resp->www_authenticate = "Basic realm=\"nestor\", charset=\"UTF-8\"";
	return false;
}

/* A view's JSON or its page. */
static void
answer_view(struct httpd_resp *resp, json_t *v, bool api, char *(*html)(const json_t *, size_t *))
{
	if (api) {
		resp->body = json_dumps(v, JSON_INDENT(1) | JSON_SORT_KEYS);
		resp->len = resp->body ? strlen(resp->body) : 0;
		resp->type = "application/json";
	} else {
		resp->body = html(v, &resp->len);
		resp->type = "text/html; charset=utf-8";
	}
	resp->status = resp->body ? 200 : 500;
}

/* "/group/NAME" or "/group/NAME/point/ID" into group (a valid name) and
 * *point (0 = the group's page). false for anything else. */
static bool
parse_group_path(const char *p, char group[NAME_MAX_LEN + 1], uint64_t *point)
{
	const char *end;
	size_t len;

	if (strncmp(p, "/group/", 7) != 0)
		return false;
	p += 7;
	end = strchr(p, '/');
	len = end ? (size_t)(end - p) : strlen(p);
	if (!name_valid(p, len))
		return false;
	memcpy(group, p, len);
	group[len] = '\0';
	*point = 0;
	if (!end)
		return true;
	return strncmp(end, "/point/", 7) == 0 && parse_u64(end + 7, point) == 0 && *point > 0;
}

/* A drill's or failover's saved report, as it is on disk (dashreport.h). */
static void
answer_report(struct dashboard *d, const struct dashreport_ref *ref, struct httpd_resp *resp)
{
	int status = dashreport_load(d->src.cfg->store_dir, ref, &resp->body, &resp->len,
				     &resp->type);

	if (status == 0)
		resp->status = 200;
	else
		answer_text(resp, status, status == 404 ? "no such report\n"
							: "cannot read the report\n");
}

bool
dashboard_answer(struct dashboard *d, const struct httpd_req *req, struct httpd_resp *resp)
{
	const char *path = req->path;
	bool api = strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
	char group[NAME_MAX_LEN + 1];
	uint64_t point, now = clock_now_ns();
	int status = 500;
	struct dashreport_ref ref;
	json_t *v;

	switch (dashreport_parse(path, &ref)) {
	case 1:
		answer_report(d, &ref, resp);
		return true;
	case -1:
		answer_text(resp, 400, "not a report's name\n");
		return true;
	}
	if (api)
		path += 4;
	if (!*path || strcmp(path, "/") == 0) {
		v = dashdata_overview(&d->src, now);
		if (v)
			answer_view(resp, v, api, dashhtml_overview);
		else
			answer_text(resp, 500, "cannot read the store\n");
		json_decref(v);
		return true;
	}
	if (!parse_group_path(path, group, &point))
		return false;
	v = point ? dashdata_point(&d->src, group, point, &status)
		  : dashdata_group(&d->src, group, now, &status);
	if (v)
		answer_view(resp, v, api, point ? dashhtml_point : dashhtml_group);
	else
		answer_text(resp, status, status == 404 ? "no such group or point\n"
							: "cannot read the store\n");
	json_decref(v);
	return true;
}

void
dashboard_point_committed(struct dashboard *d, const char *group)
{
	if (d)
		dashdata_record_commit(&d->src, group, clock_now_ns());
}

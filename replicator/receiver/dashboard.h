/* The receiver's dashboard on its metrics listener (docs/dashboard.md):
 * the routes (/, /group/NAME, /group/NAME/point/ID and their /api twins,
 * /report/GROUP/drills|failover/FILE: the runs' saved reports),
 * HTTP basic auth of the whole listener, and the RPO history it charts. */
#ifndef NESTOR_RECEIVER_DASHBOARD_H
#define NESTOR_RECEIVER_DASHBOARD_H

#include <stdbool.h>

struct dashboard;
struct httpd_req;
struct httpd_resp;
struct receiver_config;
struct store;

/* st and cfg are borrowed and must outlive it; cfg's dashboard_auth file
 * is read now. NULL on error (logged). */
struct dashboard *dashboard_new(struct store *st, const struct receiver_config *cfg);
void dashboard_free(struct dashboard *d);

/* May req be answered? With dashboard_auth, only with a user's password:
 * otherwise resp is set to 401 and false returned. NULL d: always. */
bool dashboard_authorized(struct dashboard *d, const struct httpd_req *req,
			  struct httpd_resp *resp);

/* Answer req if its path is the dashboard's (true); false leaves resp
 * alone. */
bool dashboard_answer(struct dashboard *d, const struct httpd_req *req, struct httpd_resp *resp);

/* group's newest point was just committed: into its RPO history. */
void dashboard_point_committed(struct dashboard *d, const char *group);

#endif

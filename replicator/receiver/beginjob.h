/* A POINT_BEGIN's heavy part as a job for a worker thread: the group's
 * limits against its store usage, then the store's begin (group lock,
 * catalog, image files). The session checks the request on the loop before
 * and finishes the begin there after (issue 12, section 3). */
#ifndef NESTOR_RECEIVER_BEGINJOB_H
#define NESTOR_RECEIVER_BEGINJOB_H

#include <stddef.h>
#include <stdint.h>

struct beginjob;
struct limits_point;
struct proto_point_begin;
struct receiver_config;
struct store;
struct store_begin;
struct store_point;

/* A job for b (copied) on st and cfg (borrowed: they must outlive the
 * job); owner is the caller's, handed back by beginjob_owner. NULL on
 * error (logged). */
struct beginjob *beginjob_new(const struct receiver_config *cfg, struct store *st,
			      const struct proto_point_begin *b, void *owner);
/* Run the begin (any thread; a workpool_fn). */
void beginjob_run(void *job);
/* After beginjob_run: 0 with *pt the begun point (the caller owns it now)
 * and *lp its limits; 1 when the limits refused it (*code enum proto_err,
 * why); -1 when the store failed (*err enum store_err). */
int beginjob_take(struct beginjob *j, struct store_point **pt, struct limits_point *lp,
		  uint32_t *code, const char **why, int *err);
/* The request, as the store's (points into the job). */
const struct store_begin *beginjob_request(const struct beginjob *j);
void *beginjob_owner(const struct beginjob *j);
void beginjob_disown(struct beginjob *j);
/* Frees a point not taken. NULL ok. */
void beginjob_free(struct beginjob *j);

#endif

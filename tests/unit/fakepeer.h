/* Test helper: the peer of a session driven without a socket. A
 * struct fakepeer behind a session_io records what the session said (the
 * types it sent, the last COMMITTED, PROGRESS and REPAIR_LIST, its ERROR,
 * the close); fakepeer_connect opens a session and says HELLO. Needs
 * <criterion/criterion.h>. Plain data: the caller owns the struct. */
#ifndef NESTOR_TESTS_UNIT_FAKEPEER_H
#define NESTOR_TESTS_UNIT_FAKEPEER_H

#include <stdio.h>
#include <string.h>

#include "proto/codec.h"
#include "replicator/receiver/session.h"

#define FAKEPEER_SENT_MAX 32

struct fakepeer {
	const char *name;               /* the peer's CN */
	int sent[FAKEPEER_SENT_MAX];    /* types of the messages sent, in order */
	size_t nsent;
	uint16_t last;                  /* type of the last message */
	uint64_t committed;             /* point of the last COMMITTED */
	uint32_t progress_flags;        /* of the last PROGRESS */
	struct proto_repair_list list;  /* the last REPAIR_LIST, entries in ents */
	uint8_t ents[PROTO_MAX_REPAIR * PROTO_REPAIR_ENTRY_SIZE];
	uint32_t err_code;              /* the ERROR, which closes */
	char err_text[PROTO_TEXT_MAX + 1];
	int closed;
	int resumes;                    /* session_io.resume calls */
};

static inline int
fakepeer_send(void *arg, const struct proto_msg *m)
{
	struct fakepeer *p = arg;

	cr_assert(!p->closed, "message %u after ERROR or close", m->type);
	cr_assert_lt(p->nsent, FAKEPEER_SENT_MAX);
	p->sent[p->nsent++] = m->type;
	p->last = m->type;
	if (m->type == PROTO_COMMITTED)
		p->committed = m->u.committed.point_id;
	if (m->type == PROTO_PROGRESS)
		p->progress_flags = m->u.progress.flags;
	if (m->type == PROTO_REPAIR_LIST) {
		/* the session's buffer is gone after the call: copied */
		p->list = m->u.rlist;
		if (m->u.rlist.count)
			memcpy(p->ents, m->u.rlist.entries,
			       (size_t)m->u.rlist.count * PROTO_REPAIR_ENTRY_SIZE);
		p->list.entries = p->ents;
	}
	return 0;
}

static inline void
fakepeer_send_error(void *arg, uint32_t code, const char *text)
{
	struct fakepeer *p = arg;

	cr_assert(!p->closed, "ERROR after ERROR or close");
	p->err_code = code;
	snprintf(p->err_text, sizeof(p->err_text), "%s", text);
	p->closed = 1;
}

static inline void
fakepeer_close(void *arg)
{
	((struct fakepeer *)arg)->closed = 1;
}

static inline const char *
fakepeer_name(void *arg)
{
	return ((struct fakepeer *)arg)->name;
}

static inline void
fakepeer_resume(void *arg)
{
	((struct fakepeer *)arg)->resumes++;
}

/* Without a pool the session runs its heavy steps inline, never resumed;
 * with one (fakepeer_pool_io) it asks to be resumed when a job is done. */
static const struct session_io fakepeer_io = {
	.send = fakepeer_send, .send_error = fakepeer_send_error, .close = fakepeer_close,
	.peer_name = fakepeer_name,
};
static const struct session_io fakepeer_pool_io = {
	.send = fakepeer_send, .send_error = fakepeer_send_error, .close = fakepeer_close,
	.peer_name = fakepeer_name, .resume = fakepeer_resume,
};

/* *p cleared and named, a session of env over sio (whose arg is p), ready,
 * its HELLO answered at PROTO_VERSION. */
static inline struct session *
fakepeer_connect(struct session_env *env, const struct session_io *sio, struct fakepeer *p,
		 const char *name)
{
	struct proto_msg m = { .type = PROTO_HELLO };
	struct session *s;

	memset(p, 0, sizeof(*p));
	p->name = name;
	s = session_new(env, sio, p);
	cr_assert_not_null(s);
	session_on_ready(s);
	cr_assert_eq(p->sent[0], PROTO_HELLO);
	m.u.hello.version_min = m.u.hello.version_max = PROTO_VERSION;
	cr_assert_eq(session_on_msg(s, &m), 0);
	return s;
}

/* The peer went away: the session closed and freed. */
static inline void
fakepeer_end(struct session *s)
{
	session_on_close(s, "test over");
	session_free(s);
}

#endif

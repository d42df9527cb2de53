/* The receiver's session state machine, one per agent connection (hello ->
 * query/begin -> extents -> disk done -> commit) writing into the replica
 * store. It sees no socket: it answers through struct session_io, so a test
 * or a fuzzer drives it with decoded messages alone. */
#ifndef NESTOR_RECEIVER_SESSION_H
#define NESTOR_RECEIVER_SESSION_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct event_base;
struct proto_msg;
struct proto_reverse_finish;
struct receiver_config;
struct rxmetrics;
struct session;
struct session_env;
struct store;
struct workpool;

/* How a session answers its peer. arg is the io_arg given to session_new. */
struct session_io {
	/* Queue a message; borrowed pointers in m are valid only during the
	 * call. 0 / -1. */
	int (*send)(void *arg, const struct proto_msg *m);
	/* Queue an ERROR frame (code: enum proto_err) and close once it is
	 * flushed. The session sends nothing more. */
	void (*send_error)(void *arg, uint32_t code, const char *text);
	/* Close without a word (the peer sent an ERROR). */
	void (*close)(void *arg);
	/* Identity of the peer (certificate CN), used for authorisation. */
	const char *(*peer_name)(void *arg);
	/* A session that answered 1 from session_on_msg (its heavy step runs
	 * on a worker) takes messages again. Called from the thread that runs
	 * the pool's done callbacks. NULL only without a pool. */
	void (*resume)(void *arg);
	/* The connection and its loop, for a reverse session's hand-off
	 * (session_env_set_reverse); NULL when the io has none (tests,
	 * fuzzers): a REVERSE_BEGIN is then refused. */
	struct conn *(*conn)(void *arg);
	struct event_base *(*base)(void *arg);
};

/* Reverse replication (failback, docs/failback-design.md): a REVERSE_BEGIN
 * the session accepted (the peer is authorised for the group and owns it,
 * the group is failed over, no other reverse session of it runs) hands the
 * connection to a handler that the receiver's owner installed, since
 * failback/ lies above this folder. From then on the session passes every
 * message, drain and the close to it. */
struct session_reverse_req {
	const char *group;   /* valid name */
	const char *peer;    /* the agent's certificate CN */
	uint32_t flags;      /* REVERSE_BEGIN's (PROTO_FLAG_REVERSE_*) */
	/* A REVERSE_FINISH (borrowed for the call), NULL for a REVERSE_BEGIN:
	 * the failback's finish or, with PROTO_FLAG_FINISH_RELEASE, its
	 * release (the group then may no longer be failed over). */
	const struct proto_reverse_finish *finish;
	const struct receiver_config *cfg;
	struct store *store;
	struct conn *conn;   /* the handler sends on it; the receiver owns it */
	struct event_base *base;
	/* The receiver's worker pool for the handler's blocking steps (NULL:
	 * none). Its done callbacks run on base's thread; a handler with a
	 * job out when its on_close comes frees itself from that callback. */
	struct workpool *pool;
};
struct session_reverse_ops {
	/* A message of the peer: 0 go on, -1 stop reading (the handler sent
	 * an ERROR or closed the connection). */
	int (*on_msg)(void *h, const struct proto_msg *m);
	/* The output drained to the low-water mark. */
	void (*on_drain)(void *h);
	/* The connection is gone (or the session freed): free the handler. */
	void (*on_close)(void *h, const char *reason);
};
/* Take the connection: a handler (its ops in *ops), or NULL with the
 * reason for the agent in why (logged by the handler). */
typedef void *(*session_reverse_fn)(void *arg, const struct session_reverse_req *req,
				    const struct session_reverse_ops **ops, char *why,
				    size_t whycap);

/* What every session of a receiver shares: configuration, store, metrics
 * (all borrowed: they must outlive the env), the decompressor and scratch
 * buffers, and the list of live sessions (a group is written by one session
 * at a time). NULL on error (logged). metrics may be NULL. */
struct session_env *session_env_new(const struct receiver_config *cfg, struct store *store,
				    struct rxmetrics *metrics);
/* Run the heavy steps (hash queries) on pool (borrowed; it must outlive
 * the sessions' jobs: free the sessions, then the pool, then the env).
 * Without a pool they run inline, which keeps tests and fuzzers
 * deterministic. */
void session_env_set_pool(struct session_env *env, struct workpool *pool);
/* Serve REVERSE_BEGIN through fn (arg borrowed); without it (the default)
 * a REVERSE_BEGIN is refused. */
void session_env_set_reverse(struct session_env *env, session_reverse_fn fn, void *arg);
/* Free the env; every session of it must have been freed. NULL ok. */
void session_env_free(struct session_env *env);

/* A new session in state HELLO, listed in env. io and io_arg are borrowed
 * and must stay valid until session_free. NULL on error (logged). */
struct session *session_new(struct session_env *env, const struct session_io *io,
			    void *io_arg);
/* The transport is up: send the receiver's HELLO. */
void session_on_ready(struct session *s);
/* One decoded message. 0 to go on; 1 when its work went to the pool (or
 * its extents on workers reached extents_in_flight): give the session no
 * message until io->resume (protocol order is kept); 2 when the message
 * was not taken: it waits for the extents on workers, give it again,
 * unchanged, after io->resume; -1 to stop reading: the session has sent an
 * ERROR or closed (io), and takes no more messages. 1 and 2 only with a
 * pool. */
int session_on_msg(struct session *s, const struct proto_msg *msg);
/* The output drained to the low-water mark (a reverse handler sends). */
void session_on_drain(struct session *s);
/* The transport closed, for reason (human-readable): log it and count a
 * point not committed. Call once, before session_free. */
void session_on_close(struct session *s, const char *reason);
/* Free the session: a point being received is checkpointed (what arrived
 * stays durable, so the agent resumes from there) and released. The io is
 * not touched. NULL ok. */
void session_free(struct session *s);

#endif

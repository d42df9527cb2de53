/* The receiver's session state machine, one per agent connection (hello ->
 * query/begin -> extents -> disk done -> commit) writing into the replica
 * store. It sees no socket: it answers through struct session_io, so a test
 * or a fuzzer drives it with decoded messages alone. */
#ifndef NESTOR_RECEIVER_SESSION_H
#define NESTOR_RECEIVER_SESSION_H

#include <stdint.h>

struct proto_msg;
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
};

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
/* The transport closed, for reason (human-readable): log it and count a
 * point not committed. Call once, before session_free. */
void session_on_close(struct session *s, const char *reason);
/* Free the session: a point being received is checkpointed (what arrived
 * stays durable, so the agent resumes from there) and released. The io is
 * not touched. NULL ok. */
void session_free(struct session *s);

#endif

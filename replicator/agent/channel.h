/* The agent's TLS connection to the receiver for one replication cycle or
 * one verify: its event loop, the HELLO it opens with, a one-second tick,
 * the idle timeout, and the checks every answer goes through. */
#ifndef NESTOR_AGENT_CHANNEL_H
#define NESTOR_AGENT_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

struct agent_config;
struct conn;
struct event_base;
struct proto_hash_answer;
struct proto_msg;
struct channel;

/* The owner's side. on_msg is conn's on_msg (0 / -1); on_close runs when
 * the connection is gone, before the loop stops; on_tick every second. */
struct channel_cbs {
	int (*on_msg)(void *arg, const struct proto_msg *msg);
	void (*on_drain)(void *arg); /* optional */
	void (*on_close)(void *arg, const char *reason);
	void (*on_tick)(void *arg);
};

/* A channel to cfg's receiver for group (names the logs); cfg, group, cbs
 * and arg are borrowed until channel_free. NULL on error (logged). */
struct channel *channel_new(const struct agent_config *cfg, const char *group,
			    const struct channel_cbs *cbs, void *arg);
/* Connect, send HELLO, and run the loop until channel_end() (or the
 * connection closing) stops it. 0 when the loop ran, -1 when it could not
 * start (logged). Once. */
int channel_run(struct channel *ch);
/* A channel over a connection that is already up, in the owner's loop
 * (the DR side of a reverse replication: the receiver's connection, taken
 * over from its session). conn and base stay the owner's: the channel
 * never frees them nor stops the loop; the owner passes the connection's
 * events on with channel_deliver / _drained / _closed. name goes in our
 * HELLO (channel_send_hello); timeout_s is the peer's silence allowed.
 * Strings, cbs and arg borrowed until channel_free. NULL on error
 * (logged). */
struct channel *channel_adopt(struct event_base *base, struct conn *conn, const char *group,
			      const char *name, unsigned timeout_s,
			      const struct channel_cbs *cbs, void *arg);
/* An adopted channel's connection events, as conn's callbacks would. */
int channel_deliver(struct channel *ch, const struct proto_msg *msg);
void channel_drained(struct channel *ch);
void channel_closed(struct channel *ch, const char *reason);
/* A connection kept between cycles (issue 17, RPO: a TLS handshake and
 * HELLO per cycle saved). channel_pause stops the loop and leaves the
 * connection open, safe from any callback. channel_keepable: it is open.
 * channel_resume hands a paused channel to its next owner: cbs and arg
 * replace the old ones, the idle clock and the low-water mark start
 * afresh; -1 when the connection closed meanwhile (nothing changed). The
 * owner then sends its first message and runs the loop with
 * channel_dispatch (0). The receiver may have dropped the connection
 * while it was paused: that shows as on_close once the loop runs. */
void channel_pause(struct channel *ch);
bool channel_keepable(const struct channel *ch);
int channel_resume(struct channel *ch, const struct channel_cbs *cbs, void *arg);
int channel_dispatch(struct channel *ch);
/* Send our HELLO (channel_run does on connecting). 0 / -1. */
int channel_send_hello(struct channel *ch);

/* Free the connection and the loop (not an adopted channel's): events the
 * owner put on channel_base() must be freed before. A connection still
 * open (a kept one) is closed in order first, its loop run until then.
 * Not from inside the channel's own loop. NULL ok. */
void channel_free(struct channel *ch);

/* Owned by the channel; the connection exists from channel_run on. */
struct conn *channel_conn(struct channel *ch);
struct event_base *channel_base(struct channel *ch);

/* Stop: close the connection (flushing it) or, when it is closed already,
 * the loop. Safe from any callback. */
void channel_end(struct channel *ch);

/* True (logged) when the receiver said nothing for too long. */
bool channel_idle(struct channel *ch);

/* Checks of a received message; each logs what was wrong. */
/* An ERROR frame: true, the receiver refused. */
bool channel_refused(struct channel *ch, const struct proto_msg *msg);
/* The receiver's HELLO: 0 when it speaks our protocol version, else -1. */
int channel_hello_ok(const struct proto_msg *msg);
/* A message the owner did not expect in its state: log it, tell the
 * receiver why, return -1 (conn then drops the connection). */
int channel_unexpected(struct channel *ch, const struct proto_msg *msg);

/* Ask for count hashes of block_size blocks of disk from offset, of point
 * (0 = newest). 0 / -1. */
int channel_hash_query(struct channel *ch, const char *disk, uint64_t point,
		       uint64_t offset, uint32_t block_size, uint32_t count);
/* The i-th hash of an answer (big-endian on the wire). */
uint64_t channel_hash_at(const struct proto_hash_answer *a, uint32_t i);

#endif

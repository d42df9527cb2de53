/* A framed protocol connection: libevent bufferevent over OpenSSL, TLS 1.3
 * only, mutual certificate authentication. Frames are decoded as they
 * arrive (every complete frame in a read event is drained); a peer that
 * breaks the protocol gets an ERROR frame and is dropped.
 *
 * Lifetime: a conn is freed by conn_free(), never inside its own callback:
 * conn_close() from a callback marks it closed and the close callback runs
 * from the event loop afterwards (event_base_once), where the owner may free. */
#ifndef NESTOR_PROTO_CONN_H
#define NESTOR_PROTO_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "proto/codec.h"
#include "proto/tls.h" /* the contexts conn_accept and conn_connect take */

struct conn;

/* Input a connection buffers at most: one maximal frame plus slack for the
 * TLS record that straddles its end (reading stops at this high-water mark). */
#define CONN_INPUT_MAX ((size_t)PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD + 65536u)

struct conn_cbs {
	/* TLS handshake completed and the peer certificate verified. */
	void (*on_ready)(struct conn *c, void *arg);
	/* One decoded frame; borrowed pointers in msg are valid only during
	 * the call. Return 0 to go on, -1 to stop reading (the callee has
	 * called conn_close or conn_send_error), 1 when the frame was not
	 * taken (the callee called conn_pause_read): the same frame is
	 * delivered again after conn_resume_read. */
	int (*on_msg)(struct conn *c, const struct proto_msg *msg, void *arg);
	/* Output buffer fell to or below the low-water mark (see
	 * conn_set_low_water); the sender may queue more. Optional. */
	void (*on_drain)(struct conn *c, void *arg);
	/* The connection is closed (peer EOF, error, protocol violation,
	 * conn_close). reason is a human-readable text. Called once, from the
	 * event loop, never from inside another callback of this conn. The
	 * owner may conn_free(c) here. A server-side conn that fails before
	 * on_ready logs only at debug level: the owner logs reason (a hostile
	 * network must not flood the log). */
	void (*on_close)(struct conn *c, const char *reason, void *arg);
};

/* Server side: wrap an accepted socket (ownership of fd passes to conn). */
struct conn *conn_accept(struct event_base *base, SSL_CTX *ctx, int fd,
			 const struct conn_cbs *cbs, void *arg);
/* Client side: connect to host:port (numeric or name), verify the server
 * certificate's name against server_name (CN or SAN), start TLS. */
struct conn *conn_connect(struct event_base *base, SSL_CTX *ctx,
			  const char *host, uint16_t port,
			  const char *server_name, const struct conn_cbs *cbs,
			  void *arg);

/* Queue a frame (with its bulk bytes). 0 / -1. */
int conn_send(struct conn *c, const struct proto_msg *msg);
/* Queue a frame whose bulk bytes (an EXTENT's payload) are referenced, not
 * copied: release(arg) is called on the loop thread once the connection no
 * longer needs them (written out, or the connection freed: then on a later
 * turn of the loop), possibly after the caller's other state is gone. Until
 * then they must stay valid and unchanged. A frame without bulk bytes is
 * queued as by conn_send and released at once. On -1 release is not
 * called. */
int conn_send_ref(struct conn *c, const struct proto_msg *msg, void (*release)(void *arg),
		  void *arg);
/* Queue an ERROR frame, then close once it is flushed (bounded wait). */
int conn_send_error(struct conn *c, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Bytes queued for sending. */
size_t conn_out_pending(const struct conn *c);
/* on_drain fires when output <= bytes (default CONN_LOW_WATER_DEFAULT). */
#define CONN_LOW_WATER_DEFAULT ((size_t)1 << 20)
void conn_set_low_water(struct conn *c, size_t bytes);
/* TLS handshake deadline in seconds (> 0; default 30), from the start of
 * the connection: call right after conn_accept / conn_connect. */
void conn_set_handshake_timeout(struct conn *c, unsigned seconds);
/* Close a READY connection after this many seconds with no frame received
 * or queued and no output drained (0 = never, the default). Time while
 * reading is paused (conn_pause_read) does not count. */
void conn_set_idle_timeout(struct conn *c, unsigned seconds);
/* Close a READY connection whose output stayed pending this many seconds
 * with not one byte written: the peer stopped reading (0 = never, the
 * default). Counts also while reading is paused. */
void conn_set_stall_timeout(struct conn *c, unsigned seconds);
/* Pause / resume decoding input (backpressure from a slow consumer). */
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);
/* Identity of the peer certificate: CN of its subject; "" before ready. */
const char *conn_peer_name(const struct conn *c);
/* Flush pending output, then close; on_close follows from the loop. */
void conn_close(struct conn *c);
/* Free (closes the socket if still open). NULL ok. Not from inside a
 * callback other than on_close. */
void conn_free(struct conn *c);

#endif

/* The agent's connection to the receiver (replicator/agent/channel.h): TLS
 * client context, event loop, HELLO, tick and idle timeout. The cycle and
 * verify keep their own state machines on top of it. */
#include "replicator/agent/channel.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/config.h"

struct channel {
	const struct agent_config *cfg; /* NULL when adopted */
	const char *group;
	const char *name;       /* ours, in HELLO */
	unsigned timeout_s;     /* receiver_timeout: the peer's silence allowed */
	bool adopted;           /* conn and base are the owner's (channel_adopt) */
	const struct channel_cbs *cbs;
	void *arg;
	struct event_base *base;
	SSL_CTX *ctx;
	struct event *tick;
	struct conn *conn;
	bool closed;
	time_t last_activity;
};

struct conn *
channel_conn(struct channel *ch)
{
	return ch->conn;
}

struct event_base *
channel_base(struct channel *ch)
{
	return ch->base;
}

void
channel_end(struct channel *ch)
{
	if (ch->conn && !ch->closed)
		conn_close(ch->conn);
	else if (!ch->adopted) /* the owner's loop serves others */
		event_base_loopbreak(ch->base);
}

bool
channel_idle(struct channel *ch)
{
	if (time(NULL) - ch->last_activity <= (time_t)ch->timeout_s)
		return false;
	/* An adopted channel is the DR side of a reverse stream: its peer is
	 * the on-prem agent. */
	log_error("group %s: %s silent for %u s (receiver_timeout), giving up", ch->group,
		  ch->adopted ? "agent" : "receiver", ch->timeout_s);
	return true;
}

bool
channel_refused(struct channel *ch, const struct proto_msg *msg)
{
	if (msg->type != PROTO_ERROR)
		return false;
	log_error("group %s: receiver refused: %s (%s)", ch->group, msg->u.error.text,
		  proto_error_code_name(msg->u.error.code));
	return true;
}

int
channel_hello_ok(const struct proto_msg *msg)
{
	if (msg->u.hello.version_min > PROTO_VERSION || msg->u.hello.version_max < PROTO_VERSION) {
		log_error("receiver speaks protocol %u..%u, need %u", msg->u.hello.version_min,
			  msg->u.hello.version_max, PROTO_VERSION);
		return -1;
	}
	return 0;
}

int
channel_unexpected(struct channel *ch, const struct proto_msg *msg)
{
	log_error("group %s: unexpected message type %u from the receiver", ch->group,
		  msg->type);
	conn_send_error(ch->conn, PROTO_ERR_PROTOCOL, "unexpected message type %u", msg->type);
	return -1;
}

int
channel_hash_query(struct channel *ch, const char *disk, uint64_t point, uint64_t offset,
		   uint32_t block_size, uint32_t count)
{
	struct proto_msg m = { .type = PROTO_HASH_QUERY };

	snprintf(m.u.hquery.group, sizeof(m.u.hquery.group), "%s", ch->group);
	snprintf(m.u.hquery.disk, sizeof(m.u.hquery.disk), "%s", disk);
	m.u.hquery.point_id = point;
	m.u.hquery.offset = offset;
	m.u.hquery.block_size = block_size;
	m.u.hquery.count = count;
	return conn_send(ch->conn, &m);
}

uint64_t
channel_hash_at(const struct proto_hash_answer *a, uint32_t i)
{
	uint64_t v = 0;

	for (int k = 0; k < 8; k++)
		v = v << 8 | a->hashes[i * 8 + (unsigned)k];
	return v;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch = arg;

	(void)fd;
	(void)what;
	ch->cbs->on_tick(ch->arg);
}

int
channel_send_hello(struct channel *ch)
{
	struct proto_msg m = { .type = PROTO_HELLO };

	ch->last_activity = time(NULL);
	m.u.hello.version_min = PROTO_VERSION;
	m.u.hello.version_max = PROTO_VERSION;
	m.u.hello.caps = PROTO_CAP_ZSTD;
	snprintf(m.u.hello.peer, sizeof(m.u.hello.peer), "%s", ch->name);
	return conn_send(ch->conn, &m);
}

static void
ch_on_ready(struct conn *conn, void *arg)
{
	(void)conn;
	(void)channel_send_hello(arg);
}

static int
ch_on_msg(struct conn *conn, const struct proto_msg *msg, void *arg)
{
	struct channel *ch = arg;

	(void)conn;
	ch->last_activity = time(NULL);
	return ch->cbs->on_msg(ch->arg, msg);
}

static void
ch_on_drain(struct conn *conn, void *arg)
{
	struct channel *ch = arg;

	(void)conn;
	/* The receiver reads what we send: it is alive even if it says nothing. */
	ch->last_activity = time(NULL);
	if (ch->cbs->on_drain)
		ch->cbs->on_drain(ch->arg);
}

static void
ch_on_close(struct conn *conn, const char *reason, void *arg)
{
	struct channel *ch = arg;

	(void)conn;
	ch->closed = true;
	ch->cbs->on_close(ch->arg, reason);
	if (!ch->adopted)
		event_base_loopbreak(ch->base);
}

int
channel_deliver(struct channel *ch, const struct proto_msg *msg)
{
	return ch_on_msg(ch->conn, msg, ch);
}

void
channel_drained(struct channel *ch)
{
	ch_on_drain(ch->conn, ch);
}

void
channel_closed(struct channel *ch, const char *reason)
{
	if (!ch->closed)
		ch_on_close(ch->conn, reason, ch);
}

/* The tick every channel has. 0 / -1 (logged). */
static int
channel_tick_start(struct channel *ch)
{
	struct timeval one = { 1, 0 };

	ch->tick = event_new(ch->base, -1, EV_PERSIST, on_tick, ch);
	if (!ch->tick || event_add(ch->tick, &one) < 0) {
		log_error("group %s: cannot start the channel's timer", ch->group);
		return -1;
	}
	return 0;
}

struct channel *
channel_adopt(struct event_base *base, struct conn *conn, const char *group, const char *name,
	      unsigned timeout_s, const struct channel_cbs *cbs, void *arg)
{
	struct channel *ch = calloc(1, sizeof(*ch));

	if (!ch) {
		log_error("group %s: out of memory", group);
		return NULL;
	}
	*ch = (struct channel){ .group = group, .name = name, .timeout_s = timeout_s,
				.adopted = true, .cbs = cbs, .arg = arg, .base = base,
				.conn = conn, .last_activity = time(NULL) };
	if (channel_tick_start(ch) < 0) {
		channel_free(ch);
		return NULL;
	}
	return ch;
}

static const struct conn_cbs ch_cbs = {
	.on_ready = ch_on_ready,
	.on_msg = ch_on_msg,
	.on_drain = ch_on_drain,
	.on_close = ch_on_close,
};

struct channel *
channel_new(const struct agent_config *cfg, const char *group, const struct channel_cbs *cbs,
	    void *arg)
{
	struct tls_files tf = { cfg->ca, cfg->cert, cfg->key };
	struct channel *ch = calloc(1, sizeof(*ch)), *ret = NULL;

	if (!ch || !(ch->base = event_base_new())) {
		log_error("agent: out of memory");
		goto out;
	}
	ch->cfg = cfg;
	ch->group = group;
	ch->name = cfg->name;
	ch->timeout_s = (unsigned)cfg->receiver_timeout_s;
	ch->cbs = cbs;
	ch->arg = arg;
	ch->ctx = tls_client_ctx_new(&tf);
	if (!ch->ctx)
		goto out;
	if (channel_tick_start(ch) < 0)
		goto out;
	ret = ch;
	ch = NULL;
out:
	channel_free(ch);
	return ret;
}

int
channel_run(struct channel *ch)
{
	ch->last_activity = time(NULL);
	ch->conn = conn_connect(ch->base, ch->ctx, ch->cfg->receiver_host,
				ch->cfg->receiver_port, ch->cfg->server_name, &ch_cbs, ch);
	if (!ch->conn)
		return -1;
	event_base_dispatch(ch->base);
	return 0;
}

void
channel_pause(struct channel *ch)
{
	event_base_loopbreak(ch->base);
}

bool
channel_keepable(const struct channel *ch)
{
	return ch && !ch->adopted && ch->conn && !ch->closed;
}

int
channel_resume(struct channel *ch, const struct channel_cbs *cbs, void *arg)
{
	if (!channel_keepable(ch))
		return -1;
	ch->cbs = cbs;
	ch->arg = arg;
	ch->last_activity = time(NULL);
	conn_set_low_water(ch->conn, CONN_LOW_WATER_DEFAULT);
	return 0;
}

int
channel_dispatch(struct channel *ch)
{
	event_base_dispatch(ch->base);
	return 0;
}

static int
quiet_msg(void *arg, const struct proto_msg *msg)
{
	(void)arg;
	(void)msg;
	return 0;
}

static void
quiet_close(void *arg, const char *reason)
{
	(void)arg;
	(void)reason;
}

static void
quiet_tick(void *arg)
{
	(void)arg;
}

/* A kept connection's last owner is gone: nothing to tell anyone. */
static const struct channel_cbs quiet_cbs = {
	.on_msg = quiet_msg, .on_close = quiet_close, .on_tick = quiet_tick,
};

void
channel_free(struct channel *ch)
{
	if (!ch)
		return;
	if (channel_keepable(ch)) {
		/* Still open (kept between cycles): closed in order, so the
		 * receiver sees a TLS close, not a connection error. conn's
		 * close timer bounds the wait. */
		ch->cbs = &quiet_cbs;
		conn_close(ch->conn);
		event_base_dispatch(ch->base);
	}
	if (ch->tick)
		event_free(ch->tick);
	if (!ch->adopted) {
		conn_free(ch->conn);
		if (ch->ctx)
			SSL_CTX_free(ch->ctx);
		if (ch->base)
			event_base_free(ch->base);
	}
	free(ch);
}

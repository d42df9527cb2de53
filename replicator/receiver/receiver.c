/* Receiver: the network side of the sessions (session.h). A TLS listener,
 * one conn per agent adapted to the session's io, signals and the loop. */
#include "replicator/receiver/receiver.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/child.h"
#include "common/heap.h"
#include "common/log.h"
#include "common/strfmt.h"
#include "common/workpool.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "proto/listener.h"
#include "replicator/config.h"
#include "replicator/receiver/gate.h"
#include "replicator/receiver/history.h"
#include "replicator/receiver/limits.h"
#include "replicator/receiver/monitor.h"
#include "replicator/receiver/notify.h"
#include "replicator/receiver/rxmetrics.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"

struct receiver;

/* One agent connection: its conn, its share of the connection caps and,
 * once the gate let it through after the handshake, its session. */
struct peer {
	struct receiver *rx;
	struct conn *conn;
	struct gate_ticket *ticket;
	struct session *session; /* NULL until admitted */
	struct peer *next;
	bool out_paused;      /* not read until the agent takes our output */
	bool working;         /* not read until its job on the pool is done */
};

struct receiver {
	const struct receiver_config *cfg;
	struct event_base *base;
	SSL_CTX *ctx;
	struct store *store;
	struct session_env *env;
	struct peer *peers;
	struct rxmetrics *metrics; /* NULL = off */
	struct gate *gate;
	struct workpool *pool;  /* heavy steps, off the loop */
	struct event *pool_ev;  /* the pool's eventfd: done callbacks */
	struct notify *notify;  /* the webhook; NULL = off */
	struct monitor *monitor;
};

static void
peer_free(struct peer *p)
{
	struct peer **pp;

	if (!p)
		return;
	for (pp = &p->rx->peers; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	session_free(p->session);
	conn_free(p->conn);
	gate_release(p->rx->gate, p->ticket);
	free(p);
}

static int
io_send(void *arg, const struct proto_msg *m)
{
	struct peer *p = arg;

	return conn_send(p->conn, m);
}

static void
io_send_error(void *arg, uint32_t code, const char *text)
{
	struct peer *p = arg;

	(void)conn_send_error(p->conn, code, "%s", text);
}

static void
io_close(void *arg)
{
	struct peer *p = arg;

	conn_close(p->conn);
}

static const char *
io_peer_name(void *arg)
{
	struct peer *p = arg;

	return conn_peer_name(p->conn);
}

static void peer_read_again(struct peer *p);

static void
io_resume(void *arg)
{
	struct peer *p = arg;

	p->working = false;
	peer_read_again(p);
}

static struct conn *
io_conn(void *arg)
{
	return ((struct peer *)arg)->conn;
}

static struct event_base *
io_base(void *arg)
{
	return ((struct peer *)arg)->rx->base;
}

static const struct session_io peer_io = {
	.send = io_send,
	.send_error = io_send_error,
	.close = io_close,
	.peer_name = io_peer_name,
	.resume = io_resume,
	.conn = io_conn,
	.base = io_base,
};

static void
peer_on_ready(struct conn *c, void *arg)
{
	struct peer *p = arg;

	/* No session state for a CN without [client] or over its cap. */
	if (gate_ready(p->rx->gate, p->ticket, c) < 0) {
		conn_close(c);
		return;
	}
	p->session = session_new(p->rx->env, &peer_io, p);
	if (!p->session) {
		conn_close(c);
		return;
	}
	session_on_ready(p->session);
}

static void
peer_read_again(struct peer *p)
{
	if (!p->out_paused && !p->working)
		conn_resume_read(p->conn);
}

/* Back-pressure: an agent that does not read what we answer is not read
 * either, so it can make us hold session_output_max (and one frame), no
 * more; reading resumes once the output drained to half of it. Fairness:
 * a hash query (the one request that reads a lot) runs on the pool, and
 * its session is not read until the answer went out, so protocol order is
 * kept while the other sessions' frames go on (issue 12, section 3). */
static int
peer_on_msg(struct conn *c, const struct proto_msg *msg, void *arg)
{
	struct peer *p = arg;
	int rc = p->session ? session_on_msg(p->session, msg) : -1;

	if (rc < 0)
		return -1;
	if (rc >= 1) { /* 2: not taken yet, given again after io_resume */
		p->working = true;
		conn_pause_read(c);
	}
	if (!p->out_paused && conn_out_pending(c) > p->rx->cfg->session_output_max) {
		log_debug("agent %s: not reading our answers; pausing", conn_peer_name(c));
		p->out_paused = true;
		conn_pause_read(c);
	}
	return rc == 2 ? 1 : 0;
}

static void
peer_on_drain(struct conn *c, void *arg)
{
	struct peer *p = arg;

	(void)c;
	if (p->out_paused) {
		p->out_paused = false;
		peer_read_again(p);
	}
	if (p->session)
		session_on_drain(p->session);
}

static void
peer_on_close(struct conn *c, const char *reason, void *arg)
{
	struct peer *p = arg;

	(void)c;
	/* A connection that never became a session is the gate's to log. */
	if (!gate_closed(p->rx->gate, p->ticket, reason) && p->session)
		session_on_close(p->session, reason);
	peer_free(p);
}

static const struct conn_cbs peer_cbs = {
	.on_ready = peer_on_ready,
	.on_msg = peer_on_msg,
	.on_drain = peer_on_drain,
	.on_close = peer_on_close,
};

static void
on_accept(int fd, void *arg)
{
	struct receiver *rx = arg;
	struct gate_ticket *t = gate_accept(rx->gate, fd); /* caps before TLS */
	struct peer *p = t ? calloc(1, sizeof(*p)) : NULL;

	if (!p) {
		if (t) {
			log_error("out of memory accepting a connection");
			gate_release(rx->gate, t);
			close(fd);
		}
		return;
	}
	p->rx = rx;
	p->ticket = t;
	p->conn = conn_accept(rx->base, rx->ctx, fd, &peer_cbs, p);
	if (!p->conn) {
		peer_free(p);
		return;
	}
	gate_conn_start(rx->gate, p->conn);
	conn_set_low_water(p->conn, rx->cfg->session_output_max / 2);
	p->next = rx->peers;
	rx->peers = p;
}

static void
on_pool_done(evutil_socket_t fd, short what, void *arg)
{
	struct receiver *rx = arg;

	(void)fd;
	(void)what;
	(void)workpool_dispatch(rx->pool);
}

/* The worker pool and its wake-up on the loop; [receiver] workers = 0
 * means one per online CPU. */
static int
receiver_pool_start(struct receiver *rx)
{
	unsigned n = rx->cfg->workers ? (unsigned)rx->cfg->workers : workpool_cpus();

	rx->pool = workpool_new(n, (size_t)rx->cfg->work_queue_max);
	if (!rx->pool)
		return -1;
	rx->pool_ev = event_new(rx->base, workpool_fd(rx->pool), EV_READ | EV_PERSIST,
				on_pool_done, rx);
	if (!rx->pool_ev || event_add(rx->pool_ev, NULL) < 0) {
		log_error("receiver: cannot watch the worker pool");
		return -1;
	}
	session_env_set_pool(rx->env, rx->pool);
	log_info("receiver: %u workers, at most %llu jobs waiting", n,
		 (unsigned long long)rx->cfg->work_queue_max);
	return 0;
}

/* Monitoring (issue 16): with notify = URL the webhook and the group
 * checks that feed it (RPO targets reach /metrics through rxmetrics_new). */
static int
receiver_monitor_start(struct receiver *rx)
{
	if (!rx->cfg->notify_url)
		return 0;
	rx->notify = notify_new(rx->cfg->notify_url, rx->cfg->notify_ca);
	rx->monitor = rx->notify ? monitor_new(rx->base, rx->cfg, rx->store, rx->notify) : NULL;
	if (!rx->monitor)
		return -1;
	rxmetrics_set_notify(rx->metrics, rx->notify);
	return 0;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct receiver *rx = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(rx->base);
}

/* The top pad (common/heap.h) keeps 16 MiB at the top of each heap when it
 * shrinks: the write buffers come and go as a point's queue fills and
 * drains. A 2 GiB seed with compress_level = 0 took 60,000-105,000 page
 * faults in the receiver without it, ~11,500 with it (issue 17; perf stat,
 * this VM's faults are costly); the default adaptive level took ~13,000
 * either way. */
#define RECEIVER_TOP_PAD (16 << 20)

struct store *
receiver_store_open(const struct receiver_config *cfg)
{
	struct store_ceph_opts o = { cfg->ceph_conf, cfg->ceph_client, cfg->ceph_pool };
	struct store *st = store_open(cfg->store_dir, cfg->store_ceph ? &o : NULL);

	if (st) {
		store_set_limits(st, (unsigned)cfg->max_nbd_total, (unsigned)cfg->max_nbd_per_session);
		history_attach(st, cfg);
		if (store_set_write_buffers(st, cfg->write_buffer_total) < 0) {
			store_free(st);
			return NULL;
		}
	}
	return st;
}

/* qemu-nbd children recorded under <store>/.children (no group is named
 * so); those a killed receiver left behind are ended first. */
static int
receiver_children_open(const struct receiver_config *cfg)
{
	char *dir = strfmt("%s/.children", cfg->store_dir);
	int rc = dir ? child_registry_open(dir) : -1;

	free(dir);
	return rc;
}

int
receiver_run(const struct receiver_config *cfg, const struct receiver_hooks *hooks)
{
	struct receiver rx = { .cfg = cfg };
	struct tls_files tf = { cfg->ca, cfg->cert, cfg->key };
	struct listener *ln = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	int ret = -1;

	heap_keep_buffers(RECEIVER_TOP_PAD);
	signal(SIGPIPE, SIG_IGN);
	rx.base = event_base_new();
	if (!rx.base) {
		log_error("receiver: out of memory");
		goto out;
	}
	rx.ctx = tls_server_ctx_new(&tf);
	if (!rx.ctx)
		goto out;
	rx.store = receiver_store_open(cfg);
	if (!rx.store || receiver_children_open(cfg) < 0 || store_settle_start(rx.store) < 0)
		goto out;
	if (cfg->metrics_host) {
		rx.metrics = rxmetrics_new(rx.base, cfg, rx.store);
		if (!rx.metrics)
			goto out;
	}
	if (receiver_monitor_start(&rx) < 0)
		goto out;
	rx.env = session_env_new(cfg, rx.store, rx.metrics);
	if (rx.env && hooks && hooks->reverse)
		session_env_set_reverse(rx.env, hooks->reverse, hooks->reverse_arg);
	rx.gate = rx.env ? gate_new(cfg, rx.base) : NULL;
	if (!rx.gate || receiver_pool_start(&rx) < 0)
		goto out;
	ln = listener_new(rx.base, cfg->listen_host, cfg->listen_port, on_accept, &rx);
	if (!ln)
		goto out;
	sigint = evsignal_new(rx.base, SIGINT, on_signal, &rx);
	sigterm = evsignal_new(rx.base, SIGTERM, on_signal, &rx);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 ||
	    evsignal_add(sigterm, NULL) < 0) {
		log_error("receiver: cannot install signal handlers");
		goto out;
	}
	log_info("receiver listening on %s:%u, store %s", cfg->listen_host,
		 listener_port(ln), cfg->store_dir);
	log_info("receiver memory: %llu KiB per idle session, at most %llu KiB per busy one, "
		 "%llu KiB shared, write buffers of all sessions at most %llu KiB",
		 (unsigned long long)limits_session_idle() >> 10,
		 (unsigned long long)limits_session_busy(cfg->session_output_max) >> 10,
		 (unsigned long long)limits_shared(workpool_workers(rx.pool)) >> 10,
		 (unsigned long long)cfg->write_buffer_total >> 10);
	if (event_base_dispatch(rx.base) < 0) {
		log_error("receiver: event loop failed");
		goto out;
	}
	ret = 0;
out:
	while (rx.peers)
		peer_free(rx.peers);
	/* After the sessions (their jobs are disowned), before the env and
	 * the store the jobs use. */
	workpool_free(rx.pool);
	if (rx.pool_ev)
		event_free(rx.pool_ev);
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	listener_free(ln);
	gate_free(rx.gate);
	session_env_free(rx.env);
	rxmetrics_free(rx.metrics);
	monitor_free(rx.monitor);
	notify_free(rx.notify);
	store_free(rx.store);
	if (rx.ctx)
		SSL_CTX_free(rx.ctx);
	if (rx.base)
		event_base_free(rx.base);
	return ret;
}

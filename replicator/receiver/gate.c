/* The receiver's door (replicator/receiver/gate.h): admission.h does the
 * counting; this file adds the sockets, the configuration, the descriptor
 * limit and the logs, each kind of refusal rate-limited on its own. */
#include "replicator/receiver/gate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ratelimit.h"
#include "proto/codec.h"
#include "proto/conn.h"
#include "replicator/config.h"
#include "replicator/receiver/admission.h"

#define GATE_LOG_INTERVAL_NS (10ull * 1000000000u)

/* Each kind of refusal has its own rate limit: a flood of one must not
 * hide the first of another. */
enum gate_log { GL_FULL, GL_ADDRESS, GL_CLIENT, GL_UNKNOWN_CN, GL_HANDSHAKE, GL_COUNT };

/* What the summary of held-back lines calls each kind. */
static const char *const gate_log_what[GL_COUNT] = {
	[GL_FULL] = "connections refused at max_conns",
	[GL_ADDRESS] = "connections refused at max_conns_per_address",
	[GL_CLIENT] = "connections closed at max_conns_per_client",
	[GL_UNKNOWN_CN] = "connections closed for a certificate without a [client] section",
	[GL_HANDSHAKE] = "connections closed before a session",
};

struct gate {
	const struct receiver_config *cfg;
	struct admission *adm;
	struct event *flush; /* logs what the rate limit held back */
	struct ratelimit rl[GL_COUNT];
};

struct gate_ticket {
	struct admission_slot *slot;
	bool ready;   /* authenticated: the session logs its own close */
	bool refused; /* turned away after the handshake, already logged */
	char addr[ADMISSION_ADDR_KEY_MAX];
};

static void
gate_log(struct gate *g, enum gate_log kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One warning per kind and interval; the next says how many were held. */
static void
gate_log(struct gate *g, enum gate_log kind, const char *fmt, ...)
{
	static const struct timeval later = { GATE_LOG_INTERVAL_NS / 1000000000u, 0 };
	char msg[1024];
	unsigned held;
	va_list ap;

	if (!ratelimit_pass(&g->rl[kind], clock_mono_ns(), &held)) {
		/* No later event may come to say how many there were. */
		if (!evtimer_pending(g->flush, NULL))
			evtimer_add(g->flush, &later);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (held)
		log_warn("%s (and %u more like it in the last %llu s)", msg, held,
			 GATE_LOG_INTERVAL_NS / 1000000000u);
	else
		log_warn("%s", msg);
}

static void
gate_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gate *g = arg;

	(void)fd;
	(void)what;
	for (int k = 0; k < GL_COUNT; k++) {
		unsigned held = ratelimit_take_held(&g->rl[k]);

		if (held)
			log_warn("receiver: %u more %s in the last %llu s (not logged one by one)",
				 held, gate_log_what[k], GATE_LOG_INTERVAL_NS / 1000000000u);
	}
}

/* max_conns fitted to RLIMIT_NOFILE: raise the soft limit toward what
 * max_conns needs (never above the hard one), then lower max_conns to what
 * the limit leaves room for. 0 when no connection fits. */
static unsigned
gate_fit_nofile(unsigned max_conns)
{
	uint64_t need = admission_fd_need(max_conns);
	struct rlimit rl;
	unsigned cap;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warn("receiver: getrlimit(RLIMIT_NOFILE): %m; max_conns %u kept", max_conns);
		return max_conns;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
		struct rlimit want = { need, rl.rlim_max };

		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
			want.rlim_cur = rl.rlim_max;
		if (want.rlim_cur > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = want.rlim_cur;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return max_conns;
	cap = admission_fd_cap(rl.rlim_cur);
	if (cap < max_conns) {
		log_warn("receiver: max_conns %u lowered to %u: the descriptor limit is %llu "
			 "(LimitNOFILE, ulimit -n; %llu would fit max_conns)", max_conns, cap,
			 (unsigned long long)rl.rlim_cur, (unsigned long long)need);
		return cap;
	}
	return max_conns;
}

struct gate *
gate_new(const struct receiver_config *cfg, struct event_base *base)
{
	struct admission_limits lim = { cfg->max_conns, cfg->max_conns_per_address,
					cfg->max_conns_per_client };
	struct gate *g = calloc(1, sizeof(*g));

	if (!g) {
		log_error("receiver: out of memory");
		return NULL;
	}
	g->cfg = cfg;
	g->flush = evtimer_new(base, gate_flush_cb, g);
	if (!g->flush) {
		log_error("receiver: cannot create a timer");
		free(g);
		return NULL;
	}
	for (int i = 0; i < GL_COUNT; i++)
		g->rl[i].interval_ns = GATE_LOG_INTERVAL_NS;
	lim.max_conns = gate_fit_nofile(cfg->max_conns);
	if (lim.max_conns == 0) {
		log_error("receiver: the descriptor limit leaves no room for a connection; "
			  "raise LimitNOFILE / ulimit -n");
		gate_free(g);
		return NULL;
	}
	g->adm = admission_new(&lim);
	if (!g->adm) {
		log_error("receiver: out of memory");
		gate_free(g);
		return NULL;
	}
	/* The agent daemon runs one connection per group at once, and verify
	 * one more: a cap below that refuses the agent's own cycles. */
	for (size_t i = 0; i < cfg->nclients; i++) {
		const struct receiver_client_cfg *cl = &cfg->clients[i];

		if (!cl->all_groups && cl->ngroups + 1 > lim.per_client)
			log_warn("receiver: client %s has %zu groups but max_conns_per_client is "
				 "%u: its agent may run more cycles at once than it may connect",
				 cl->peer, cl->ngroups, lim.per_client);
	}
	log_info("receiver: at most %u connections, %u per address, %u per client; "
		 "handshake deadline %u s, idle timeout %u s", lim.max_conns, lim.per_address,
		 lim.per_client, cfg->handshake_timeout_s, cfg->idle_timeout_s);
	return g;
}

void
gate_free(struct gate *g)
{
	if (!g)
		return;
	admission_free(g->adm);
	if (g->flush)
		event_free(g->flush);
	free(g);
}

struct gate_ticket *
gate_accept(struct gate *g, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct gate_ticket *t = calloc(1, sizeof(*t));
	enum admission_verdict why = ADMIT_NOMEM;

	if (!t) {
		log_error("receiver: out of memory accepting a connection");
		goto refuse;
	}
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    admission_addr_key((struct sockaddr *)&ss, t->addr, sizeof(t->addr)) < 0) {
		log_debug("receiver: accepted a socket without a usable peer address: %m");
		goto refuse;
	}
	t->slot = admission_enter(g->adm, t->addr, &why);
	if (!t->slot) {
		gate_log(g, why == ADMIT_ADDRESS ? GL_ADDRESS : GL_FULL,
			 "connection from %s refused at once: %s", t->addr,
			 admission_verdict_str(why));
		goto refuse;
	}
	return t;
refuse:
	free(t);
	close(fd);
	return NULL;
}

void
gate_conn_start(struct gate *g, struct conn *c)
{
	conn_set_handshake_timeout(c, g->cfg->handshake_timeout_s);
}

int
gate_ready(struct gate *g, struct gate_ticket *t, struct conn *c)
{
	const char *cn = conn_peer_name(c);
	enum admission_verdict v;

	/* Signed by our CA is not enough: an unknown CN gets nothing more. */
	if (!receiver_config_has_client(g->cfg, cn)) {
		gate_log(g, GL_UNKNOWN_CN, "connection from %s: certificate CN '%s' has no "
			 "[client] section: closed", t->addr, cn);
		t->refused = true;
		return -1;
	}
	v = admission_authenticate(g->adm, t->slot, cn);
	if (v != ADMIT_OK) {
		gate_log(g, GL_CLIENT, "connection from %s as %s closed: %s", t->addr, cn,
			 admission_verdict_str(v));
		/* A known agent is told why: its operator reads it in its log. */
		(void)conn_send_error(c, PROTO_ERR_CONFLICT, "too many connections of %s: %s",
				      cn, admission_verdict_str(v));
		t->refused = true;
		return -1;
	}
	t->ready = true;
	conn_set_idle_timeout(c, g->cfg->idle_timeout_s);
	conn_set_stall_timeout(c, g->cfg->stall_timeout_s);
	return 0;
}

bool
gate_closed(struct gate *g, struct gate_ticket *t, const char *reason)
{
	if (t->ready)
		return false;
	if (!t->refused)
		gate_log(g, GL_HANDSHAKE, "connection from %s closed before a session: %s",
			 t->addr, reason);
	return true;
}

void
gate_release(struct gate *g, struct gate_ticket *t)
{
	if (!t)
		return;
	admission_release(g->adm, t->slot);
	free(t);
}

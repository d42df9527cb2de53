/* Tests for proto/conn.c: refusal of every kind of bad peer (wrong or
 * missing certificates, TLS 1.2, wrong names) and of raw TLS peers that
 * break the protocol. Runs from the repository root. */
#include "tests/unit/conn-harness.h"

TestSuite(conn_refused, .init = setup, .fini = teardown, .timeout = 60);

/* ---- tests: refused peers ---------------------------------------------- */

static bool srv_closed_and_cli_closed(void) { return W.srv.closed && W.cli.closed; }

static void
expect_refused(SSL_CTX *ctx, const char *server_name)
{
	dial(ctx, server_name);
	/* Queued before the handshake: must never be decoded by the server. */
	send_ok(W.cli.c, m_hello());
	cr_assert(run_until(srv_closed_and_cli_closed, RUN_S),
		  "not refused: srv closed=%d ready=%d (%s) cli closed=%d ready=%d (%s)",
		  W.srv.closed, W.srv.ready, W.srv.reason, W.cli.closed, W.cli.ready,
		  W.cli.reason);
	run_for(0.2); /* late callbacks would show up here */
	cr_assert_eq(W.srv.ready, 0);
	cr_assert_eq(W.cli.ready, 0, "client became ready: %s", W.cli.reason);
	cr_assert_eq(W.srv.nmsg, 0);
	cr_assert_eq(W.cli.nmsg, 0);
	cr_assert_eq(W.srv.closed, 1);
	cr_assert_eq(W.cli.closed, 1);
	cr_assert_str_not_empty(W.srv.reason);
	cr_assert_str_not_empty(W.cli.reason);
	cr_log_info("refused: server: %s | client: %s", W.srv.reason, W.cli.reason);
}

static SSL_CTX *
raw_client_ctx(bool with_cert, int max_version)
{
	char ca[256], crt[256], key[256];
	SSL_CTX *ctx = SSL_CTX_new(TLS_method());

	cr_assert_not_null(ctx);
	path(ca, sizeof(ca), "a", "ca.crt");
	path(crt, sizeof(crt), "a", "agent1.crt");
	path(key, sizeof(key), "a", "agent1.key");
	cr_assert_eq(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (with_cert) {
		cr_assert_eq(SSL_CTX_use_certificate_chain_file(ctx, crt), 1);
		cr_assert_eq(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), 1);
	}
	if (max_version)
		cr_assert_eq(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	return ctx;
}

Test(conn_refused, refuses_client_without_certificate)
{
	SSL_CTX *ctx = raw_client_ctx(false, 0);

	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "certificate"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn_refused, refuses_certificate_from_other_ca)
{
	char ca[256], crt[256], key[256];
	struct tls_files f = { ca, crt, key };
	SSL_CTX *ctx;

	/* Trusts our receiver, but its own cert comes from CA B. */
	path(ca, sizeof(ca), "a", "ca.crt");
	path(crt, sizeof(crt), "b", "intruder.crt");
	path(key, sizeof(key), "b", "intruder.key");
	ctx = tls_client_ctx_new(&f);
	cr_assert_not_null(ctx);
	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "verify"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn_refused, refuses_expired_certificate)
{
	SSL_CTX *ctx = ctx_for(false, "a", "a", "agent-old");

	cr_assert_not_null(ctx);
	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "expired"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn_refused, refuses_tls12)
{
	SSL_CTX *ctx = raw_client_ctx(true, TLS1_2_VERSION);

	expect_refused(ctx, "receiver");
	cr_assert(strstr(W.srv.reason, "protocol"), "%s", W.srv.reason);
	SSL_CTX_free(ctx);
}

Test(conn_refused, refuses_server_with_wrong_name)
{
	expect_refused(W.cctx, "backup.example.com");
	cr_assert(strstr(W.cli.reason, "verify"), "%s", W.cli.reason);
}

Test(conn_refused, refuses_receiver_cert_used_as_agent)
{
	/* serverAuth-only certificate from the right CA: wrong purpose. */
	SSL_CTX *ctx = ctx_for(false, "a", "a", "receiver");

	cr_assert_not_null(ctx);
	expect_refused(ctx, "receiver");
	SSL_CTX_free(ctx);
}

Test(conn_refused, ctx_rejects_mismatched_key)
{
	char ca[256], crt[256], key[256];
	struct tls_files f = { ca, crt, key };

	path(ca, sizeof(ca), "a", "ca.crt");
	path(crt, sizeof(crt), "a", "agent1.crt");
	path(key, sizeof(key), "a", "receiver.key");
	cr_assert_null(tls_client_ctx_new(&f));
	path(key, sizeof(key), "a", "missing.key");
	cr_assert_null(tls_server_ctx_new(&f));
}

/* ---- tests: raw TLS peers that break the protocol ---------------------- */

struct raw {
	struct bufferevent *bev;
	struct evbuffer *got;
	const uint8_t *send;
	size_t send_len;
	int connected;
	int done; /* EOF or error */
};

static struct raw R;

static void
raw_read(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_add_buffer(R.got, bufferevent_get_input(bev));
}

static void
raw_event(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	if (what & BEV_EVENT_CONNECTED) {
		R.connected = 1;
		bufferevent_write(bev, R.send, R.send_len);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		evbuffer_add_buffer(R.got, bufferevent_get_input(bev));
		R.done = 1;
	}
}

static bool raw_done(void) { return R.done && W.srv.closed; }

static void
raw_exchange(const uint8_t *bytes, size_t len, struct proto_msg *reply)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct proto_hdr hdr;
	uint8_t *p;
	SSL *ssl;
	int r;

	memset(&R, 0, sizeof(R));
	R.got = evbuffer_new();
	R.send = bytes;
	R.send_len = len;
	ssl = SSL_new(W.cctx);
	cr_assert_not_null(ssl);
	SSL_set1_host(ssl, "receiver");
	R.bev = bufferevent_openssl_socket_new(W.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					       BEV_OPT_CLOSE_ON_FREE);
	cr_assert_not_null(R.bev);
	bufferevent_openssl_set_allow_dirty_shutdown(R.bev, 1);
	bufferevent_setcb(R.bev, raw_read, NULL, raw_event, NULL);
	bufferevent_enable(R.bev, EV_READ | EV_WRITE);
	sin.sin_port = htons(listener_port(W.lis));
	sin.sin_addr.s_addr = htonl(0x7f000001);
	cr_assert_eq(bufferevent_socket_connect(R.bev, (struct sockaddr *)&sin, sizeof(sin)), 0);

	/* Only the header is sent: a refusal must not wait for a payload. */
	cr_assert(run_until(raw_done, 5), "raw peer not dropped: done=%d srv closed=%d",
		  R.done, W.srv.closed);
	cr_assert_eq(R.connected, 1);
	cr_assert_eq(W.srv.nmsg, 0);
	cr_assert_geq(evbuffer_get_length(R.got), PROTO_HDR_SIZE, "no ERROR frame received");
	p = evbuffer_pullup(R.got, -1);
	r = proto_hdr_decode(p, evbuffer_get_length(R.got), &hdr);
	cr_assert_eq(r, 0, "%s", proto_strerror(r));
	cr_assert_eq(hdr.type, PROTO_ERROR);
	cr_assert_eq(evbuffer_get_length(R.got), PROTO_HDR_SIZE + hdr.length,
		     "nothing may follow the ERROR frame");
	r = proto_decode(&hdr, p + PROTO_HDR_SIZE, reply);
	cr_assert_eq(r, 0, "%s", proto_strerror(r));
	bufferevent_free(R.bev);
	evbuffer_free(R.got);
}

Test(conn_refused, garbage_gets_error_frame_and_close)
{
	static const uint8_t junk[PROTO_HDR_SIZE] = "GET / HTTP/1.1\r";
	struct proto_msg reply;

	raw_exchange(junk, sizeof(junk), &reply);
	cr_assert_eq(reply.u.error.code, PROTO_ERR_PROTOCOL);
	cr_assert(strstr(reply.u.error.text, proto_strerror(PROTO_E_MAGIC)), "%s",
		  reply.u.error.text);
	cr_assert(strstr(W.srv.reason, proto_strerror(PROTO_E_MAGIC)), "%s", W.srv.reason);
}

Test(conn_refused, oversize_length_refused_before_buffering)
{
	uint8_t h[PROTO_HDR_SIZE];
	uint32_t len = PROTO_MAX_PAYLOAD + 1;
	struct proto_msg reply;

	h[0] = 'N'; h[1] = 'S'; h[2] = 'T'; h[3] = 'R';
	h[4] = 0; h[5] = PROTO_VERSION;
	h[6] = 0; h[7] = PROTO_EXTENT;
	h[8] = h[9] = h[10] = h[11] = 0;
	h[12] = (uint8_t)(len >> 24);
	h[13] = (uint8_t)(len >> 16);
	h[14] = (uint8_t)(len >> 8);
	h[15] = (uint8_t)len;
	raw_exchange(h, sizeof(h), &reply);
	cr_assert_eq(reply.u.error.code, PROTO_ERR_PROTOCOL);
	cr_assert(strstr(reply.u.error.text, proto_strerror(PROTO_E_TOOBIG)), "%s",
		  reply.u.error.text);
}

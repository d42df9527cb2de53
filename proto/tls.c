/* TLS for the protocol's connections: contexts (and the config check of
 * their files), the server name a client verifies and the identity of a
 * verified peer (see tls.h). */
#include "proto/tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "proto/codec.h"

#define TLS_VERIFY_DEPTH 4

/* ---- contexts ----------------------------------------------------------- */

void
tls_errors(char *buf, size_t cap)
{
	unsigned long e;
	size_t n = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char s[256];
		int w;

		ERR_error_string_n(e, s, sizeof(s));
		if (n >= cap)
			continue;
		w = snprintf(buf + n, cap - n, "%s%s", n ? "; " : "", s);
		if (w > 0)
			n += (size_t)w;
	}
	if (n == 0)
		snprintf(buf, cap, "unknown OpenSSL error");
}

static SSL_CTX *
tls_ctx_new(const struct tls_files *f, bool server)
{
	const char *side = server ? "server" : "client";
	STACK_OF(X509_NAME) *cas = NULL;
	SSL_CTX *ctx = NULL;
	SSL_CTX *ret = NULL;
	char err[1024];

	ERR_clear_error();
	if (!f || !f->ca || !f->cert || !f->key) {
		log_error("TLS %s: CA, certificate and key files are all required", side);
		goto out;
	}
	ctx = SSL_CTX_new(TLS_method());
	if (!ctx) {
		tls_errors(err, sizeof(err));
		log_error("TLS %s: SSL_CTX_new: %s", side, err);
		goto out;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
		tls_errors(err, sizeof(err));
		log_error("TLS %s: cannot require TLS 1.3: %s", side, err);
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* libevent may retry an SSL_write from a different buffer address. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
		tls_errors(err, sizeof(err));
		log_error("TLS %s: cannot load CA file %s: %s", side, f->ca, err);
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		tls_errors(err, sizeof(err));
		log_error("TLS %s: cannot load certificate %s: %s", side, f->cert, err);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1) {
		tls_errors(err, sizeof(err));
		/* A key that does not match the certificate fails here already. */
		log_error("TLS %s: cannot load private key %s for certificate %s: %s", side,
			  f->key, f->cert, err);
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_errors(err, sizeof(err));
		log_error("TLS %s: key %s does not match certificate %s: %s", side,
			  f->key, f->cert, err);
		goto out;
	}
	SSL_CTX_set_verify_depth(ctx, TLS_VERIFY_DEPTH);
	if (server) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
				   NULL);
		/* Tell clients which CA we accept so they pick the right cert. */
		cas = SSL_load_client_CA_file(f->ca);
		if (cas) {
			SSL_CTX_set_client_CA_list(ctx, cas);
			cas = NULL;
		}
		/* In TLS 1.3 the client finishes its handshake before the server
		 * has judged the client certificate. The session ticket we send
		 * after accepting it is what tells the client it was accepted
		 * (see conn_msg_cb), so never turn tickets off here. */
		if (!SSL_CTX_set_num_tickets(ctx, 1) ||
		    !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"nestor", 6)) {
			tls_errors(err, sizeof(err));
			log_error("TLS server: session setup: %s", err);
			goto out;
		}
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	ret = ctx;
	ctx = NULL;
out:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}

SSL_CTX *
tls_server_ctx_new(const struct tls_files *f)
{
	SSL_CTX *ctx = tls_ctx_new(f, true);

	/* A receiver holds hundreds of sessions mostly between frames: their
	 * empty record buffers (~34 KiB each) go back (issue 17). */
	if (ctx)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *
tls_client_ctx_new(const struct tls_files *f)
{
	return tls_ctx_new(f, false);
}

int
tls_check_files(const struct tls_files *f, bool server)
{
	X509_STORE_CTX *vctx = NULL;
	SSL_CTX *ctx = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf;
	struct stat st;
	int ret = -1;
	int vr;

	ctx = tls_ctx_new(f, server);
	if (!ctx)
		goto out;
	/* The context holds what the daemon would present; check it against
	 * the CA as the peer will, including the purpose (serverAuth for the
	 * receiver, clientAuth for an agent) and the validity dates. */
	leaf = SSL_CTX_get0_certificate(ctx);
	vctx = X509_STORE_CTX_new();
	if (!leaf || !vctx || SSL_CTX_get0_chain_certs(ctx, &chain) != 1 ||
	    X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), leaf, chain) != 1) {
		char err[1024];

		tls_errors(err, sizeof(err));
		log_error("certificate %s: cannot set up verification: %s", f->cert, err);
		goto out;
	}
	X509_STORE_CTX_set_purpose(vctx, server ? X509_PURPOSE_SSL_SERVER
						: X509_PURPOSE_SSL_CLIENT);
	X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(vctx), TLS_VERIFY_DEPTH);
	if (X509_verify_cert(vctx) != 1) {
		vr = X509_STORE_CTX_get_error(vctx);
		log_error("certificate %s does not verify against CA %s: %s", f->cert,
			  f->ca, X509_verify_cert_error_string(vr));
		goto out;
	}
	if (stat(f->key, &st) < 0) {
		log_error("private key %s: %m", f->key);
		goto out;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH))
		log_warn("private key %s is readable by group or others (mode %04o); "
			 "chmod 0600 it", f->key, (unsigned)(st.st_mode & 07777));
	ret = 0;
out:
	X509_STORE_CTX_free(vctx);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return ret;
}

/* ---- server name and peer identity -------------------------------------- */

int
tls_set_server_name(SSL *ssl, const char *name)
{
	unsigned char ipbuf[sizeof(struct in6_addr)];
	int r;

	if (inet_pton(AF_INET, name, ipbuf) == 1 || inet_pton(AF_INET6, name, ipbuf) == 1) {
		/* SNI carries host names only; IP identities match IP SANs. */
		r = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	} else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		r = SSL_set_tlsext_host_name(ssl, name) == 1 && SSL_set1_host(ssl, name) == 1;
	}
	return r == 1 ? 0 : -1;
}

/* Subject CN as printable text; exactly one CN is required so the identity
 * is not ambiguous. */
static int
tls_cert_cn(X509 *cert, char *buf, size_t cap)
{
	X509_NAME *name = X509_get_subject_name(cert);
	unsigned char *utf8 = NULL;
	ASN1_STRING *data;
	int ret = -1;
	int idx, len;

	idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
		goto out;
	data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	len = ASN1_STRING_to_UTF8(&utf8, data);
	if (len <= 0 || (size_t)len >= cap)
		goto out;
	for (int i = 0; i < len; i++) {
		if (utf8[i] < 0x20 || utf8[i] == 0x7f)
			goto out;
	}
	memcpy(buf, utf8, (size_t)len);
	buf[len] = '\0';
	ret = 0;
out:
	OPENSSL_free(utf8);
	return ret;
}

int
tls_peer_name(SSL *ssl, char *peer, size_t cap, char *why, size_t whycap)
{
	X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	long vr;

	/* SSL_VERIFY_PEER already enforced this; checked again so a context
	 * made elsewhere cannot turn verification off silently. */
	if (!cert) {
		snprintf(why, whycap, "peer presented no certificate");
		return -1;
	}
	vr = SSL_get_verify_result(ssl);
	if (vr != X509_V_OK) {
		snprintf(why, whycap, "peer certificate not verified: %s",
			 X509_verify_cert_error_string(vr));
		return -1;
	}
	if (tls_cert_cn(cert, peer, cap) < 0) {
		peer[0] = '\0';
		snprintf(why, whycap,
			 "peer certificate subject needs exactly one printable CN of at most %d bytes",
			 PROTO_PEER_MAX);
		return -1;
	}
	return 0;
}

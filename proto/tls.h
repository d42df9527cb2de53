/* TLS set-up and certificate checks for proto/conn: contexts (TLS 1.3 only,
 * mutual certificates), the server name a client verifies, and the peer's
 * identity (the single CN of a verified certificate). */
#ifndef NESTOR_PROTO_TLS_H
#define NESTOR_PROTO_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct tls_files {
	const char *ca;   /* PEM CA bundle that signs the peer */
	const char *cert; /* own certificate chain, PEM */
	const char *key;  /* own private key, PEM */
};

/* TLS 1.3 only, peer certificate required and verified against ca.
 * NULL on error (logged with the OpenSSL error string). Caller frees with
 * SSL_CTX_free. */
SSL_CTX *tls_server_ctx_new(const struct tls_files *f);
SSL_CTX *tls_client_ctx_new(const struct tls_files *f);

/* `nestor config check`: load f the way the daemon will (server side for
 * the receiver, client side for the agent): the CA file parses, the
 * certificate and key load and match, and the certificate chains to the CA
 * for that side's purpose. 0 / -1, what is wrong logged once, naming the
 * file. A key readable by group or others is logged as a warning only. */
int tls_check_files(const struct tls_files *f, bool server);

/* Drain OpenSSL's error queue into buf as "; "-separated texts ("unknown
 * OpenSSL error" if it was empty). */
void tls_errors(char *buf, size_t cap);

/* Client side: make ssl verify the server's certificate against name (a
 * host name, also sent as SNI, or an IP address matched to IP SANs).
 * 0 / -1 (not logged: the reason is on OpenSSL's error queue). */
int tls_set_server_name(SSL *ssl, const char *name);

/* The identity of the verified peer of an established ssl: the one
 * printable CN of its certificate subject, into peer[cap]. -1 with why
 * (a sentence for the close reason) when there is no certificate, it was
 * not verified, or its CN is missing, repeated, too long or not printable. */
int tls_peer_name(SSL *ssl, char *peer, size_t cap, char *why, size_t whycap);

#endif

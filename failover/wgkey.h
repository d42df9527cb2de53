/* WireGuard keys (Curve25519, as `wg genkey` / `wg pubkey` make them) in
 * their base64 text form, through OpenSSL's X25519: no child process, and
 * no private key on a command line or a pipe. Buffers are the caller's. */
#ifndef NESTOR_FAILOVER_WGKEY_H
#define NESTOR_FAILOVER_WGKEY_H

#include <stdbool.h>

/* 32 bytes in base64: 44 characters, the last one '='. */
#define WGKEY_LEN 44

/* A new private key into priv[WGKEY_LEN + 1]. 0 / -1 (logged). */
int wgkey_generate(char priv[WGKEY_LEN + 1]);
/* The public key of priv into pub[WGKEY_LEN + 1]. 0 / -1 (logged: a
 * malformed key). */
int wgkey_public(const char *priv, char pub[WGKEY_LEN + 1]);
/* Is s a key's text: 44 base64 characters that decode to 32 bytes? */
bool wgkey_valid(const char *s);

#endif

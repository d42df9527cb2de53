/* WireGuard keys through OpenSSL X25519 (failover/wgkey.h). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "failover/wgkey.h"

#define RAW_LEN 32

static void
encode(const unsigned char raw[RAW_LEN], char out[WGKEY_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, raw, RAW_LEN);
	out[WGKEY_LEN] = '\0';
}

/* EVP_DecodeBlock counts the padding as zero bytes: 44 characters ending
 * in one '=' are exactly 32 bytes. */
static bool
decode(const char *s, unsigned char raw[RAW_LEN])
{
	unsigned char buf[RAW_LEN + 1];
	size_t len = s ? strlen(s) : 0;
	bool ok;

	if (len != WGKEY_LEN || s[WGKEY_LEN - 1] != '=' || s[WGKEY_LEN - 2] == '=')
		return false;
	ok = EVP_DecodeBlock(buf, (const unsigned char *)s, WGKEY_LEN) == RAW_LEN + 1;
	if (ok)
		memcpy(raw, buf, RAW_LEN);
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

bool
wgkey_valid(const char *s)
{
	unsigned char raw[RAW_LEN];
	bool ok = decode(s, raw);

	OPENSSL_cleanse(raw, sizeof(raw));
	return ok;
}

int
wgkey_generate(char priv[WGKEY_LEN + 1])
{
	unsigned char raw[RAW_LEN];

	if (RAND_bytes(raw, RAW_LEN) != 1) {
		log_error("wireguard: no random bytes for a key: %s",
			  ERR_reason_error_string(ERR_get_error()) ?: "unknown error");
		return -1;
	}
	/* clamped as wg genkey does (X25519 clamps anyway; the text is then
	 * the one wg would print) */
	raw[0] &= 248;
	raw[31] = (raw[31] & 127) | 64;
	encode(raw, priv);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

int
wgkey_public(const char *priv, char pub[WGKEY_LEN + 1])
{
	unsigned char raw[RAW_LEN], out[RAW_LEN];
	size_t len = RAW_LEN;
	EVP_PKEY *k = NULL;
	int ret = -1;

	if (!decode(priv, raw)) {
		log_error("wireguard: a private key is malformed (not 32 bytes of base64)");
		return -1;
	}
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, raw, RAW_LEN);
	if (!k || EVP_PKEY_get_raw_public_key(k, out, &len) != 1 || len != RAW_LEN) {
		log_error("wireguard: cannot derive a public key: %s",
			  ERR_reason_error_string(ERR_get_error()) ?: "unknown error");
		goto out;
	}
	encode(out, pub);
	ret = 0;
out:
	EVP_PKEY_free(k);
	OPENSSL_cleanse(raw, sizeof(raw));
	return ret;
}

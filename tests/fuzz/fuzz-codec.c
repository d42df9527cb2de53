/* libFuzzer harness for the wire codec: decode arbitrary bytes; whatever
 * decodes must re-encode to the very same frame (the encoding is canonical)
 * and decode again to the same message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD];
static uint8_t head[PROTO_HEAD_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg m, m2;
	struct proto_hdr h;
	uint8_t *payload = NULL;
	size_t n = 0, nh = 0, nb = 0;

	if (proto_hdr_decode(data, size, &h) != 0)
		return 0;
	if (size - PROTO_HDR_SIZE < h.length)
		return 0;
	/* An exact-size copy so ASan sees any read past the payload. */
	payload = malloc(h.length ? h.length : 1);
	if (payload == NULL)
		return 0;
	memcpy(payload, data + PROTO_HDR_SIZE, h.length);
	if (proto_decode(&h, payload, &m) != 0)
		goto out;

	if (proto_encode(&m, out, sizeof(out), &n) != 0)
		abort();
	if (n != PROTO_HDR_SIZE + (size_t)h.length || memcmp(out, data, n) != 0)
		abort();
	if (proto_encode_head(&m, head, sizeof(head), &nh, &nb) != 0)
		abort();
	if (nh + nb != n || memcmp(head, out, nh) != 0)
		abort();
	if (proto_decode(&h, out + PROTO_HDR_SIZE, &m2) != 0)
		abort();
	if (m2.type != m.type)
		abort();
out:
	free(payload);
	return 0;
}

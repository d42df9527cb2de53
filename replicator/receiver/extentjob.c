/* An extent's decompression and checksum off the event loop (extentjob.h).
 * The job owns every byte the worker touches, so the session may go away
 * while it runs. */
#include "replicator/receiver/extentjob.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "replicator/receiver/store.h"

struct extentjob {
	struct extentcache *cache; /* it came from, and goes back to */
	void *owner;
	uint64_t seq;
	struct proto_extent e;  /* e.data points into in */
	uint8_t *in;            /* the payload as it came */
	size_t in_cap;
	uint8_t *plain;         /* decompression target of a ZSTD extent */
	size_t plain_cap;
	struct store *st;       /* wbuf's budget */
	uint8_t *wbuf;          /* the target instead, from st (e.length bytes) */
	const void *text;       /* the plaintext once run: in or plain */
	enum extentjob_verdict verdict;
};

struct extentcache {
	unsigned max;   /* jobs that may exist */
	unsigned made;  /* jobs that exist */
	unsigned n;     /* of them spare */
	struct extentjob *spare[];
};

enum extentjob_verdict
extentjob_verify(const struct proto_extent *e, struct zdecomp *zd, uint8_t *buf,
		 const void **plain)
{
	*plain = e->data;
	if (e->kind != PROTO_KIND_DATA)
		return EXTENTJOB_OK;
	if (e->comp == PROTO_COMP_ZSTD) {
		if (!zd || zdecomp_decompress(zd, e->data, e->data_len, buf, (size_t)e->length) < 0)
			return EXTENTJOB_UNDECODABLE;
		*plain = buf;
	}
	return hash64(*plain, (size_t)e->length) == e->checksum ? EXTENTJOB_OK
								: EXTENTJOB_MISMATCH;
}

/* buf grown to at least len bytes (a frame's, bounded by the codec). */
static int
grow(uint8_t **buf, size_t *cap, size_t len)
{
	uint8_t *p;

	if (len <= *cap)
		return 0;
	p = malloc(len);
	if (!p) {
		log_error("receiver: out of memory for an extent of %zu bytes", len);
		return -1;
	}
	free(*buf);
	*buf = p;
	*cap = len;
	return 0;
}

int
extentjob_load(struct extentjob *j, const struct proto_extent *e, uint64_t seq, void *owner,
	       struct store *st)
{
	j->owner = owner;
	j->seq = seq;
	j->e = *e;
	j->text = NULL;
	j->verdict = EXTENTJOB_OK;
	j->st = st;
	j->wbuf = NULL;
	if (e->kind != PROTO_KIND_DATA) {
		j->e.data = NULL;
		return 0;
	}
	if (e->comp == PROTO_COMP_ZSTD && st)
		j->wbuf = store_wbuf_try(st, (size_t)e->length);
	if (grow(&j->in, &j->in_cap, e->data_len) < 0 ||
	    (e->comp == PROTO_COMP_ZSTD && !j->wbuf &&
	     grow(&j->plain, &j->plain_cap, (size_t)e->length) < 0))
		return -1;
	if (e->data_len > 0) /* never 0 from the codec: no memcpy of NULL */
		memcpy(j->in, e->data, e->data_len);
	j->e.data = j->in;
	return 0;
}

/* One decompressor per worker thread (zstd contexts are not thread-safe);
 * the key's destructor frees it when the pool joins its threads. */
static pthread_key_t zd_key;
static pthread_once_t zd_once = PTHREAD_ONCE_INIT;
static int zd_key_ok;

static void
zd_destroy(void *zd)
{
	zdecomp_free(zd);
}

static void
zd_key_init(void)
{
	zd_key_ok = pthread_key_create(&zd_key, zd_destroy) == 0;
}

static struct zdecomp *
thread_zdecomp(void)
{
	struct zdecomp *zd;

	(void)pthread_once(&zd_once, zd_key_init);
	if (!zd_key_ok)
		return NULL;
	zd = pthread_getspecific(zd_key);
	if (!zd && (zd = zdecomp_new()) && pthread_setspecific(zd_key, zd) != 0) {
		zdecomp_free(zd);
		zd = NULL;
	}
	return zd;
}

void
extentjob_run_with(struct extentjob *j, struct zdecomp *zd)
{
	j->verdict = extentjob_verify(&j->e, zd, j->wbuf ? j->wbuf : j->plain, &j->text);
}

void
extentjob_run(void *job)
{
	struct extentjob *j = job;
	struct zdecomp *zd = j->e.comp == PROTO_COMP_ZSTD ? thread_zdecomp() : NULL;

	/* Without a decompressor (out of memory, logged) the extent reads as
	 * undecodable: the session fails as it would for a bad frame. */
	extentjob_run_with(j, zd);
}

enum extentjob_verdict
extentjob_verdict(const struct extentjob *j)
{
	return j->verdict;
}

const struct proto_extent *
extentjob_extent(const struct extentjob *j)
{
	return &j->e;
}

const void *
extentjob_plain(const struct extentjob *j)
{
	return j->text;
}

uint64_t
extentjob_seq(const struct extentjob *j)
{
	return j->seq;
}

void *
extentjob_take_wbuf(struct extentjob *j)
{
	void *b = j->wbuf;

	if (b) {
		j->wbuf = NULL;
		j->text = NULL;
	}
	return b;
}

void *
extentjob_owner(const struct extentjob *j)
{
	return j->owner;
}

void
extentjob_disown(struct extentjob *j)
{
	j->owner = NULL;
}

static void
extentjob_free(struct extentjob *j)
{
	free(j->in);
	free(j->plain);
	free(j);
}

void
extentjob_release(struct extentjob *j)
{
	struct extentcache *c = j->cache;

	if (j->wbuf) {
		store_wbuf_put(j->st, j->wbuf, (size_t)j->e.length);
		j->wbuf = NULL;
	}
	j->owner = NULL;
	c->spare[c->n++] = j; /* room: made <= max */
}

struct extentcache *
extentcache_new(unsigned max)
{
	struct extentcache *c = calloc(1, sizeof(*c) + (size_t)max * sizeof(c->spare[0]));

	if (!c)
		log_error("receiver: out of memory");
	else
		c->max = max;
	return c;
}

struct extentjob *
extentcache_get(struct extentcache *c)
{
	struct extentjob *j;

	if (c->n > 0)
		return c->spare[--c->n];
	if (c->made >= c->max)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (!j) {
		log_error("receiver: out of memory for an extent");
		return NULL;
	}
	j->cache = c;
	c->made++;
	return j;
}

void
extentcache_free(struct extentcache *c)
{
	if (!c)
		return;
	while (c->n > 0)
		extentjob_free(c->spare[--c->n]);
	free(c);
}

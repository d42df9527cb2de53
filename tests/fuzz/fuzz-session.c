/* libFuzzer harness for the receiver's session state machine (session.h):
 * the input is a sequence of wire frames (session-input.h) decoded by the
 * pure codec and fed to two sessions in turn, without TLS or socket, over a
 * real local store (qcow2 files, qemu-nbd) in a temp dir. A fake io checks
 * what the sessions answer: every message encodes, every ERROR carries a
 * known code, nothing is sent after an ERROR or a close, a session stops
 * reading exactly when it has sent an ERROR or closed, a COMMITTED point is
 * listed in the store, a hash answer has no more hashes than asked, the
 * progress answering a POINT_BEGIN describes that point.
 * NESTOR_FUZZ_LOG=debug shows the receiver's log (silent by default). */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "proto/codec.h"
#include "proto/compress.h"
#include "replicator/config.h"
#include "replicator/receiver/marker.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"
#include "tests/fuzz/session-input.h"

/* One input's work stays well under the fuzzer's timeout (10 s in make
 * check, on a loaded box). The receiver's own limits (receiver.conf below)
 * refuse big disks and many disks and bound a hash query; the harness also
 * feeds an input at most a few POINT_BEGINs (each a qemu-img per disk) and
 * a bounded number of bytes hashed. Requests beyond are skipped, not fed. */
#define FUZZ_MAX_BEGINS    8
#define FUZZ_HASH_QUERY    (16ull << 20) /* max_hash_bytes_per_query */
#define FUZZ_MAX_HASHED    (256ull << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What a fake peer saw of its session. */
struct lane {
	const char *peer;
	struct session *s;
	bool closed; /* ERROR sent or close called: nothing may follow */
	struct proto_point_begin begin; /* the last POINT_BEGIN fed */
	bool in_begin;                  /* ... being handled now */
	uint32_t asked;                 /* count of the last HASH_QUERY fed */
};

/* The PROGRESS that answers a POINT_BEGIN describes that very point, and
 * nothing beyond its disks' ends is durable. */
static void
check_begin_progress(const struct lane *l, const struct proto_progress *p)
{
	const struct proto_point_begin *b = &l->begin;

	if (strcmp(p->group, b->group) != 0 || p->pending_point != b->point_id ||
	    p->pending_base != b->base_id || p->ndisks != b->ndisks)
		abort();
	for (uint16_t i = 0; i < p->ndisks; i++)
		if (strcmp(p->disks[i].name, b->disks[i].name) != 0 ||
		    p->disks[i].durable_offset > b->disks[i].size)
			abort();
}

/* What the current input has asked for (the limits above). */
static unsigned begins;
static uint64_t hashed;

static char root[4096];      /* the temp dir: receiver.conf, store/ */
static char store_dir[4200];
static struct receiver_config *cfg;
static struct store *store;
static struct session_env *env;
static struct zdecomp *zd;
static uint8_t *plain;       /* PROTO_MAX_EXTENT: FIXSUM's decompression */
static uint8_t *encoded;     /* every sent message is encoded here */

static int
io_send(void *arg, const struct proto_msg *m)
{
	struct lane *l = arg;
	size_t n;

	if (l->closed)
		abort(); /* a message after ERROR or close */
	if (proto_encode(m, encoded, PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD, &n) != 0)
		abort(); /* the receiver sent what no peer could decode */
	/* COMMITTED means listed: the agent drops its snapshot on it (and
	 * retention never removes a group's newest point). */
	if (m->type == PROTO_COMMITTED &&
	    store_point_exists(store, l->begin.group, m->u.committed.point_id) != 1)
		abort();
	if (m->type == PROTO_HASH_ANSWER && m->u.hanswer.count > l->asked)
		abort();
	if (m->type == PROTO_PROGRESS && l->in_begin)
		check_begin_progress(l, &m->u.progress);
	return 0;
}

static void
io_send_error(void *arg, uint32_t code, const char *text)
{
	struct lane *l = arg;

	if (l->closed || code < PROTO_ERR_PROTOCOL || code > PROTO_ERR_INTERNAL ||
	    strlen(text) > PROTO_TEXT_MAX)
		abort();
	l->closed = true;
}

static void
io_close(void *arg)
{
	struct lane *l = arg;

	if (l->closed)
		abort();
	l->closed = true;
}

static const char *
io_peer_name(void *arg)
{
	const struct lane *l = arg;

	return l->peer;
}

static const struct session_io fake_io = {
	.send = io_send,
	.send_error = io_send_error,
	.close = io_close,
	.peer_name = io_peer_name,
};

static void
lane_end(struct lane *l, const char *reason)
{
	if (!l->s)
		return;
	session_on_close(l->s, reason);
	session_free(l->s);
	l->s = NULL;
	l->closed = false;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
remove_root(void)
{
	if (root[0])
		remove_tree(root);
}

static void
die(const char *what)
{
	fprintf(stderr, "fuzz-session: %s\n", what);
	remove_root();
	abort();
}

/* Every input starts from the same store: g3 failed over, nothing else. */
static void
store_reset(void)
{
	char path[4500];
	struct dirent *de;
	DIR *d = opendir(store_dir);

	if (!d)
		die("cannot read the store dir");
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "g3") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", store_dir, de->d_name);
		remove_tree(path);
	}
	closedir(d);
}

static const char conf_fmt[] =
	"[receiver]\n"
	"listen = 127.0.0.1:1\n"
	"ca = %s/ca.crt\ncert = %s/rx.crt\nkey = %s/rx.key\n"
	"store = %s\n"
	"checkpoint_interval = 1M\n"
	"max_disk_size = 64M\nmax_disks = 4\nmax_hash_bytes_per_query = 16M\n"
	"max_nbd_total = 6\nmax_nbd_per_session = 2\n"
	"\n[client " SESSION_PEER_A "]\ngroups = g1 g2 g3\n"
	"\n[client " SESSION_PEER_B "]\ngroups = g2\n"
	"\n[group g2]\nretention = 1h:all,24h:1h\nretention_min_points = 1\nimmutable = 1d\n"
	"quota = 4M\nmax_disks = 2\n";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	const char *lv = getenv("NESTOR_FUZZ_LOG");
	enum log_level level = LOG_LVL_NONE;
	char conf[16384];
	json_t *marker;

	(void)argc;
	(void)argv;
	if (lv && log_level_parse(lv, &level) < 0)
		die("NESTOR_FUZZ_LOG: not a log level");
	log_set_level(level);
	snprintf(root, sizeof(root), "%s/nestor-fuzz-session-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		die("cannot make a temp dir");
	atexit(remove_root);
	snprintf(store_dir, sizeof(store_dir), "%s/store", root);
	snprintf(conf, sizeof(conf), "%s/g3", store_dir);
	if (mkdir(store_dir, 0700) < 0 || mkdir(conf, 0700) < 0)
		die("cannot make the store dir");
	snprintf(conf, sizeof(conf), conf_fmt, root, root, root, store_dir);
	if (receiver_config_load_string("fuzz-receiver.conf", conf, &cfg) < 0)
		die("receiver.conf refused");
	marker = json_pack("{s:s}", "state", "failed-over");
	if (!marker || failover_marker_save(store_dir, "g3", marker) < 0)
		die("cannot write g3's failover marker");
	json_decref(marker);
	store = store_open(store_dir, NULL);
	env = store ? session_env_new(cfg, store, NULL) : NULL;
	zd = zdecomp_new();
	plain = malloc(PROTO_MAX_EXTENT);
	encoded = malloc(PROTO_HDR_SIZE + PROTO_MAX_PAYLOAD);
	if (!env || !zd || !plain || !encoded)
		die("cannot set up");
	return 0;
}

/* A decoded message the harness keeps from the session (see the limits
 * above), or makes easier to get right (FIXSUM). false: skip it. */
static bool
prepare(struct proto_msg *m, unsigned ctl)
{
	struct proto_extent *e = &m->u.extent;

	if (m->type == PROTO_POINT_BEGIN && ++begins > FUZZ_MAX_BEGINS)
		return false;
	if (m->type == PROTO_HASH_QUERY) {
		uint64_t n = (uint64_t)m->u.hquery.count * m->u.hquery.block_size;

		hashed += n < FUZZ_HASH_QUERY ? n : FUZZ_HASH_QUERY;
		if (hashed > FUZZ_MAX_HASHED)
			return false;
	}
	if (m->type == PROTO_EXTENT && e->kind == PROTO_KIND_DATA && (ctl & SESSION_CTL_FIXSUM)) {
		if (e->comp == PROTO_COMP_NONE)
			e->checksum = hash64(e->data, e->data_len);
		else if (zdecomp_decompress(zd, e->data, e->data_len, plain, (size_t)e->length) == 0)
			e->checksum = hash64(plain, (size_t)e->length);
	}
	return true;
}

/* One record: decode it (skip what does not decode) and feed it. */
static void
feed(struct lane *lanes, const uint8_t *rec, size_t len)
{
	struct proto_hdr h;
	struct proto_msg m;
	struct lane *l;
	uint8_t hdr[PROTO_HDR_SIZE];
	uint8_t *payload;
	size_t plen;
	int r;

	if (len < 1 + PROTO_HDR_SIZE || len - 1 - PROTO_HDR_SIZE > PROTO_MAX_PAYLOAD)
		return;
	l = &lanes[rec[0] & SESSION_CTL_LANE];
	plen = len - 1 - PROTO_HDR_SIZE;
	memcpy(hdr, rec + 1, PROTO_HDR_SIZE);
	hdr[12] = (uint8_t)(plen >> 24);
	hdr[13] = (uint8_t)(plen >> 16);
	hdr[14] = (uint8_t)(plen >> 8);
	hdr[15] = (uint8_t)plen;
	if (proto_hdr_decode(hdr, sizeof(hdr), &h) != 0)
		return;
	/* An exact-size copy so ASan sees any read past the payload. */
	payload = malloc(plen ? plen : 1);
	if (!payload)
		return;
	memcpy(payload, rec + 1 + PROTO_HDR_SIZE, plen);
	if (proto_decode(&h, payload, &m) != 0 || !prepare(&m, rec[0]))
		goto out;
	/* A session that stopped reading lives on until its lane's next frame,
	 * as a conn's close callback runs later from the event loop: the other
	 * lane's frames meet it closed but not yet freed. */
	if (l->s && l->closed)
		lane_end(l, "stopped reading");
	if (!l->s) {
		l->s = session_new(env, &fake_io, l);
		if (!l->s)
			goto out;
		session_on_ready(l->s);
	}
	if (m.type == PROTO_POINT_BEGIN)
		l->begin = m.u.begin;
	if (m.type == PROTO_HASH_QUERY)
		l->asked = m.u.hquery.count;
	l->in_begin = m.type == PROTO_POINT_BEGIN;
	r = session_on_msg(l->s, &m);
	l->in_begin = false;
	if ((r < 0) != l->closed)
		abort(); /* stopped without a word, or went on after one */
out:
	free(payload);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lane lanes[2] = { { .peer = SESSION_PEER_A }, { .peer = SESSION_PEER_B } };
	const uint8_t *p = data, *end = data + size;

	store_reset();
	begins = 0;
	hashed = 0;
	while (p < end) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), SESSION_SEP, SESSION_SEP_LEN);
		const uint8_t *rec_end = sep ? sep : end;

		feed(lanes, p, (size_t)(rec_end - p));
		p = sep ? sep + SESSION_SEP_LEN : end;
	}
	lane_end(&lanes[0], "end of input");
	lane_end(&lanes[1], "end of input");
	return 0;
}

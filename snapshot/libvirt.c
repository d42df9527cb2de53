/* "libvirt" change source: running guests, one pull-mode backup job per
 * domain with a checkpoint created atomically, extents and data over NBD. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libnbd.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "common/fileutil.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "common/virt-dl.h"
#include "common/vmxml.h"
#include "snapshot/libvirt.h"
#include "snapshot/coalesce.h"
#include "snapshot/nbdstatus.h"
#include "snapshot/rbd.h"
#include "snapshot/source.h"

#define LV_STATE_VER      1
#define LV_STATE_MAX      (64u * 1024)
#define LV_WINDOW         (1ull << 30)  /* block status window */
#define LV_NBD_MAX_REQ    (32u << 20)   /* QEMU's NBD request limit */
#define LV_CP_PREFIX      "nestor-"
#define LV_DIRTY_PREFIX   "qemu:dirty-bitmap:backup-"
#define LV_AGENT_TIMEOUT  10            /* s: fsfreeze must not hang the cycle */
#define LV_JOB_END_MS     30000         /* bound on waiting for a job to end */
#define LV_RUN_FALLBACK   "/run/nestor"

struct lv_disk {
	size_t vm;
	char target[NAME_MAX_LEN + 1];
	char format[16];
	int raw;            /* no checkpoint bitmap possible: always full */
	int rbd;            /* RBD disk: taken by the embedded rbd source */
	const struct vmxml_rbd *src; /* its image (rbd only; in its vm's x) */
	size_t rbd_idx;     /* its disk index in ls->rbd */
	uint64_t size;      /* capacity when the job began */
	char *scratch;
	struct nbd_handle *nbd;
	char *dirty_ctx;    /* set when extents come from the dirty bitmap */

	struct coalesce_queue q; /* extent iterator */
};

struct lv_vm {
	char *name;
	char uuid[VIR_UUID_STRING_BUFLEN];
	virDomainPtr dom;
	char *xml;          /* inactive, secure: for point metadata */
	struct vmxml *x;    /* the live definition, read */
	char *state_path;
	char *sock;
	size_t first, ndisks;  /* its disks in the snapshot */
	size_t nlocal;      /* of those, in the backup job (not RBD) */
	char **others;      /* read-only disks: excluded explicitly */
	size_t nothers;
	int agent;          /* guest agent channel connected */
	int bitmaps;        /* has at least one disk that takes a checkpoint */

	/* committed state (have_state = 0: none or unusable) */
	json_t *st;
	int have_state;
	uint64_t st_point, st_seq;
	const char *st_cp;  /* inside st; NULL = none */

	char *new_cp;       /* checkpoint created with this job */
	uint64_t seq;
	int job;            /* our backup job is running */
	int base_broken;    /* libvirt found st_cp inconsistent */
	int frozen, suspended;
};

struct lv_snapshot {
	struct snapshot base; /* first: the generic code casts */
	virConnectPtr conn;
	struct lv_vm *vms;
	size_t nvms;
	struct lv_disk d[SNAP_MAX_DISKS];
	char *state_dir;      /* absolute */
	char *run_dir, *scratch_dir;
	char token[17];       /* per-group part of checkpoint names */
	int lock_fd;
	uint64_t base_point;
	int app_consistent;
	int committed;

	/* RBD disks of the domains: one rbd snapshot taken in the window */
	struct snapshot *rbd;
	size_t nrbd;
	char *ceph_conf, *ceph_client, *rbd_state_dir;
	const char *xml_conf, *xml_user; /* first named by a disk (in d[].src) */
};

static const struct snapshot_ops lv_ops;

/* ---- small helpers --------------------------------------------------------- */

static const char *
lv_err(void)
{
	return sym_virGetLastErrorMessage();
}

static uint64_t
lv_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
lv_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
lv_unlink(const char *path, const char *what)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("libvirt: %s %s: unlink: %m", what, path);
		return -1;
	}
	return 0;
}

/* ---- XML ----------------------------------------------------------------- */

static xmlDocPtr
lv_xml_parse(const char *xml, const char *what)
{
	xmlDocPtr doc;
	size_t len = strlen(xml);

	if (len > INT32_MAX) {
		log_error("libvirt: %s: XML too large", what);
		return NULL;
	}
	doc = xmlReadMemory(xml, (int)len, "libvirt.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR |
			    XML_PARSE_NOWARNING);
	if (!doc)
		log_error("libvirt: %s: unparsable XML", what);
	return doc;
}

/* Number of nodes matching expr; -1 on error. */
static int
lv_xpath_count(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr obj = NULL;
	int n = -1;

	if (!ctx)
		return -1;
	obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (obj && obj->type == XPATH_NODESET)
		n = obj->nodesetval ? obj->nodesetval->nodeNr : 0;
	xmlXPathFreeObject(obj);
	xmlXPathFreeContext(ctx);
	return n;
}

/* String value of expr (malloc'd, "" if nothing matches); NULL on error. */
static char *
lv_xpath_string(xmlDocPtr doc, const char *expr)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	xmlXPathObjectPtr obj = NULL;
	char *s = NULL;

	if (!ctx)
		return NULL;
	obj = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (obj) {
		xmlChar *v = xmlXPathCastToString(obj);
		if (v) {
			s = strdup((const char *)v);
			xmlFree(v);
		}
	}
	xmlXPathFreeObject(obj);
	xmlXPathFreeContext(ctx);
	return s;
}

/* Path for a double-quoted XML attribute. malloc'd. */
static char *
lv_xml_attr(const char *s)
{
	xmlChar *e = xmlEncodeSpecialChars(NULL, (const xmlChar *)s);
	char *r = NULL;

	if (e) {
		r = strdup((const char *)e);
		xmlFree(e);
	}
	return r;
}

/* ---- RBD disks ------------------------------------------------------------- */

/* One Ceph connection serves the group's RBD disks: their <config file>
 * and <auth username> must agree where the caller did not set them. */
static int
lv_rbd_agree(const char **seen, const char *v, const char *what, const char *disk)
{
	if (!v)
		return 0;
	if (*seen && strcmp(*seen, v) != 0) {
		log_error("libvirt: disk %s: RBD %s %s differs from %s of another "
			  "disk of the group; set the group's ceph_conf / ceph_client",
			  disk, what, v, *seen);
		return -1;
	}
	*seen = v;
	return 0;
}

/* ---- growing text buffer for the job XML ---------------------------------- */

struct lv_buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void __attribute__((format(printf, 2, 3)))
lv_bprintf(struct lv_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
			      b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

/* ---- domains: disks, state of the guest ---------------------------------- */

static struct lv_disk *
lv_vm_disk(struct lv_snapshot *ls, struct lv_vm *vm, size_t i)
{
	return &ls->d[vm->first + i];
}

/* A read-only disk: excluded from the job and checkpoint explicitly. */
static int
lv_vm_other(struct lv_vm *vm, const char *target, const char *name)
{
	char **no = realloc(vm->others, (vm->nothers + 1) * sizeof(*no));

	if (no)
		vm->others = no;
	if (!no || !(no[vm->nothers] = strdup(target))) {
		log_error("libvirt: domain %s: out of memory", vm->name);
		return -1;
	}
	vm->nothers++;
	log_info("libvirt: disk %s: read-only, not replicated", name);
	return 0;
}

/* The next snapshot disk of vm from x: an RBD image for the embedded rbd
 * source, or a local disk of the backup job. Counted in the group even on
 * error once it holds something lv_free must release. */
static int
lv_vm_disk_add(struct lv_snapshot *ls, struct lv_vm *vm,
	       const struct vmxml_disk *x, const char *name, int is_rbd)
{
	struct lv_disk *d = &ls->d[ls->base.ndisks];
	int ret = 0;

	d->vm = (size_t)(vm - ls->vms);
	memcpy(d->target, x->target, strlen(x->target) + 1);
	snprintf(d->format, sizeof(d->format), "%s", x->format ? x->format : "raw");
	d->raw = strcmp(d->format, "qcow2") != 0;
	memcpy(ls->base.disks[ls->base.ndisks].name, name, strlen(name) + 1);
	if (is_rbd) {
		d->rbd = 1;
		d->src = &x->r;
		d->rbd_idx = ls->nrbd++;
		if (lv_rbd_agree(&ls->xml_conf, d->src->conf, "config file", name) < 0 ||
		    lv_rbd_agree(&ls->xml_user, d->src->user, "auth user", name) < 0)
			ret = -1;
		else
			log_info("libvirt: disk %s: RBD image %s/%s, taken by the rbd "
				 "source in the group's window", name, d->src->pool,
				 d->src->image);
	} else if (asprintf(&d->scratch, "%s/%s.qcow2", ls->scratch_dir, name) < 0) {
		d->scratch = NULL;
		log_error("libvirt: disk %s: out of memory", name);
		return -1;
	} else {
		vm->nlocal++;
		if (!d->raw)
			vm->bitmaps = 1;
	}
	ls->base.ndisks++;
	vm->ndisks++;
	return ret;
}

/* Disks from the live definition: device='disk' and writable ones are
 * snapshot disks, read-only ones are listed as excluded. */
static int
lv_vm_disks(struct lv_snapshot *ls, struct lv_vm *vm, const char *live_xml)
{
	char what[NAME_MAX_LEN + 32];

	snprintf(what, sizeof(what), "libvirt: domain %s", vm->name);
	vm->x = vmxml_parse(live_xml, strlen(live_xml), what);
	if (!vm->x)
		return -1;
	vm->first = ls->base.ndisks;
	for (size_t i = 0; i < vm->x->ndisks; i++) {
		const struct vmxml_disk *x = &vm->x->disks[i];
		char name[2 * NAME_MAX_LEN + 2], rwhat[sizeof(name) + 16];
		int is_rbd;

		if (!vmxml_disk_is_disk(x))
			continue; /* cdrom, floppy, lun: not ours, libvirt skips them */
		if (!x->target) {
			log_error("libvirt: domain %s: a disk without target dev", vm->name);
			return -1;
		}
		snprintf(name, sizeof(name), "%s.%s", vm->name, x->target);
		if (!name_valid(name, strlen(name))) {
			log_error("libvirt: domain %s: disk %s: \"%s\" is not a valid "
				  "disk name (1-%d of [A-Za-z0-9._-])", vm->name,
				  x->target, name, NAME_MAX_LEN);
			return -1;
		}
		if (x->readonly) {
			if (lv_vm_other(vm, x->target, name) < 0)
				return -1;
			continue;
		}
		if (ls->base.ndisks >= SNAP_MAX_DISKS) {
			log_error("libvirt: domain %s: more than %d disks in the group",
				  vm->name, SNAP_MAX_DISKS);
			return -1;
		}
		snprintf(rwhat, sizeof(rwhat), "libvirt: %s", name);
		is_rbd = vmxml_disk_rbd(x, rwhat);
		if (is_rbd < 0 || lv_vm_disk_add(ls, vm, x, name, is_rbd) < 0)
			return -1;
	}
	if (vm->ndisks == 0) {
		log_error("libvirt: domain %s: no writable disk to replicate", vm->name);
		return -1;
	}
	vm->agent = vm->x->agent_connected;
	return 0;
}

/* Look up a running domain and read its definitions and disk sizes. */
static int
lv_vm_open(struct lv_snapshot *ls, struct lv_vm *vm)
{
	int state = 0, reason = 0;
	char *live = NULL;
	int ret = -1;

	vm->dom = sym_virDomainLookupByName(ls->conn, vm->name);
	if (!vm->dom) {
		log_error("libvirt: domain %s: %s", vm->name, lv_err());
		goto out;
	}
	if (sym_virDomainGetState(vm->dom, &state, &reason, 0) < 0) {
		log_error("libvirt: domain %s: state: %s", vm->name, lv_err());
		goto out;
	}
	/* Paused guests are fine (their disks are live); anything else has no
	 * QEMU to run a backup job: the file source handles shut-off domains. */
	if (state != VIR_DOMAIN_RUNNING && state != VIR_DOMAIN_PAUSED) {
		log_error("libvirt: domain %s is not running (state %d); shut-off "
			  "domains are replicated from their image files", vm->name,
			  state);
		goto out;
	}
	if (sym_virDomainGetUUIDString(vm->dom, vm->uuid) < 0) {
		log_error("libvirt: domain %s: uuid: %s", vm->name, lv_err());
		goto out;
	}
	vm->xml = sym_virDomainGetXMLDesc(vm->dom, VIR_DOMAIN_XML_INACTIVE |
				      VIR_DOMAIN_XML_SECURE);
	live = sym_virDomainGetXMLDesc(vm->dom, 0);
	if (!vm->xml || !live) {
		log_error("libvirt: domain %s: definition: %s", vm->name, lv_err());
		goto out;
	}
	if (lv_vm_disks(ls, vm, live) < 0)
		goto out;
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);
		virDomainBlockInfo info;

		if (d->rbd)
			continue; /* sized by the rbd source at its snapshot */
		if (sym_virDomainGetBlockInfo(vm->dom, d->target, &info, 0) < 0) {
			log_error("libvirt: disk %s: block info: %s",
				  ls->base.disks[vm->first + i].name, lv_err());
			goto out;
		}
		d->size = info.capacity;
	}
	ret = 0;
out:
	free(live);
	return ret;
}

/* ---- state ----------------------------------------------------------------- */

/* state_dir/<domain>.json; missing = no state; malformed = warned, ignored
 * (a full copy follows, never a wrong incremental). */
static int
lv_state_load(struct lv_vm *vm)
{
	void *data = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root = NULL, *seq, *cp, *disks;
	const char *point, *dom;

	vm->have_state = 0;
	if (access(vm->state_path, F_OK) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("libvirt: domain %s: %s: %m", vm->name, vm->state_path);
		return -1;
	}
	if (file_read_all(vm->state_path, LV_STATE_MAX, &data, &len) < 0)
		return -1;
	root = json_loadb(data, len, 0, &jerr);
	free(data);
	if (!root || !json_is_object(root)) {
		log_warn("libvirt: domain %s: %s: unreadable state (%s), ignoring it",
			 vm->name, vm->state_path, root ? "not an object" : jerr.text);
		json_decref(root);
		return 0;
	}
	point = json_string_value(json_object_get(root, "point"));
	dom = json_string_value(json_object_get(root, "domain"));
	seq = json_object_get(root, "seq");
	cp = json_object_get(root, "checkpoint");
	disks = json_object_get(root, "disks");
	if (json_integer_value(json_object_get(root, "version")) != LV_STATE_VER ||
	    !point || parse_u64(point, &vm->st_point) < 0 || !dom ||
	    strcmp(dom, vm->name) != 0 || !json_is_integer(seq) ||
	    json_integer_value(seq) < 0 || !(json_is_string(cp) || json_is_null(cp)) ||
	    !json_is_array(disks) ||
	    !json_is_string(json_object_get(root, "uuid"))) {
		log_warn("libvirt: domain %s: %s: malformed state, ignoring it",
			 vm->name, vm->state_path);
		json_decref(root);
		return 0;
	}
	vm->st = root;
	vm->st_seq = (uint64_t)json_integer_value(seq);
	vm->st_cp = json_string_value(cp);
	vm->have_state = 1;
	return 0;
}

static int
lv_state_save(struct lv_snapshot *ls, struct lv_vm *vm, uint64_t point)
{
	json_t *root = NULL, *disks = NULL;
	char *txt = NULL, pbuf[24];
	int ret = -1;

	disks = json_array();
	if (!disks)
		goto oom;
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);

		if (d->rbd)
			continue; /* the rbd source keeps its own state */
		if (json_array_append_new(disks, json_pack("{s:s, s:s, s:I}",
				"target", d->target, "format", d->format,
				"size", (json_int_t)d->size)) < 0)
			goto oom;
	}
	snprintf(pbuf, sizeof(pbuf), "%" PRIu64, point);
	/* Point ids as text: JSON integers are signed. */
	root = json_pack("{s:i, s:s, s:s, s:s, s:I, s:o, s:O}", "version",
			 LV_STATE_VER, "domain", vm->name, "uuid", vm->uuid,
			 "point", pbuf, "seq", (json_int_t)vm->seq, "checkpoint",
			 vm->new_cp ? json_string(vm->new_cp) : json_null(),
			 "disks", disks);
	if (!root)
		goto oom;
	txt = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!txt)
		goto oom;
	if (file_write_atomic(vm->state_path, txt, strlen(txt), 0600) < 0)
		goto out;
	ret = 0;
	goto out;
oom:
	log_error("libvirt: domain %s: cannot build state", vm->name);
out:
	free(txt);
	json_decref(disks);
	json_decref(root);
	return ret;
}

/* The recorded disk of that target, or NULL. */
static json_t *
lv_state_disk(struct lv_vm *vm, const char *target)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(vm->st, "disks"), i, v) {
		const char *t = json_string_value(json_object_get(v, "target"));
		if (t && strcmp(t, target) == 0)
			return v;
	}
	return NULL;
}

/* ---- jobs and checkpoints ---------------------------------------------------- */

/* 1 if a job runs, 0 if not, -1 on error; *op = its operation. */
static int
lv_job_running(struct lv_vm *vm, int *op)
{
	virTypedParameterPtr params = NULL;
	int nparams = 0, type = VIR_DOMAIN_JOB_NONE, o = 0;

	if (sym_virDomainGetJobStats(vm->dom, &type, &params, &nparams, 0) < 0) {
		log_error("libvirt: domain %s: job stats: %s", vm->name, lv_err());
		return -1;
	}
	if (sym_virTypedParamsGetInt(params, nparams, VIR_DOMAIN_JOB_OPERATION, &o) < 0)
		o = 0;
	sym_virTypedParamsFree(params, nparams);
	if (op)
		*op = o;
	return type != VIR_DOMAIN_JOB_NONE;
}

/* Ends the domain's backup job and waits (bounded) until libvirt has torn
 * it down, so that a checkpoint delete or a new job does not race it. */
static int
lv_job_end(struct lv_vm *vm)
{
	int r;

	if (sym_virDomainIsActive(vm->dom) == 0)
		return 0; /* the domain stopped: its jobs went with it */
	if (sym_virDomainAbortJob(vm->dom) < 0) {
		/* A job that already ended (domain gone, NBD export closed) is
		 * not an error worth more than a warning. */
		r = lv_job_running(vm, NULL);
		if (r != 0) {
			log_warn("libvirt: domain %s: ending the backup job: %s",
				 vm->name, lv_err());
			return -1;
		}
	}
	for (unsigned waited = 0; waited < LV_JOB_END_MS; waited += 50) {
		r = lv_job_running(vm, NULL);
		if (r <= 0)
			return r;
		lv_sleep_ms(50);
	}
	log_warn("libvirt: domain %s: the backup job did not end within %u s",
		 vm->name, LV_JOB_END_MS / 1000);
	return -1;
}

/* broken: the checkpoint's bitmap is known to be gone, so deleting it can
 * only drop libvirt's metadata. */
static int
lv_checkpoint_delete(struct lv_vm *vm, const char *name, const char *why,
		     int broken)
{
	virDomainCheckpointPtr cp;
	int ret = -1;

	cp = sym_virDomainCheckpointLookupByName(vm->dom, name, 0);
	if (!cp) {
		if (sym_virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_CHECKPOINT)
			return 0;
		log_warn("libvirt: domain %s: checkpoint %s: %s", vm->name, name,
			 lv_err());
		return -1;
	}
	if (sym_virDomainCheckpointDelete(cp, 0) < 0 &&
	    (!broken || sym_virDomainCheckpointDelete(cp,
				VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) < 0))
		log_warn("libvirt: domain %s: cannot delete %s checkpoint %s: %s",
			 vm->name, why, name, lv_err());
	else
		ret = 0;
	sym_virDomainCheckpointFree(cp);
	return ret;
}

/* What an interrupted cycle left: our backup job, our checkpoints other than
 * the recorded base, the NBD socket and scratch files. Someone else's backup
 * job is an error: it is not ours to stop. */
static int
lv_vm_cleanup(struct lv_snapshot *ls, struct lv_vm *vm)
{
	virDomainCheckpointPtr *cps = NULL;
	int n, op = 0, r, ret = -1;

	r = lv_job_running(vm, &op);
	if (r < 0)
		goto out;
	if (r > 0) {
		char *bxml = NULL, *sock = NULL;
		xmlDocPtr doc = NULL;
		int ours = 0;

		if (op == VIR_DOMAIN_JOB_OPERATION_BACKUP &&
		    (bxml = sym_virDomainBackupGetXMLDesc(vm->dom, 0)) &&
		    (doc = lv_xml_parse(bxml, vm->name)) &&
		    (sock = lv_xpath_string(doc, "string(/domainbackup/server/@socket)")))
			ours = strcmp(sock, vm->sock) == 0;
		free(bxml);
		free(sock);
		xmlFreeDoc(doc);
		if (!ours) {
			log_error("libvirt: domain %s is busy with another job "
				  "(operation %d); not replicating it now", vm->name, op);
			goto out;
		}
		log_warn("libvirt: domain %s: ending the backup job of an "
			 "interrupted snapshot", vm->name);
		if (lv_job_end(vm) < 0)
			goto out;
	}
	n = sym_virDomainListAllCheckpoints(vm->dom, &cps, 0);
	if (n < 0) {
		log_error("libvirt: domain %s: checkpoints: %s", vm->name, lv_err());
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *name = sym_virDomainCheckpointGetName(cps[i]);

		if (!name || strncmp(name, LV_CP_PREFIX, strlen(LV_CP_PREFIX)) != 0 ||
		    (vm->have_state && vm->st_cp && strcmp(name, vm->st_cp) == 0))
			continue;
		log_warn("libvirt: domain %s: deleting stale checkpoint %s", vm->name,
			 name);
		if (sym_virDomainCheckpointDelete(cps[i], 0) < 0) {
			/* Its bitmap may be unusable (QEMU crashed): dropping the
			 * metadata at least lets the chain go on. */
			log_warn("libvirt: domain %s: deleting checkpoint %s: %s; "
				 "dropping its metadata only", vm->name, name, lv_err());
			if (sym_virDomainCheckpointDelete(cps[i],
				VIR_DOMAIN_CHECKPOINT_DELETE_METADATA_ONLY) < 0) {
				log_error("libvirt: domain %s: cannot delete stale "
					  "checkpoint %s: %s", vm->name, name, lv_err());
				goto out;
			}
		}
	}
	lv_unlink(vm->sock, "stale socket");
	for (size_t i = 0; i < vm->ndisks; i++)
		if (lv_vm_disk(ls, vm, i)->scratch)
			lv_unlink(lv_vm_disk(ls, vm, i)->scratch, "stale scratch file");
	ret = 0;
out:
	if (cps) {
		for (int i = 0; cps[i]; i++)
			sym_virDomainCheckpointFree(cps[i]);
		free(cps);
	}
	return ret;
}

/* Why this VM's disks cannot be incremental (logged per disk); 1 if they
 * can. Raw disks never can. */
static int
lv_vm_decide(struct lv_snapshot *ls, struct lv_vm *vm)
{
	virDomainCheckpointPtr cp = NULL;
	char *cxml = NULL;
	xmlDocPtr cdoc = NULL;
	const char *vm_reason = NULL, *uuid;
	char cpmsg[160];
	int ok = 1;
	size_t i;
	json_t *v;

	uuid = vm->have_state ? json_string_value(json_object_get(vm->st, "uuid")) : NULL;
	if (!vm->have_state) {
		vm_reason = "first run (no committed state)";
	} else if (ls->base_point == 0 || vm->st_point != ls->base_point) {
		vm_reason = "base mismatch (the receiver's newest point is not the "
			    "one this state was committed at)";
	} else if (!uuid || strcmp(uuid, vm->uuid) != 0) {
		vm_reason = "the domain was redefined (UUID changed)";
	} else if (!vm->bitmaps) {
		/* no bitmap disk (raw or RBD only): no checkpoint to look up */
	} else if (!vm->st_cp) {
		vm_reason = "no checkpoint was recorded";
	} else {
		cp = sym_virDomainCheckpointLookupByName(vm->dom, vm->st_cp, 0);
		if (cp)
			cxml = sym_virDomainCheckpointGetXMLDesc(cp, 0);
		if (!cp || !cxml || !(cdoc = lv_xml_parse(cxml, vm->name))) {
			snprintf(cpmsg, sizeof(cpmsg), "checkpoint %s is missing "
				 "(deleted, or the domain was redefined): %s",
				 vm->st_cp, lv_err() ? lv_err() : "unreadable");
			vm_reason = cpmsg;
		}
	}
	for (size_t k = 0; k < vm->ndisks; k++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, k);
		const char *name = ls->base.disks[vm->first + k].name;
		json_t *sd = vm_reason ? NULL : lv_state_disk(vm, d->target);
		char expr[200];

		if (d->rbd) {
			continue; /* decided by the rbd source */
		} else if (d->raw) {
			log_info("libvirt: disk %s: full copy: %s disk (checkpoints "
				 "need qcow2): every cycle is a full copy", name,
				 d->format);
			ok = 0;
		} else if (vm_reason) {
			log_info("libvirt: disk %s: full copy: %s", name, vm_reason);
			ok = 0;
		} else if (!sd) {
			log_info("libvirt: disk %s: full copy: disk added since the "
				 "last point", name);
			ok = 0;
		} else if ((uint64_t)json_integer_value(json_object_get(sd, "size")) !=
			   d->size) {
			log_info("libvirt: disk %s: full copy: disk resized (%" PRIu64
				 " -> %" PRIu64 " bytes)", name,
				 (uint64_t)json_integer_value(json_object_get(sd, "size")),
				 d->size);
			ok = 0;
		} else {
			const char *f = json_string_value(json_object_get(sd, "format"));
			snprintf(expr, sizeof(expr), "/domaincheckpoint/disks/disk[@name='%s'"
				 " and @checkpoint='bitmap']", d->target);
			if (!f || strcmp(f, d->format) != 0) {
				log_info("libvirt: disk %s: full copy: format changed",
					 name);
				ok = 0;
			} else if (lv_xpath_count(cdoc, expr) != 1) {
				log_info("libvirt: disk %s: full copy: checkpoint %s has "
					 "no bitmap for it", name, vm->st_cp);
				ok = 0;
			}
		}
	}
	if (!vm_reason) {
		json_array_foreach(json_object_get(vm->st, "disks"), i, v) {
			const char *t = json_string_value(json_object_get(v, "target"));
			int found = 0;

			for (size_t k = 0; t && k < vm->ndisks; k++)
				found |= !lv_vm_disk(ls, vm, k)->rbd &&
					 strcmp(lv_vm_disk(ls, vm, k)->target, t) == 0;
			if (!found) {
				log_info("libvirt: domain %s: full copy: disk %s was "
					 "removed since the last point", vm->name,
					 t ? t : "?");
				ok = 0;
			}
		}
	}
	xmlFreeDoc(cdoc);
	free(cxml);
	if (cp)
		sym_virDomainCheckpointFree(cp);
	return ok;
}

/* Job XML: pull mode, NBD on our unix socket, every disk explicitly. */
static int
lv_job_xml(struct lv_snapshot *ls, struct lv_vm *vm, int incremental,
	   char **bxml, char **cxml)
{
	struct lv_buf b = { 0 }, c = { 0 };
	char *sock = lv_xml_attr(vm->sock);
	int ret = -1;

	*bxml = *cxml = NULL;
	if (!sock)
		goto out;
	lv_bprintf(&b, "<domainbackup mode='pull'>\n");
	if (incremental)
		lv_bprintf(&b, "  <incremental>%s</incremental>\n", vm->st_cp);
	lv_bprintf(&b, "  <server transport='unix' socket=\"%s\"/>\n  <disks>\n", sock);
	lv_bprintf(&c, "<domaincheckpoint>\n  <name>%s</name>\n"
		   "  <description>nestor replication base</description>\n"
		   "  <disks>\n", vm->new_cp);
	for (size_t i = 0; i < vm->ndisks; i++) {
		struct lv_disk *d = lv_vm_disk(ls, vm, i);
		char *scratch;

		if (d->rbd) {
			/* libvirt cannot back up or checkpoint it; rbd snapshots do */
			lv_bprintf(&b, "    <disk name='%s' backup='no'/>\n", d->target);
			lv_bprintf(&c, "    <disk name='%s' checkpoint='no'/>\n", d->target);
			continue;
		}
		scratch = lv_xml_attr(d->scratch);
		if (!scratch)
			goto out;
		lv_bprintf(&b, "    <disk name='%s' backup='yes' type='file'>"
			   "<scratch file=\"%s\"/></disk>\n", d->target, scratch);
		lv_bprintf(&c, "    <disk name='%s' checkpoint='%s'/>\n", d->target,
			   d->raw ? "no" : "bitmap");
		free(scratch);
	}
	for (size_t i = 0; i < vm->nothers; i++) {
		lv_bprintf(&b, "    <disk name='%s' backup='no'/>\n", vm->others[i]);
		lv_bprintf(&c, "    <disk name='%s' checkpoint='no'/>\n", vm->others[i]);
	}
	lv_bprintf(&b, "  </disks>\n</domainbackup>\n");
	lv_bprintf(&c, "  </disks>\n</domaincheckpoint>\n");
	if (b.oom || c.oom)
		goto out;
	*bxml = b.p;
	b.p = NULL;
	if (vm->bitmaps) {
		*cxml = c.p;
		c.p = NULL;
	}
	ret = 0;
out:
	if (ret < 0)
		log_error("libvirt: domain %s: out of memory", vm->name);
	free(b.p);
	free(c.p);
	free(sock);
	return ret;
}

/* A checkpoint name no checkpoint of the domain has. */
static int
lv_new_checkpoint_name(struct lv_snapshot *ls, struct lv_vm *vm)
{
	/* Without state, a clock value keeps names from repeating old ones. */
	uint64_t seq = vm->have_state ? vm->st_seq + 1 : (uint64_t)time(NULL);

	for (int tries = 0; tries < 100; tries++, seq++) {
		virDomainCheckpointPtr cp;

		free(vm->new_cp);
		if (asprintf(&vm->new_cp, LV_CP_PREFIX "%s-%" PRIu64, ls->token, seq) < 0) {
			vm->new_cp = NULL;
			log_error("libvirt: domain %s: out of memory", vm->name);
			return -1;
		}
		cp = sym_virDomainCheckpointLookupByName(vm->dom, vm->new_cp, 0);
		if (!cp) {
			vm->seq = seq;
			return 0;
		}
		sym_virDomainCheckpointFree(cp);
	}
	log_error("libvirt: domain %s: no free checkpoint name", vm->name);
	return -1;
}

/* Stop what begin started for vm (not committed): job, new checkpoint,
 * socket. Failures are warnings: the next begin cleans up again. */
static void
lv_vm_abort(struct lv_vm *vm)
{
	if (vm->job) {
		lv_job_end(vm);
		vm->job = 0;
	}
	if (vm->new_cp && sym_virDomainIsActive(vm->dom) == 0) {
		/* libvirt deletes checkpoints of running domains only */
		log_warn("libvirt: domain %s stopped; the next snapshot deletes its "
			 "uncommitted checkpoint %s", vm->name, vm->new_cp);
	} else if (vm->new_cp) {
		lv_checkpoint_delete(vm, vm->new_cp, "uncommitted", 0);
	}
	free(vm->new_cp);
	vm->new_cp = NULL;
	if (vm->sock)
		lv_unlink(vm->sock, "socket");
}

/* ---- freeze ---------------------------------------------------------------- */

static void
lv_thaw(struct lv_snapshot *ls)
{
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->frozen && sym_virDomainFSThaw(vm->dom, NULL, 0, 0) < 0)
			log_error("libvirt: domain %s: fsthaw: %s", vm->name, lv_err());
		if (vm->suspended && sym_virDomainResume(vm->dom) < 0)
			log_error("libvirt: domain %s: resume: %s", vm->name, lv_err());
		vm->frozen = vm->suspended = 0;
	}
}

/* One instant for the whole group: guest agents freeze their filesystems
 * (app-consistent); guests without one are paused when other domains are in
 * the group (crash-consistent across them). A single guest without agent
 * needs nothing: one backup job starts all its disks at one instant. */
static int
lv_freeze(struct lv_snapshot *ls)
{
	int all_frozen = 1;

	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];
		int state = 0, reason = 0;

		if (vm->agent) {
			sym_virDomainAgentSetResponseTimeout(vm->dom, LV_AGENT_TIMEOUT, 0);
			if (sym_virDomainFSFreeze(vm->dom, NULL, 0, 0) >= 0) {
				vm->frozen = 1;
				continue;
			}
			log_warn("libvirt: domain %s: guest agent fsfreeze failed (%s); "
				 "the point is crash-consistent", vm->name, lv_err());
			/* Undo a partial freeze; an error here is expected. */
			sym_virDomainFSThaw(vm->dom, NULL, 0, 0);
		}
		all_frozen = 0;
		/* RBD snapshots are a second step after the backup jobs: one
		 * instant only with the guest stopped in between. */
		if (ls->nvms < 2 && ls->nrbd == 0)
			continue;
		if (sym_virDomainGetState(vm->dom, &state, &reason, 0) < 0) {
			log_error("libvirt: domain %s: state: %s", vm->name, lv_err());
			return -1;
		}
		if (state == VIR_DOMAIN_PAUSED)
			continue; /* paused by someone else: leave it so */
		if (sym_virDomainSuspend(vm->dom) < 0) {
			log_error("libvirt: domain %s: suspend: %s", vm->name, lv_err());
			return -1;
		}
		vm->suspended = 1;
	}
	ls->app_consistent = all_frozen;
	return 0;
}

/* ---- begin ---------------------------------------------------------------- */

/* Starts every domain's job (with the group frozen). 0, -1 on error, or 1
 * when an incremental job found its checkpoint unusable: the caller ends
 * what started and retries the group as a full copy. */
static int
lv_start_jobs(struct lv_snapshot *ls)
{
	int ret = -1;

	if (lv_freeze(ls) < 0)
		goto out;
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];
		char *bxml = NULL, *cxml = NULL;
		int r;

		if (vm->nlocal == 0)
			continue; /* RBD disks only: nothing for a backup job */
		if (lv_new_checkpoint_name(ls, vm) < 0 ||
		    lv_job_xml(ls, vm, ls->base.incremental, &bxml, &cxml) < 0)
			goto out;
		r = sym_virDomainBackupBegin(vm->dom, bxml, cxml, 0);
		free(bxml);
		free(cxml);
		if (r < 0) {
			if (ls->base.incremental &&
			    sym_virGetLastErrorCode() == VIR_ERR_CHECKPOINT_INCONSISTENT) {
				log_info("libvirt: domain %s: full copy of the group: "
					 "checkpoint %s is inconsistent: %s", vm->name,
					 vm->st_cp, lv_err());
				free(vm->new_cp);
				vm->new_cp = NULL;
				vm->base_broken = 1;
				ret = 1;
				goto out;
			}
			log_error("libvirt: domain %s: backup begin: %s", vm->name,
				  lv_err());
			free(vm->new_cp);
			vm->new_cp = NULL;
			goto out;
		}
		vm->job = 1;
		if (!vm->bitmaps) {
			free(vm->new_cp);
			vm->new_cp = NULL;
		}
	}
	ls->base.time_ns = lv_now_ns();
	if (ls->rbd && snapshot_rbd_take(ls->rbd) < 0)
		goto out;
	ret = 0;
out:
	lv_thaw(ls);
	return ret;
}

static int
lv_disk_connect(struct lv_snapshot *ls, size_t k)
{
	struct lv_disk *d = &ls->d[k];
	struct lv_vm *vm = &ls->vms[d->vm];
	const char *name = ls->base.disks[k].name;
	int64_t size;

	d->nbd = nbd_create();
	if (!d->nbd) {
		log_error("libvirt: disk %s: nbd_create: %s", name, nbd_get_error());
		return -1;
	}
	if (ls->base.incremental &&
	    asprintf(&d->dirty_ctx, LV_DIRTY_PREFIX "%s", d->target) < 0) {
		d->dirty_ctx = NULL;
		log_error("libvirt: disk %s: out of memory", name);
		return -1;
	}
	if (nbd_set_export_name(d->nbd, d->target) < 0 ||
	    nbd_add_meta_context(d->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
	    (d->dirty_ctx && nbd_add_meta_context(d->nbd, d->dirty_ctx) < 0)) {
		log_error("libvirt: disk %s: nbd setup: %s", name, nbd_get_error());
		return -1;
	}
	if (nbd_connect_unix(d->nbd, vm->sock) < 0) {
		log_error("libvirt: disk %s: connecting to the backup export %s: %s",
			  name, vm->sock, nbd_get_error());
		return -1;
	}
	if (nbd_can_meta_context(d->nbd, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1 ||
	    (d->dirty_ctx && nbd_can_meta_context(d->nbd, d->dirty_ctx) != 1)) {
		log_error("libvirt: disk %s: the backup export offers no block "
			  "status%s%s", name, d->dirty_ctx ? " for " : "",
			  d->dirty_ctx ? d->dirty_ctx : "");
		return -1;
	}
	size = nbd_get_size(d->nbd);
	if (size < 0) {
		log_error("libvirt: disk %s: export size: %s", name, nbd_get_error());
		return -1;
	}
	if ((uint64_t)size != d->size) {
		/* Resized between our look and the job: the recorded size (and
		 * maybe the incremental decision) would be wrong. */
		log_error("libvirt: disk %s: size changed while the snapshot began "
			  "(%" PRIu64 " -> %" PRId64 ")", name, d->size, size);
		return -1;
	}
	ls->base.disks[k].size = d->size;
	return 0;
}

/* Directory for the NBD sockets: state_dir/run, unless the path would not
 * fit a unix socket address. */
static int
lv_dirs(struct lv_snapshot *ls, size_t max_domain)
{
	struct sockaddr_un sa;
	size_t need;

	if (asprintf(&ls->run_dir, "%s/run", ls->state_dir) < 0 ||
	    asprintf(&ls->scratch_dir, "%s/scratch", ls->state_dir) < 0)
		goto oom;
	need = strlen(ls->run_dir) + 1 + max_domain + strlen(".sock") + 1;
	if (need > sizeof(sa.sun_path)) {
		free(ls->run_dir);
		if (asprintf(&ls->run_dir, LV_RUN_FALLBACK "/%s", ls->token) < 0)
			goto oom;
	}
	if (mkdir_p(ls->run_dir, 0700) < 0 || mkdir_p(ls->scratch_dir, 0700) < 0)
		return -1;
	return 0;
oom:
	log_error("libvirt: %s: out of memory", ls->state_dir);
	return -1;
}

static int
lv_lock(struct lv_snapshot *ls)
{
	char *path = NULL;
	int ret = -1;

	if (asprintf(&path, "%s/libvirt.lock", ls->state_dir) < 0) {
		log_error("libvirt: %s: out of memory", ls->state_dir);
		return -1;
	}
	ls->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ls->lock_fd < 0) {
		log_error("libvirt: %s: %m", path);
		goto out;
	}
	/* Two cycles of one group would delete each other's checkpoints. */
	if (flock(ls->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("libvirt: %s: %s", path, errno == EWOULDBLOCK
			  ? "another snapshot of this group is in progress" : strerror(errno));
		goto out;
	}
	ret = 0;
out:
	free(path);
	return ret;
}

static int
lv_begin_args(const char *const *domains, size_t ndomains, const char *state_dir,
	      size_t *max_domain)
{
	if (!domains || ndomains == 0 || ndomains > SNAP_MAX_DISKS || !state_dir) {
		log_error("libvirt: snapshot needs 1 to %d domains and a state "
			  "directory", SNAP_MAX_DISKS);
		return -1;
	}
	*max_domain = 0;
	for (size_t i = 0; i < ndomains; i++) {
		size_t len = domains[i] ? strlen(domains[i]) : 0;

		if (!name_valid(domains[i], len)) {
			log_error("libvirt: domain \"%s\": not usable as a name (1-%d of "
				  "[A-Za-z0-9._-], not starting with '.' or '-')",
				  domains[i] ? domains[i] : "", NAME_MAX_LEN);
			return -1;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(domains[k], domains[i]) == 0) {
				log_error("libvirt: domain %s listed twice", domains[i]);
				return -1;
			}
		if (len > *max_domain)
			*max_domain = len;
	}
	return 0;
}

/* Prepares the rbd part for the RBD disks (base 0: a full copy). */
static int
lv_rbd_prepare(struct lv_snapshot *ls, uint64_t base_point)
{
	struct snap_rbd_image imgs[SNAP_MAX_DISKS];
	const char *conf = ls->ceph_conf ? ls->ceph_conf : ls->xml_conf;
	const char *client = ls->ceph_client ? ls->ceph_client : ls->xml_user;

	snapshot_free(ls->rbd);
	ls->rbd = NULL;
	for (size_t k = 0; k < ls->base.ndisks; k++) {
		struct lv_disk *d = &ls->d[k];

		if (d->rbd)
			imgs[d->rbd_idx] = (struct snap_rbd_image){
				ls->base.disks[k].name, d->src->pool, d->src->image };
	}
	ls->rbd = snapshot_rbd_prepare(conf, client, imgs, ls->nrbd,
				       ls->rbd_state_dir, base_point);
	return ls->rbd ? 0 : -1;
}

struct snapshot *
snapshot_libvirt_begin(const char *uri, const char *const *domains,
		       size_t ndomains, const char *state_dir, uint64_t base_point)
{
	return snapshot_libvirt_begin_ceph(uri, domains, ndomains, state_dir,
					   base_point, NULL);
}

struct snapshot *
snapshot_libvirt_begin_ceph(const char *uri, const char *const *domains,
			    size_t ndomains, const char *state_dir,
			    uint64_t base_point, const struct snap_libvirt_ceph *ceph)
{
	struct lv_snapshot *ls = NULL;
	size_t max_domain = 0;
	uint64_t h;
	int ok = 0, r, incremental = 1;

	if (lv_begin_args(domains, ndomains, state_dir, &max_domain) < 0 ||
	    virt_dl_load() < 0)
		return NULL;
	ls = calloc(1, sizeof(*ls));
	if (ls)
		ls->vms = calloc(ndomains, sizeof(*ls->vms));
	if (!ls || !ls->vms) {
		log_error("libvirt: out of memory");
		free(ls);
		return NULL;
	}
	ls->base.ops = &lv_ops;
	ls->lock_fd = -1;
	ls->base_point = base_point;
	ls->nvms = ndomains;
	if (mkdir_p(state_dir, 0700) < 0)
		goto out;
	ls->state_dir = realpath(state_dir, NULL);
	if (!ls->state_dir) {
		log_error("libvirt: %s: %m", state_dir);
		goto out;
	}
	if ((ceph && ceph->conf && !(ls->ceph_conf = strdup(ceph->conf))) ||
	    (ceph && ceph->client && !(ls->ceph_client = strdup(ceph->client))) ||
	    (ceph && ceph->state_dir
	     ? !(ls->rbd_state_dir = strdup(ceph->state_dir))
	     : asprintf(&ls->rbd_state_dir, "%s/rbd", ls->state_dir) < 0)) {
		ls->rbd_state_dir = NULL;
		log_error("libvirt: %s: out of memory", state_dir);
		goto out;
	}
	h = hash64(ls->state_dir, strlen(ls->state_dir));
	snprintf(ls->token, sizeof(ls->token), "%016" PRIx64, h);
	if (lv_lock(ls) < 0 || lv_dirs(ls, max_domain) < 0)
		goto out;
	ls->conn = sym_virConnectOpen(uri);
	if (!ls->conn) {
		log_error("libvirt: cannot connect to %s: %s", uri ? uri : "(default)",
			  lv_err());
		goto out;
	}
	for (size_t i = 0; i < ndomains; i++) {
		struct lv_vm *vm = &ls->vms[i];

		vm->name = strdup(domains[i]);
		if (!vm->name ||
		    asprintf(&vm->state_path, "%s/%s.json", ls->state_dir, vm->name) < 0 ||
		    asprintf(&vm->sock, "%s/%s.sock", ls->run_dir, vm->name) < 0) {
			vm->state_path = vm->sock = NULL;
			log_error("libvirt: domain %s: out of memory", domains[i]);
			goto out;
		}
		if (lv_vm_open(ls, vm) < 0 || lv_state_load(vm) < 0 ||
		    lv_vm_cleanup(ls, vm) < 0)
			goto out;
	}
	/* One full disk makes the whole group full: a point is one instant of
	 * every disk, and the receiver builds it on one base. */
	for (size_t i = 0; i < ndomains; i++)
		if (!lv_vm_decide(ls, &ls->vms[i]))
			incremental = 0;
	/* The RBD disks follow the same rule: the group is incremental only
	 * if both the checkpoints and the rbd base snapshots are usable. */
	if (ls->nrbd) {
		if (!incremental)
			log_info("libvirt: RBD disks: full copy: the group's other "
				 "disks need one");
		if (lv_rbd_prepare(ls, incremental ? base_point : 0) < 0)
			goto out;
		if (!snapshot_is_incremental(ls->rbd))
			incremental = 0;
	}
	ls->base.incremental = incremental;
	r = lv_start_jobs(ls);
	if (r == 1) {
		for (size_t i = 0; i < ndomains; i++)
			lv_vm_abort(&ls->vms[i]);
		ls->base.incremental = 0;
		r = 0;
		if (ls->rbd && snapshot_is_incremental(ls->rbd))
			r = lv_rbd_prepare(ls, 0);
		if (r == 0)
			r = lv_start_jobs(ls);
	}
	if (r != 0)
		goto out;
	if (ls->rbd && snapshot_rbd_finish(ls->rbd) < 0)
		goto out;
	for (size_t k = 0; k < ls->base.ndisks; k++) {
		if (ls->d[k].rbd)
			ls->base.disks[k].size = ls->d[k].size =
				snapshot_disk_size(ls->rbd, ls->d[k].rbd_idx);
		else if (lv_disk_connect(ls, k) < 0)
			goto out;
	}
	ls->base.resumable = 0; /* live guests change all the time */
	log_info("libvirt: snapshot of %zu domain(s), %zu disk(s) (%zu on RBD): "
		 "%s, %s", ndomains, ls->base.ndisks, ls->nrbd,
		 ls->base.incremental ? "incremental" : "full",
		 snapshot_libvirt_consistency(&ls->base));
	ok = 1;
out:
	if (!ok) {
		snapshot_free(&ls->base);
		return NULL;
	}
	return &ls->base;
}

/* ---- extents ----------------------------------------------------------------- */

struct lv_fill_arg {
	struct lv_disk *d;
	const char *name;
};

static int
lv_fill_cb(void *opaque, uint64_t off, uint64_t len, unsigned flags)
{
	struct lv_fill_arg *a = opaque;
	int zero = (flags & (NBDSTATUS_HOLE | NBDSTATUS_ZERO)) != 0, kind;

	if (a->d->dirty_ctx)
		kind = !(flags & NBDSTATUS_DIRTY) ? 0 : zero ? SNAP_ZERO : SNAP_DATA;
	else
		kind = zero ? 0 : SNAP_DATA;
	if (coalesce_queue_add(&a->d->q, off, len, kind) < 0) {
		log_error("libvirt: disk %s: out of memory", a->name);
		return -1;
	}
	return 0;
}

/* Classifies the next window of the disk into spans. Full: allocated data
 * only (the receiver starts from zeros). Incremental: dirty ranges, as zero
 * where the allocation map says they read as zeros now. */
static int
lv_fill(void *arg)
{
	struct lv_fill_arg *a = arg;
	struct lv_disk *d = a->d;
	uint64_t len = d->size - d->q.pos;
	char what[2 * NAME_MAX_LEN + 32];
	int64_t n;

	if (len > LV_WINDOW)
		len = LV_WINDOW;
	snprintf(what, sizeof(what), "libvirt: disk %s", a->name);
	n = nbdstatus_walk(d->nbd, d->dirty_ctx, d->q.pos, len, lv_fill_cb, a, what);
	if (n < 0)
		return -1;
	d->q.pos += (uint64_t)n;
	return 0;
}

static int
lv_next_extent(struct snapshot *snap, size_t disk, uint64_t max_len,
	       struct snap_extent *ext)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;
	struct lv_fill_arg a = { &ls->d[disk], snap->disks[disk].name };

	if (a.d->rbd)
		return snapshot_next_extent(ls->rbd, a.d->rbd_idx, max_len, ext);
	return coalesce_queue_next(&a.d->q, a.d->size, max_len, lv_fill, &a, ext);
}

static int
lv_read(struct snapshot *snap, size_t disk, uint64_t offset, void *buf,
	size_t len)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;
	struct lv_disk *d = &ls->d[disk];
	char *p = buf;

	if (d->rbd)
		return snapshot_read(ls->rbd, d->rbd_idx, offset, buf, len);
	/* libnbd handles serialise concurrent callers themselves. */
	while (len > 0) {
		size_t n = len > LV_NBD_MAX_REQ ? LV_NBD_MAX_REQ : len;

		if (nbd_pread(d->nbd, p, n, offset, 0) < 0) {
			log_error("libvirt: disk %s: read at %" PRIu64 ": %s",
				  snap->disks[disk].name, offset, nbd_get_error());
			return -1;
		}
		p += n;
		offset += n;
		len -= n;
	}
	return 0;
}

/* ---- commit / free ------------------------------------------------------------ */

static void
lv_disks_close(struct lv_snapshot *ls)
{
	for (size_t k = 0; k < ls->base.ndisks; k++) {
		struct lv_disk *d = &ls->d[k];

		if (d->nbd) {
			nbd_shutdown(d->nbd, 0);
			nbd_close(d->nbd);
			d->nbd = NULL;
		}
	}
}

static int
lv_commit(struct snapshot *snap, uint64_t point_id)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;
	int ret = 0;

	/* Both parts learn the new base even if one fails: the failed one
	 * makes the next point a full copy, which is right either way. */
	if (ls->rbd && snapshot_commit(ls->rbd, point_id) < 0)
		ret = -1;
	/* The new bases first, durably: from here on a crash leaves only
	 * stale jobs and old checkpoints, which the next begin removes. */
	for (size_t i = 0; i < ls->nvms; i++)
		if (lv_state_save(ls, &ls->vms[i], point_id) < 0)
			return -1;
	ls->committed = 1;
	lv_disks_close(ls);
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->job) {
			lv_job_end(vm);
			vm->job = 0;
		}
		if (vm->have_state && vm->st_cp &&
		    (!vm->new_cp || strcmp(vm->st_cp, vm->new_cp) != 0))
			lv_checkpoint_delete(vm, vm->st_cp, "old", vm->base_broken);
		lv_unlink(vm->sock, "socket");
	}
	log_info("libvirt: committed point %" PRIu64 " as the new base", point_id);
	return ret;
}

static void
lv_free(struct snapshot *snap)
{
	struct lv_snapshot *ls = (struct lv_snapshot *)snap;

	lv_disks_close(ls);
	for (size_t i = 0; i < ls->nvms; i++) {
		struct lv_vm *vm = &ls->vms[i];

		if (vm->dom && !ls->committed)
			lv_vm_abort(vm);
		if (vm->dom)
			sym_virDomainFree(vm->dom);
		for (size_t k = 0; k < vm->nothers; k++)
			free(vm->others[k]);
		free(vm->others);
		json_decref(vm->st);
		free(vm->name);
		free(vm->xml);
		vmxml_free(vm->x);
		free(vm->state_path);
		free(vm->sock);
		free(vm->new_cp);
	}
	snapshot_free(ls->rbd); /* aborts its snapshots unless committed */
	free(ls->ceph_conf);
	free(ls->ceph_client);
	free(ls->rbd_state_dir);
	for (size_t k = 0; k < SNAP_MAX_DISKS; k++) {
		free(ls->d[k].scratch);
		free(ls->d[k].dirty_ctx);
		coalesce_queue_free(&ls->d[k].q);
	}
	if (ls->conn)
		sym_virConnectClose(ls->conn);
	if (ls->lock_fd >= 0)
		close(ls->lock_fd);
	free(ls->vms);
	free(ls->state_dir);
	free(ls->run_dir);
	free(ls->scratch_dir);
	free(ls);
}

static const struct snapshot_ops lv_ops = {
	.name = "libvirt",
	.next_extent = lv_next_extent,
	.read = lv_read,
	.commit = lv_commit,
	.free = lv_free,
};

/* ---- per-VM accessors ---------------------------------------------------------- */

static const struct lv_snapshot *
lv_of(const struct snapshot *s)
{
	return s && s->ops == &lv_ops ? (const struct lv_snapshot *)s : NULL;
}

size_t
snapshot_libvirt_nvms(const struct snapshot *s)
{
	const struct lv_snapshot *ls = lv_of(s);

	return ls ? ls->nvms : 0;
}

const char *
snapshot_libvirt_vm_name(const struct snapshot *s, size_t vm)
{
	const struct lv_snapshot *ls = lv_of(s);

	return ls && vm < ls->nvms ? ls->vms[vm].name : NULL;
}

const char *
snapshot_libvirt_vm_xml(const struct snapshot *s, size_t vm)
{
	const struct lv_snapshot *ls = lv_of(s);

	return ls && vm < ls->nvms ? ls->vms[vm].xml : NULL;
}

int
snapshot_libvirt_vm_disk(const struct snapshot *s, size_t vm, size_t i,
			 const char **target, size_t *snap_disk)
{
	const struct lv_snapshot *ls = lv_of(s);

	if (!ls || vm >= ls->nvms || i >= ls->vms[vm].ndisks)
		return -1;
	if (target)
		*target = ls->d[ls->vms[vm].first + i].target;
	if (snap_disk)
		*snap_disk = ls->vms[vm].first + i;
	return 0;
}

const char *
snapshot_libvirt_consistency(const struct snapshot *s)
{
	const struct lv_snapshot *ls = lv_of(s);

	if (!ls)
		return NULL;
	return ls->app_consistent ? "app-consistent" : "crash-consistent";
}

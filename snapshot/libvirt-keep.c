/* What the "libvirt" source keeps between one group's snapshots
 * (libvirt.h, struct snap_libvirt_keep): the connection, whether the last
 * snapshot ended clean, the checkpoints its commit replaced. Issue 17
 * (RPO): a connection, a leftovers check and a checkpoint deletion per
 * cycle were ~50-100 ms of a cycle's fixed cost at load 5-12. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/vmxml.h"
#include "snapshot/libvirt-priv.h"

/* A checkpoint a commit replaced, still to delete. */
struct lv_old_cp {
	char *domain;
	char uuid[VIR_UUID_STRING_BUFLEN];
	char *name;
	int broken;
};

struct snap_libvirt_keep {
	char *uri;             /* of conn, or of the last one */
	virConnectPtr conn;
	char *sig;             /* state_dir and domains of the last begin */
	int clean;             /* the last snapshot of sig committed cleanly */
	struct lv_old_cp *old;
	size_t nold;
};

struct snap_libvirt_keep *
snapshot_libvirt_keep_new(void)
{
	struct snap_libvirt_keep *k = calloc(1, sizeof(*k));

	if (!k)
		log_error("libvirt: out of memory");
	return k;
}

static void
keep_close(struct snap_libvirt_keep *k)
{
	if (k->conn)
		sym_virConnectClose(k->conn);
	k->conn = NULL;
	k->clean = 0;
}

static void
old_cp_drop(struct snap_libvirt_keep *k, size_t i)
{
	char *domain = k->old[i].domain, *name = k->old[i].name;

	k->nold--;
	if (i != k->nold)
		k->old[i] = k->old[k->nold];
	k->old[k->nold] = (struct lv_old_cp){ 0 };
	free(domain);
	free(name);
}

struct _virConnect *
snapshot_libvirt_keep_conn(struct snap_libvirt_keep *k, const char *uri)
{
	const char *u = uri ? uri : VMXML_DEFAULT_URI;

	if (virt_dl_load() < 0)
		return NULL;
	if (k->conn && (strcmp(k->uri, u) != 0 || sym_virConnectIsAlive(k->conn) != 1)) {
		if (strcmp(k->uri, u) == 0)
			log_info("libvirt: the kept connection to %s is gone; connecting again", u);
		keep_close(k);
	}
	if (k->conn)
		return k->conn;
	if (!k->uri || strcmp(k->uri, u) != 0) {
		char *nu = strdup(u);

		if (!nu) {
			log_error("libvirt: out of memory");
			return NULL;
		}
		free(k->uri);
		k->uri = nu;
	}
	k->conn = sym_virConnectOpen(k->uri);
	if (!k->conn)
		log_error("libvirt: cannot connect to %s: %s", k->uri, lv_err());
	return k->conn;
}

/* state_dir and the domains, one string: the clean state is theirs. */
static char *
keep_sig(const char *state_dir, const char *const *domains, size_t n)
{
	size_t len = strlen(state_dir) + 1;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(domains[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	p = stpcpy(s, state_dir);
	for (size_t i = 0; i < n; i++) {
		*p++ = '\n';
		p = stpcpy(p, domains[i]);
	}
	return s;
}

int
lv_keep_begin(struct lv_snapshot *ls, const char *uri, const char *const *domains)
{
	struct snap_libvirt_keep *k = ls->keep;
	char *sig = keep_sig(ls->state_dir, domains, ls->nvms);

	if (!sig) {
		log_error("libvirt: out of memory");
		return -1;
	}
	ls->skip_cleanup = k->clean && k->sig && strcmp(k->sig, sig) == 0;
	free(k->sig);
	k->sig = sig;
	k->clean = 0; /* until this snapshot commits cleanly */
	ls->conn = snapshot_libvirt_keep_conn(k, uri);
	return ls->conn ? 0 : -1;
}

void
lv_keep_failed(struct lv_snapshot *ls)
{
	if (ls->keep && ls->conn)
		keep_close(ls->keep);
	ls->conn = NULL;
}

int
lv_keep_old_checkpoint(struct lv_snapshot *ls, struct lv_vm *vm, const char *cp, int broken)
{
	struct snap_libvirt_keep *k = ls->keep;
	struct lv_old_cp *no = realloc(k->old, (k->nold + 1) * sizeof(*no));
	struct lv_old_cp *o;

	if (!no) {
		log_warn("libvirt: out of memory; deleting checkpoint %s now", cp);
		return -1;
	}
	k->old = no;
	o = &k->old[k->nold];
	*o = (struct lv_old_cp){ 0 };
	snprintf(o->uuid, sizeof(o->uuid), "%s", vm->uuid);
	o->domain = strdup(vm->name);
	o->name = strdup(cp);
	o->broken = broken;
	if (!o->domain || !o->name) {
		free(o->domain);
		free(o->name);
		log_warn("libvirt: out of memory; deleting checkpoint %s now", cp);
		return -1;
	}
	k->nold++;
	return 0;
}

void
lv_keep_committed(struct lv_snapshot *ls)
{
	if (ls->keep)
		ls->keep->clean = 1;
}

void
lv_keep_delete_old(struct lv_snapshot *ls)
{
	struct snap_libvirt_keep *k = ls->keep;

	for (size_t i = 0; k && i < k->nold;) {
		struct lv_vm *vm = NULL;

		for (size_t v = 0; v < ls->nvms && !vm; v++)
			if (ls->vms[v].dom && strcmp(ls->vms[v].name, k->old[i].domain) == 0)
				vm = &ls->vms[v];
		if (!vm) {
			i++; /* not a domain of this snapshot: later */
			continue;
		}
		/* A redefined domain has none of the old one's checkpoints. */
		if (strcmp(vm->uuid, k->old[i].uuid) == 0) {
			lv_checkpoint_delete(vm, k->old[i].name, "old", k->old[i].broken);
			lv_step(ls, "old checkpoint deleted");
		}
		old_cp_drop(k, i);
	}
}

void
snapshot_libvirt_keep_flush(struct snap_libvirt_keep *k)
{
	if (k && k->nold && k->uri && snapshot_libvirt_keep_conn(k, k->uri)) {
		while (k->nold) {
			struct lv_vm vm = { .name = k->old[0].domain };
			char uuid[VIR_UUID_STRING_BUFLEN];

			vm.dom = sym_virDomainLookupByName(k->conn, vm.name);
			if (vm.dom && sym_virDomainGetUUIDString(vm.dom, uuid) == 0 &&
			    strcmp(uuid, k->old[0].uuid) == 0)
				lv_checkpoint_delete(&vm, k->old[0].name, "old", k->old[0].broken);
			if (vm.dom)
				sym_virDomainFree(vm.dom);
			old_cp_drop(k, 0);
		}
	}
}

void
snapshot_libvirt_keep_free(struct snap_libvirt_keep *k)
{
	if (!k)
		return;
	snapshot_libvirt_keep_flush(k);
	while (k->nold)
		old_cp_drop(k, 0);
	keep_close(k);
	free(k->uri);
	free(k->old);
	free(k->sig);
	free(k);
}

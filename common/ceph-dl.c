/* librados and librbd on first use (common/ceph-dl.h). */
#include "common/ceph-dl.h"

#include <dlfcn.h>

CEPH_DL_RADOS_SYMS(DLSYM_DEFINE)
CEPH_DL_RBD_SYMS(DLSYM_DEFINE)

static const struct dlsym_entry ceph_dl_rados_syms[] = {
	CEPH_DL_RADOS_SYMS(DLSYM_ENTRY)
};
static const struct dlsym_entry ceph_dl_rbd_syms[] = {
	CEPH_DL_RBD_SYMS(DLSYM_ENTRY)
};

/* RTLD_GLOBAL, as when linked: Ceph's plugins (compressors, crypto) leave
 * libceph-common's symbols to the global scope and fail to load otherwise. */
static struct dlsym_lib ceph_dl_rados =
	DLSYM_LIB("librados.so.2", "librados2", RTLD_GLOBAL, ceph_dl_rados_syms);
static struct dlsym_lib ceph_dl_rbd =
	DLSYM_LIB("librbd.so.1", "librbd1", RTLD_GLOBAL, ceph_dl_rbd_syms);

int
ceph_dl_load(void)
{
	if (dlsym_lib_load(&ceph_dl_rados) < 0 || dlsym_lib_load(&ceph_dl_rbd) < 0)
		return -1;
	return 0;
}

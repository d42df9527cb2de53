/* libnbd on first use (common/nbd-dl.h). */
#include "common/nbd-dl.h"

#include <dlfcn.h>

#include "common/log.h"

NBD_DL_SYMS(DLSYM_DEFINE)

static const struct dlsym_entry nbd_dl_syms[] = {
	NBD_DL_SYMS(DLSYM_ENTRY)
};

static struct dlsym_lib nbd_dl_lib =
	DLSYM_LIB("libnbd.so.0", "libnbd0", RTLD_LOCAL, nbd_dl_syms);

struct nbd_handle *
nbd_dl_create(const char *ctx)
{
	struct nbd_handle *h;

	if (dlsym_lib_load(&nbd_dl_lib) < 0)
		return NULL; /* logged, naming the package */
	h = sym_nbd_create();
	if (!h)
		log_error("%s: nbd_create: %s", ctx, nbd_dl_error());
	return h;
}

const char *
nbd_dl_error(void)
{
	const char *e = dlsym_lib_loaded(&nbd_dl_lib)
		? sym_nbd_get_error() : "libnbd is not loaded";

	return e ? e : "unknown libnbd error";
}

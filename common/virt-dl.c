/* libvirt on first use (common/virt-dl.h). */
#include "common/virt-dl.h"

#include <dlfcn.h>

VIRT_DL_SYMS(DLSYM_DEFINE)

static const struct dlsym_entry virt_dl_syms[] = {
	VIRT_DL_SYMS(DLSYM_ENTRY)
};

static struct dlsym_lib virt_dl_lib =
	DLSYM_LIB("libvirt.so.0", "libvirt0", RTLD_LOCAL, virt_dl_syms);

static pthread_once_t virt_dl_once = PTHREAD_ONCE_INIT;

static void
virt_dl_quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

static void
virt_dl_init_once(void)
{
	sym_virSetErrorFunc(NULL, virt_dl_quiet);
}

const char *
virt_dl_error(void)
{
	const char *m = sym_virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

int
virt_dl_load(void)
{
	if (dlsym_lib_load(&virt_dl_lib) < 0)
		return -1;
	pthread_once(&virt_dl_once, virt_dl_init_once);
	return 0;
}

/* Never installed, never run: deploy/build-deb.sh hands it to dpkg-shlibdeps
 * beside the nestor binary, which dlopens these libraries and so shows them
 * no NEEDED entry. Referencing every function of the sym_ tables here yields
 * the versioned Depends those functions require, from the same lists. */
#include "common/ceph-dl.h"
#include "common/nbd-dl.h"
#include "common/virt-dl.h"
#include "common/xml-dl.h"

/* &f: a function, or a variable (libxml2's xmlFree) by its address. */
#define DLOPEN_DEPS_REF(f) (void (*)(void))&f,

/* External, so that no optimisation drops the references. */
void (*const dlopen_deps_used[])(void) = {
	CEPH_DL_RADOS_SYMS(DLOPEN_DEPS_REF)
	CEPH_DL_RBD_SYMS(DLOPEN_DEPS_REF)
	VIRT_DL_SYMS(DLOPEN_DEPS_REF)
	NBD_DL_SYMS(DLOPEN_DEPS_REF)
	XML_DL_SYMS(DLOPEN_DEPS_REF)
};

int
main(void)
{
	return 0;
}

/* Loads an optional shared library on first use and resolves the functions
 * Nestor calls into sym_ pointers (see common/dlsym.h). */
#include "common/dlsym.h"

#include <dlfcn.h>

#include "common/log.h"

static void
dlsym_clear(struct dlsym_lib *lib)
{
	for (size_t i = 0; i < lib->nsyms; i++)
		*lib->syms[i].ptr = NULL;
}

int
dlsym_lib_load(struct dlsym_lib *lib)
{
	void *h = NULL;
	int ret = -1;

	if (dlsym_lib_loaded(lib))
		return 0;
	pthread_mutex_lock(&lib->mu);
	if (atomic_load_explicit(&lib->loaded, memory_order_relaxed)) {
		ret = 0;
		goto out;
	}
	h = dlopen(lib->soname, RTLD_NOW | lib->flags);
	if (!h) {
		const char *e = dlerror();

		log_error("%s (install the Debian package %s)",
			  e ? e : lib->soname, lib->package);
		goto out;
	}
	/* Nobody reads the pointers before loaded is set: filling them in
	 * place is safe, and a failure clears them again. */
	for (size_t i = 0; i < lib->nsyms; i++) {
		(void)dlerror();
		*lib->syms[i].ptr = dlsym(h, lib->syms[i].name);
		if (!*lib->syms[i].ptr) {
			const char *e = dlerror();

			if (e)
				log_error("%s (the installed package %s is too old or "
					  "broken)", e, lib->package);
			else
				log_error("%s: %s is NULL (the installed package %s is "
					  "broken)", lib->soname, lib->syms[i].name,
					  lib->package);
			dlsym_clear(lib);
			goto out;
		}
	}
	atomic_store_explicit(&lib->loaded, 1, memory_order_release);
	h = NULL; /* stays loaded for the life of the process */
	ret = 0;
out:
	if (h)
		dlclose(h);
	pthread_mutex_unlock(&lib->mu);
	return ret;
}

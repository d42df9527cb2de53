/* Optional shared libraries loaded on first use (dlopen + dlsym into sym_
 * function pointers): commands that never touch Ceph or libvirt do not pay
 * for loading them at every exec. */
#ifndef NESTOR_COMMON_DLSYM_H
#define NESTOR_COMMON_DLSYM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

/* A function to resolve: its name and the sym_ pointer to store it in. */
struct dlsym_entry {
	const char *name;
	void **ptr;
};

/* A library and the functions wanted from it; define it static with
 * DLSYM_LIB. The last two members are the loader's. */
struct dlsym_lib {
	const char *soname;  /* "librbd.so.1" */
	const char *package; /* Debian package shipping it, named in the error */
	int flags;           /* RTLD_LOCAL, or RTLD_GLOBAL for a library whose
			      * own plugins resolve symbols in the global scope */
	const struct dlsym_entry *syms;
	size_t nsyms;
	pthread_mutex_t mu;
	atomic_int loaded;
};

#define DLSYM_LIB(soname, package, flags, table)                          \
	{ (soname), (package), (flags), (table),                          \
	  sizeof(table) / sizeof((table)[0]), PTHREAD_MUTEX_INITIALIZER, 0 }

/* X-macro helpers: the pointer's type comes from the library's own header,
 * so there is no hand-written prototype to drift from it. */
#define DLSYM_DECLARE(f) extern __typeof__(&f) sym_##f;
#define DLSYM_DEFINE(f)  __typeof__(&f) sym_##f;
#define DLSYM_ENTRY(f)   { #f, (void **)&sym_##f },

/* Opens lib->soname (RTLD_NOW | lib->flags) and resolves every entry. 0: all
 * sym_ pointers are set (only now: a failure publishes none and closes the
 * library again). -1: one error logged, naming the library and the package
 * to install. Thread-safe; once loaded, a call is one atomic load. A failure
 * is not remembered: the next call tries again (and logs again), so a daemon
 * picks up a package installed meanwhile. Never unloaded. */
int dlsym_lib_load(struct dlsym_lib *lib);

/* Whether lib's sym_ pointers are set (a dlsym_lib_load succeeded): for a
 * caller that must not load it, e.g. to ask for the library's last error. */
static inline int
dlsym_lib_loaded(struct dlsym_lib *lib)
{
	return atomic_load_explicit(&lib->loaded, memory_order_acquire);
}

#endif

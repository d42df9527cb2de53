/* libnbd, loaded on first use: the libnbd functions Nestor calls, as
 * sym_<name> pointers typed by libnbd's header (common/dlsym.h). An exec
 * that never opens an NBD connection (a raw-file agent cycle, most CLI
 * commands) no longer pays for loading libnbd and GnuTLS with its
 * dependencies (~12 ms per start here). */
#ifndef NESTOR_COMMON_NBD_DL_H
#define NESTOR_COMMON_NBD_DL_H

#include <libnbd.h>

#include "common/dlsym.h"

#define NBD_DL_SYMS(X)                                                         \
	X(nbd_add_meta_context)                                                \
	X(nbd_aio_command_completed)                                           \
	X(nbd_aio_is_dead)                                                     \
	X(nbd_aio_is_ready)                                                    \
	X(nbd_aio_pwrite)                                                      \
	X(nbd_block_status)                                                    \
	X(nbd_can_meta_context)                                                \
	X(nbd_close)                                                           \
	X(nbd_connect_socket)                                                  \
	X(nbd_connect_unix)                                                    \
	X(nbd_create)                                                          \
	X(nbd_flush)                                                           \
	X(nbd_get_errno)                                                       \
	X(nbd_get_error)                                                       \
	X(nbd_get_size)                                                        \
	X(nbd_poll)                                                            \
	X(nbd_pread)                                                           \
	X(nbd_pwrite)                                                          \
	X(nbd_set_export_name)                                                 \
	X(nbd_shutdown)                                                        \
	X(nbd_zero)

NBD_DL_SYMS(DLSYM_DECLARE)

/* A new libnbd handle (nbd_create), libnbd loaded first if it is not yet;
 * the caller owns it (sym_nbd_close). NULL on error, logged with ctx. Every
 * other sym_nbd_ call is on a handle, so libnbd is loaded by then. */
struct nbd_handle *nbd_dl_create(const char *ctx);

/* libnbd's last error in this thread (nbd_get_error), or a fixed text when
 * libnbd is not loaded. Never NULL. */
const char *nbd_dl_error(void);

#endif

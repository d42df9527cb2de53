/* librados and librbd, loaded on first use: the Ceph functions Nestor calls,
 * as sym_<name> pointers typed by librados.h / librbd.h (common/dlsym.h). */
#ifndef NESTOR_COMMON_CEPH_DL_H
#define NESTOR_COMMON_CEPH_DL_H

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "common/dlsym.h"

#define CEPH_DL_RADOS_SYMS(X)                                                  \
	X(rados_conf_parse_env)                                                \
	X(rados_conf_read_file)                                                \
	X(rados_conf_set)                                                      \
	X(rados_connect)                                                       \
	X(rados_create)                                                        \
	X(rados_ioctx_create)                                                  \
	X(rados_ioctx_destroy)                                                 \
	X(rados_shutdown)

#define CEPH_DL_RBD_SYMS(X)                                                    \
	X(rbd_aio_create_completion)                                           \
	X(rbd_aio_get_return_value)                                            \
	X(rbd_aio_release)                                                     \
	X(rbd_aio_wait_for_complete)                                           \
	X(rbd_aio_write2)                                                      \
	X(rbd_aio_write_zeroes)                                                \
	X(rbd_clone3)                                                          \
	X(rbd_close)                                                           \
	X(rbd_create)                                                          \
	X(rbd_diff_iterate2)                                                   \
	X(rbd_flush)                                                           \
	X(rbd_get_features)                                                    \
	X(rbd_get_flags)                                                       \
	X(rbd_get_id)                                                          \
	X(rbd_get_parent)                                                      \
	X(rbd_get_size)                                                        \
	X(rbd_image_options_create)                                            \
	X(rbd_image_options_destroy)                                           \
	X(rbd_image_options_set_uint64)                                        \
	X(rbd_image_spec_list_cleanup)                                         \
	X(rbd_linked_image_spec_cleanup)                                       \
	X(rbd_list2)                                                           \
	X(rbd_lock_acquire)                                                    \
	X(rbd_lock_break)                                                      \
	X(rbd_lock_get_owners)                                                 \
	X(rbd_lock_get_owners_cleanup)                                         \
	X(rbd_open)                                                            \
	X(rbd_open_read_only)                                                  \
	X(rbd_read2)                                                           \
	X(rbd_remove)                                                          \
	X(rbd_resize)                                                          \
	X(rbd_snap_create)                                                     \
	X(rbd_snap_create2)                                                    \
	X(rbd_snap_exists)                                                     \
	X(rbd_snap_get_id)                                                     \
	X(rbd_snap_get_timestamp)                                              \
	X(rbd_snap_list)                                                       \
	X(rbd_snap_list_end)                                                   \
	X(rbd_snap_remove)                                                     \
	X(rbd_snap_rollback)                                                   \
	X(rbd_snap_set)                                                        \
	X(rbd_snap_spec_cleanup)                                               \
	X(rbd_stat)

CEPH_DL_RADOS_SYMS(DLSYM_DECLARE)
CEPH_DL_RBD_SYMS(DLSYM_DECLARE)

/* Loads librados.so.2 then librbd.so.1 and resolves every sym_ above. Call
 * it before the first sym_ call (connecting to the cluster); 0, or -1 with
 * one error logged (the library, the package to install). Thread-safe and
 * cheap once loaded. */
int ceph_dl_load(void);

#endif

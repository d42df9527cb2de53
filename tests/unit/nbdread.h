/* Test helper: read a qcow2 image through a read-only qemu-nbd of our own,
 * started as the store starts its children (common/child.h: the socket is
 * connected before qemu-nbd runs and its directory is gone by then), so a
 * test killed by its timeout leaves no socket directory behind (libnbd's
 * own socket activation makes /tmp/libnbdXXXXXX and removes it only when
 * the handle is closed). Needs <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_NBDREAD_H
#define NESTOR_TESTS_UNIT_NBDREAD_H

#include <stddef.h>
#include <stdint.h>

#include "common/child.h"
#include "common/nbd-dl.h"

/* len bytes of the qcow2 image at path from offset 0 into buf. */
static inline void
nbdread_image(const char *path, uint8_t *buf, size_t len)
{
	char *argv[] = { "qemu-nbd", "-r", "-f", "qcow2", (char *)path, NULL };
	const size_t chunk = 1u << 20; /* under the server's request limit */
	struct nbd_handle *h = nbd_dl_create("test");
	struct child *c;
	int sock = -1;

	cr_assert_not_null(h, "%s", nbd_dl_error());
	c = child_start_activated("nbdread", argv, &sock);
	cr_assert_not_null(c, "qemu-nbd of %s did not start", path);
	cr_assert_eq(sym_nbd_connect_socket(h, sock), 0, "%s", nbd_dl_error());
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		cr_assert_eq(sym_nbd_pread(h, buf + off, n, off, 0), 0, "%s", nbd_dl_error());
	}
	sym_nbd_shutdown(h, 0);
	sym_nbd_close(h); /* closes sock: qemu-nbd exits */
	cr_assert_eq(child_finish(c, 5000), 0, "qemu-nbd of %s did not exit", path);
}

#endif

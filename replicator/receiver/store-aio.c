/* The AIO engine of a local store's qemu-nbd (store-aio.h). */
#include "replicator/receiver/store-aio.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/parse.h"

/* qemu's native AIO takes a kernel AIO context of 1024 events per process
 * from fs.aio-max-nr (65536 by default): about 64 qemu-nbd at once. Past
 * it the start fails ("failed to create linux AIO context"); threads write
 * the same O_DIRECT blocks without a context. Twice that is left spare for
 * the starts racing this one. */
#define STORE_AIO_EVENTS 2048

/* A number from a /proc/sys file, or -1. */
static int
store_aio_read(const char *path, uint64_t *v)
{
	char buf[32];
	FILE *f = fopen(path, "re");
	int rc = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		rc = parse_u64(buf, v);
	}
	fclose(f);
	return rc;
}

const char *
store_aio_mode(bool retry)
{
	static atomic_bool told;
	uint64_t nr, max;

	if (!retry && (store_aio_read("/proc/sys/fs/aio-nr", &nr) < 0 ||
		       store_aio_read("/proc/sys/fs/aio-max-nr", &max) < 0 ||
		       nr + STORE_AIO_EVENTS <= max))
		return "native";
	if (!atomic_exchange(&told, true))
		log_info("store: the kernel's AIO contexts are running out (fs.aio-max-nr): "
			 "qemu-nbd writes with threads instead of native AIO from now on "
			 "when needed; raise fs.aio-max-nr for more points at once");
	return "threads";
}

/* Heap tuning (heap.h). */
#include "common/heap.h"

#include <malloc.h>

#include "common/log.h"

void
heap_keep_buffers(int top_pad)
{
	if (mallopt(M_MMAP_THRESHOLD, 4 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 8 << 20) != 1 ||
	    (top_pad > 0 && mallopt(M_TOP_PAD, top_pad) != 1))
		log_warn("mallopt failed; large buffers may stay mmap'd or be trimmed");
}

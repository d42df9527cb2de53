/* The process heap tuned for large buffers that come and go. */
#ifndef NESTOR_COMMON_HEAP_H
#define NESTOR_COMMON_HEAP_H

/* Frames of up to 1 MiB are allocated and freed all the time (libevent
 * buffer chains, zstd, write queues). Above glibc's default threshold each
 * would be a fresh mmap, paid again in page faults and TLB flushes (dear in
 * this nested VM); reused heap memory costs nothing, and the peak stays
 * bounded by the same frames in flight. So: mmap only from 4 MiB, trim
 * only above 8 MiB free at the top, and keep top_pad bytes at the top of
 * a heap that shrinks (0: glibc's default). Call once at start, before
 * threads; a failure is logged (a warning) and costs only speed. */
void heap_keep_buffers(int top_pad);

#endif

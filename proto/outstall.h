/* Output-stall watchdog for one bufferevent: fires when output has been
 * pending for a whole period with not one byte of it written, i.e. the
 * peer stopped reading (issue 13 item 5). Used by proto/conn.c. */
#ifndef NESTOR_PROTO_OUTSTALL_H
#define NESTOR_PROTO_OUTSTALL_H

#include <event2/bufferevent.h>
#include <event2/event.h>

struct outstall;

/* Watch bev's output; on_stall(arg, pending) is called from the loop once
 * output stayed pending secs (> 0) seconds without progress; it may free
 * the watchdog. NULL on error (logged). */
struct outstall *outstall_new(struct event_base *base, struct bufferevent *bev, unsigned secs,
			      void (*on_stall)(void *arg, size_t pending), void *arg);
/* Stop watching. NULL ok. Must come before bev is freed. */
void outstall_free(struct outstall *w);

#endif

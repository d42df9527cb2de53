/* The DR side of a failback's reverse replication (docs/failback-design.md):
 * the handler the receiver hands an agent's connection to after a
 * REVERSE_BEGIN (session_env_set_reverse). It takes the agent's X
 * (REVERSE_RANGES), then runs the agent's sender over the failed-over
 * domains on the receiver's libvirt: the first reverse point restricted to
 * W u X, later ones incremental from the previous reverse checkpoint; the
 * agent's side stores them (failback/start.h). One point per connection. */
#ifndef NESTOR_FAILBACK_REVERSE_H
#define NESTOR_FAILBACK_REVERSE_H

#include <stddef.h>

#include "replicator/receiver/session.h"

/* A session_reverse_fn (arg unused): the handler, or NULL with why. The
 * handler frees itself when the connection is gone (its on_close). */
void *failback_reverse_serve(void *arg, const struct session_reverse_req *req,
			     const struct session_reverse_ops **ops, char *why, size_t whycap);

#endif

/* The receiver daemon: accepts agents over mutual TLS, authorises them per
 * group and writes their points into the replica store. */
#ifndef NESTOR_RECEIVER_RECEIVER_H
#define NESTOR_RECEIVER_RECEIVER_H

#include "replicator/receiver/session.h"

struct receiver_config;
struct store;

/* What the receiver's owner (cli/) adds: the reverse replication handler
 * (session_env_set_reverse); NULL members: not served. */
struct receiver_hooks {
	session_reverse_fn reverse;
	void *reverse_arg;
};

/* Open the replica store cfg describes (store.h): local, or ceph with its
 * cluster settings. NULL on error (logged). */
struct store *receiver_store_open(const struct receiver_config *cfg);

/* Serve until SIGINT/SIGTERM. 0 on a clean stop, -1 if it could not start.
 * hooks may be NULL. */
int receiver_run(const struct receiver_config *cfg, const struct receiver_hooks *hooks);

#endif

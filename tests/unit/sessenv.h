/* Test helper: a receiver configuration, a local store and a session env
 * over them, as the session suites set them up. Needs
 * <criterion/criterion.h> (and _GNU_SOURCE for tmpdir.h's nftw). */
#ifndef NESTOR_TESTS_UNIT_SESSENV_H
#define NESTOR_TESTS_UNIT_SESSENV_H

#include <stdio.h>

#include "common/log.h"
#include "replicator/config.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"
#include "tmpdir.h"

/* conf (receiver.conf text), the store at root; no metrics, no pool. */
static inline void
sessenv_open(const char *root, const char *conf, struct receiver_config **cfg,
	     struct store **st, struct session_env **env)
{
	cr_assert_eq(receiver_config_load_string("test.conf", conf, cfg), 0);
	*st = store_open(root, NULL);
	cr_assert_not_null(*st);
	*env = session_env_new(*cfg, *st, NULL);
	cr_assert_not_null(*env);
}

static inline void
sessenv_close(struct receiver_config *cfg, struct store *st, struct session_env *env)
{
	session_env_free(env);
	store_free(st);
	receiver_config_free(cfg);
}

/* A scratch root (tmpdir.h, root[cap]) and, in it, sessenv_open of a store
 * with the given [client] sections (receiver.conf text); quiet logs.
 * sessenv_down closes them and removes root. */
static inline void
sessenv_up(char *root, size_t cap, const char *prefix, const char *clients,
	   struct receiver_config **cfg, struct store **st, struct session_env **env)
{
	char conf[1024];

	log_set_level(LOG_LVL_NONE);
	tmpdir_make(root, cap, prefix);
	snprintf(conf, sizeof(conf),
		 "[receiver]\nlisten = 127.0.0.1:1\nca = %s/ca\ncert = %s/c\nkey = %s/k\n"
		 "store = %s\n\n%s", root, root, root, root, clients);
	sessenv_open(root, conf, cfg, st, env);
}

static inline void
sessenv_down(const char *root, struct receiver_config *cfg, struct store *st,
	     struct session_env *env)
{
	sessenv_close(cfg, st, env);
	tmpdir_remove(root);
}

#endif

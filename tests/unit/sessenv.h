/* Test helper: a receiver configuration, a local store and a session env
 * over them, as the session suites set them up. Needs
 * <criterion/criterion.h>. */
#ifndef NESTOR_TESTS_UNIT_SESSENV_H
#define NESTOR_TESTS_UNIT_SESSENV_H

#include "replicator/config.h"
#include "replicator/receiver/session.h"
#include "replicator/receiver/store.h"

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

#endif

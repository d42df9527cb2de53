/* libFuzzer harness: arbitrary bytes as agent.conf and receiver.conf, plus
 * the value parsers and name check they rely on. Run with -close_fd_mask=2
 * to silence the (expected) config error lines. */
#include "common/ini.h"
#include "common/log.h"
#include "common/names.h"
#include "common/parse.h"
#include "replicator/config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_values(const char *s, size_t len)
{
	uint64_t v;
	bool b;
	char *host = NULL;
	uint16_t port;

	(void)parse_u64(s, &v);
	(void)parse_size(s, &v);
	(void)parse_duration(s, &v);
	(void)parse_bool(s, &b);
	if (parse_host_port(s, &host, &port) == 0) {
		if (host == NULL || port == 0)
			abort();
		free(host);
	}
	(void)name_valid(s, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config *a = NULL;
	struct receiver_config *r = NULL;
	struct ini_doc *doc = NULL;
	char *text;

	/* Error lines for every rejected input would drown the fuzzer's output. */
	log_set_level(LOG_LVL_NONE);
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	if (ini_load_string("fuzz.ini", text, &doc) == 0) {
		/* Every entry must be well formed: the config code relies on it. */
		for (size_t i = 0; i < ini_count(doc); i++) {
			const struct ini_entry *e = ini_at(doc, i);

			if (e == NULL || e->section == NULL || e->line <= 0 ||
			    (e->key == NULL) != (e->value == NULL))
				abort();
		}
		ini_free(doc);
	}
	if (agent_config_load_string("fuzz-agent.conf", text, &a) == 0) {
		if (a->name == NULL || a->receiver_host == NULL || a->ngroups == 0)
			abort();
		for (size_t g = 0; g < a->ngroups; g++)
			if (a->groups[g].ndisks == 0 ||
			    !name_valid(a->groups[g].name, strlen(a->groups[g].name)))
				abort();
		agent_config_free(a);
	}
	if (receiver_config_load_string("fuzz-receiver.conf", text, &r) == 0) {
		if (r->listen_host == NULL || r->store_dir == NULL)
			abort();
		for (size_t i = 0; i < r->nclients; i++)
			(void)receiver_config_allows(r, r->clients[i].peer, "web");
		receiver_config_free(r);
	}
	fuzz_values(text, size);
	free(text);
	return 0;
}

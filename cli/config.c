/* `nestor config check agent|receiver FILE`: validate a configuration. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "proto/tls.h"
#include "replicator/config.h"
#include "replicator/receiver/notify.h"

static const char usage_config[] =
	"usage: nestor config check agent|receiver FILE\n"
	"\n"
	"Validate a configuration file; errors are reported as FILE:LINE: message.\n"
	"Then load the PKI files it names as the daemon would: the CA parses, the\n"
	"certificate and key match, the certificate chains to the CA; a key\n"
	"readable by group or others is a warning. A receiver's notify_ca must\n"
	"hold CA certificates.\n";

int
cli_config(int argc, char **argv)
{
	struct agent_config *ac = NULL;
	struct receiver_config *rc = NULL;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(usage_config, stdout);
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "check") != 0) {
		fputs(usage_config, stderr);
		return 2;
	}
	log_set_prefix("config");
	if (!strcmp(argv[2], "agent")) {
		r = agent_config_load(argv[3], &ac);
		if (r == 0)
			r = tls_check_files(&(struct tls_files){ ac->ca, ac->cert, ac->key },
					    false);
		agent_config_free(ac);
	} else if (!strcmp(argv[2], "receiver")) {
		r = receiver_config_load(argv[3], &rc);
		if (r == 0)
			r = tls_check_files(&(struct tls_files){ rc->ca, rc->cert, rc->key },
					    true);
		if (r == 0 && rc->notify_url)
			r = notify_check(rc->notify_url, rc->notify_ca);
		receiver_config_free(rc);
	} else {
		fputs(usage_config, stderr);
		return 2;
	}
	if (r == 0)
		printf("%s: ok\n", argv[3]);
	return r == 0 ? 0 : 1;
}

/* Unit tests for replicator/config: agent.conf and receiver.conf loading. */
#include "replicator/config.h"

#include "common/fileutil.h"
#include "common/ini.h"
#include "common/parse.h"
#include "replicator/config-keys.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/capture.h"

/* Load text as agent.conf (receiver 0) or receiver.conf (receiver 1); it
 * must fail with exactly one logged line containing msg. */
static void
config_fails(int receiver, const char *text, const char *msg)
{
	struct agent_config *a = NULL;
	struct receiver_config *r = NULL;
	char *log;
	int rc;

	cap_start();
	rc = receiver ? receiver_config_load_string("receiver.conf", text, &r)
		      : agent_config_load_string("agent.conf", text, &a);
	log = cap_stop();
	cr_assert_eq(rc, -1, "accepted:\n%s", text);
	cr_assert_null(a);
	cr_assert_null(r);
	assert_logged(log, msg);
	cr_assert_eq(count_lines(log), 1, "not logged exactly once:\n%s", log);
	free(log);
}

static void
agent_fails(const char *text, const char *msg)
{
	config_fails(0, text, msg);
}

static void
receiver_fails(const char *text, const char *msg)
{
	config_fails(1, text, msg);
}

/* ---- agent -------------------------------------------------------------- */

#define AGENT_HEAD \
	"[agent]\n"                              /* 1 */ \
	"receiver = 10.0.0.5:7400\n"             /* 2 */ \
	"ca = /etc/nestor/ca.pem\n"              /* 3 */ \
	"cert = /etc/nestor/agent.pem\n"         /* 4 */ \
	"key = /etc/nestor/agent.key\n"          /* 5 */ \
	"state_dir = /var/lib/nestor\n"          /* 6 */

#define ONE_GROUP "[group web]\n[disk web root]\npath = /vm/web.qcow2\n"

static const char full_agent[] =
	"; full agent config\n"
	"[agent]\n"
	"name = host-a\n"
	"receiver = [2001:db8::5]:7401\n"
	"server_name = dr-receiver\n"
	"ca = /etc/nestor/ca.pem\n"
	"cert = /etc/nestor/agent.pem\n"
	"key = /etc/nestor/agent.key\n"
	"state_dir = /var/lib/nestor\n"
	"compress_level = 0\n"
	"compress_adapt = yes\n"
	"log_level = debug\n"
	"\n"
	"[group web]\n"
	"[group db]\n"
	"[disk web root]\n"
	"path = /vm/web-root.qcow2\n"
	"format = qcow2\n"
	"[disk db data]\n"
	"path = /dev/vg0/db-data\n"
	"format = raw\n"
	"[disk web logs]\n"
	"path = /vm/web-logs.img\n";

/* The CA, certificate and key of a sample config: /etc/nestor/ca.pem,
 * /etc/nestor/WHO.pem, /etc/nestor/WHO.key. */
static void
assert_tls_files(const char *ca, const char *cert, const char *key, const char *who)
{
	char want[64];

	cr_assert_str_eq(ca, "/etc/nestor/ca.pem");
	snprintf(want, sizeof(want), "/etc/nestor/%s.pem", who);
	cr_assert_str_eq(cert, want);
	snprintf(want, sizeof(want), "/etc/nestor/%s.key", who);
	cr_assert_str_eq(key, want);
}

static void
check_full_agent(const struct agent_config *c)
{
	cr_assert_str_eq(c->name, "host-a");
	cr_assert_str_eq(c->receiver_host, "2001:db8::5");
	cr_assert_eq(c->receiver_port, 7401);
	cr_assert_str_eq(c->server_name, "dr-receiver");
	assert_tls_files(c->ca, c->cert, c->key, "agent");
	cr_assert_str_eq(c->state_dir, "/var/lib/nestor");
	cr_assert_eq(c->compress_level, 0);
	cr_assert(c->compress_adapt);
	cr_assert_eq(c->log_level, LOG_LVL_DEBUG);
	cr_assert_eq(c->ngroups, 2);
	cr_assert_str_eq(c->groups[0].name, "web");
	cr_assert_eq(c->groups[0].ndisks, 2);
	cr_assert_str_eq(c->groups[0].disks[0].name, "root");
	cr_assert_str_eq(c->groups[0].disks[0].path, "/vm/web-root.qcow2");
	cr_assert_str_eq(c->groups[0].disks[0].format, "qcow2");
	cr_assert_str_eq(c->groups[0].disks[1].name, "logs");
	cr_assert_str_eq(c->groups[0].disks[1].path, "/vm/web-logs.img");
	cr_assert_null(c->groups[0].disks[1].format);
	cr_assert_str_eq(c->groups[1].name, "db");
	cr_assert_eq(c->groups[1].ndisks, 1);
	cr_assert_str_eq(c->groups[1].disks[0].name, "data");
	cr_assert_str_eq(c->groups[1].disks[0].path, "/dev/vg0/db-data");
	cr_assert_str_eq(c->groups[1].disks[0].format, "raw");
}

Test(agent_config, full_from_string)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf", full_agent, &c), 0);
	check_full_agent(c);
	agent_config_free(c);
	agent_config_free(NULL);
}

Test(agent_config, full_from_file_and_missing_file)
{
	char dir[] = "/tmp/nestor-test-XXXXXX", path[64], cmd[96];
	struct agent_config *c = NULL;
	char *log;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	cr_assert_eq(file_write_atomic(path, full_agent, strlen(full_agent), 0600), 0);
	cr_assert_eq(agent_config_load(path, &c), 0);
	check_full_agent(c);
	agent_config_free(c);
	c = NULL;

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	cap_start();
	cr_assert_eq(agent_config_load(path, &c), -1);
	log = cap_stop();
	cr_assert_null(c);
	cr_assert(strstr(log, path) != NULL && strstr(log, "No such file") != NULL, "%s", log);
	free(log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/* compress_adapt defaults to yes (session 12); no turns it off. */
Test(agent_config, compress_adapt_no)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf", AGENT_HEAD "compress_adapt = no\n"
					      ONE_GROUP, &c), 0);
	cr_assert_not(c->compress_adapt);
	agent_config_free(c);
}

Test(agent_config, defaults)
{
	struct agent_config *c = NULL;
	char host[HOST_NAME_MAX + 1] = "";

	cr_assert_eq(agent_config_load_string("agent.conf", AGENT_HEAD ONE_GROUP, &c), 0);
	cr_assert_eq(gethostname(host, sizeof(host)), 0);
	cr_assert_str_eq(c->name, host);
	cr_assert_str_eq(c->receiver_host, "10.0.0.5");
	cr_assert_eq(c->receiver_port, 7400);
	cr_assert_str_eq(c->server_name, "10.0.0.5");
	cr_assert_eq(c->compress_level, 3);
	cr_assert(c->compress_adapt, "compress_adapt defaults to yes (session 12)");
	cr_assert_eq(c->log_level, LOG_LVL_INFO);
	cr_assert_null(c->metrics_host);
	cr_assert_eq(c->ngroups, 1);
	cr_assert_eq(c->groups[0].ndisks, 1);
	agent_config_free(c);
}

Test(agent_config, metrics_endpoint)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf",
		AGENT_HEAD "metrics = [::1]:9101\n" ONE_GROUP, &c), 0);
	cr_assert_str_eq(c->metrics_host, "::1");
	cr_assert_eq(c->metrics_port, 9101);
	agent_config_free(c);
}

Test(agent_config, disk_before_group_is_fine)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf",
		AGENT_HEAD "[disk web root]\npath = /x\n[group web]\n", &c), 0);
	cr_assert_str_eq(c->groups[0].disks[0].path, "/x");
	agent_config_free(c);
}

Test(agent_config, errors)
{
	/* The example from the spec, verbatim. */
	agent_fails(AGENT_HEAD "[disk web root]\npth = /vm/x\n[group web]\n",
		    "agent.conf:8: unknown key 'pth' in [disk web root]");
	agent_fails("[group web]\n[disk web root]\npath = /a\n"
		    "[agent]\nreceiver = r:1\nca = a\ncert = b\nkey = c\nstate_dir = d\n"
		    "[disk web root]\npth = /vm/x\n",
		    "agent.conf:10: duplicate disk 'root' in group 'web' (first on line 2)");
	agent_fails("[group web]\n[disk web root]\npath = /a\n"
		    "[agent]\nreceiver = r:1\nca = a\ncert = b\nkey = c\nstate_dir = d\n"
		    "[disk web data]\npth = /vm/x\n",
		    "agent.conf:11: unknown key 'pth' in [disk web data]");
	/* Unknown section / key / duplicate key. */
	agent_fails(AGENT_HEAD ONE_GROUP "[vm web]\n", "agent.conf:10: unknown section [vm web]");
	agent_fails(AGENT_HEAD ONE_GROUP "[disk web a b]\n", "agent.conf:10: unknown section [disk web a b]");
	agent_fails(AGENT_HEAD "rpo = 5m\n" ONE_GROUP, "agent.conf:7: unknown key 'rpo' in [agent]");
	agent_fails(AGENT_HEAD "ca = /other\n" ONE_GROUP,
		    "agent.conf:7: duplicate key 'ca' in [agent] (first on line 3)");
	agent_fails(AGENT_HEAD "[group web]\nrpox = 5m\n[disk web root]\npath = /x\n",
		    "agent.conf:8: unknown key 'rpox' in [group web]");
	agent_fails(AGENT_HEAD "[group web]\nrpo = soon\n[disk web root]\npath = /x\n",
		    "agent.conf:8: bad value 'soon' for 'rpo' in [group web]: expected a duration such as 30s, 5m, 1h (at most a year)");
	agent_fails("x = 1\n" AGENT_HEAD ONE_GROUP, "agent.conf:1: key 'x' outside any section");
	agent_fails(AGENT_HEAD ONE_GROUP "[agent]\n",
		    "agent.conf:10: duplicate section [agent] (first on line 1)");
	/* Missing things. */
	agent_fails("[agent]\nreceiver = r:1\nca = a\ncert = b\nkey = c\n" ONE_GROUP,
		    "agent.conf:1: missing required key 'state_dir' in [agent]");
	agent_fails(AGENT_HEAD "[group web]\n[disk web root]\nformat = raw\n",
		    "agent.conf:8: [disk web root] needs exactly one of 'path' and 'rbd'");
	agent_fails(ONE_GROUP, "agent.conf: missing section [agent]");
	agent_fails(AGENT_HEAD, "agent.conf: no protection group");
	agent_fails(AGENT_HEAD ONE_GROUP "[group db]\n",
		    "agent.conf:10: group 'db' has no disks");
	agent_fails(AGENT_HEAD ONE_GROUP "[disk db x]\npath = /y\n",
		    "agent.conf:10: [disk db x] refers to undeclared group 'db'");
	/* Duplicates and names. */
	agent_fails(AGENT_HEAD ONE_GROUP "[group web]\n",
		    "agent.conf:10: duplicate group 'web' (first on line 7)");
	agent_fails(AGENT_HEAD "[group ..]\n", "agent.conf:7: invalid group name '..' in [group ..]");
	agent_fails(AGENT_HEAD "[group .]\n", "invalid group name '.'");
	agent_fails(AGENT_HEAD "[group a/b]\n", "invalid group name 'a/b'");
	agent_fails(AGENT_HEAD "[group /]\n", "invalid group name '/'");
	agent_fails(AGENT_HEAD "[group web]\n[disk web ../../etc]\npath = /x\n",
		    "agent.conf:8: invalid disk name '../../etc'");
	agent_fails(AGENT_HEAD "[group "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n",
		    "invalid group name");
	agent_fails("[agent]\nname = ../x\n", "agent.conf:2: bad value '../x' for 'name' in [agent]");
	/* Bad values say what is expected. */
	agent_fails(AGENT_HEAD "compress_level = 20\n" ONE_GROUP,
		    "agent.conf:7: bad value '20' for 'compress_level' in [agent]: expected an integer -7..19");
	agent_fails(AGENT_HEAD "compress_level = -8\n" ONE_GROUP, "expected an integer -7..19");
	agent_fails(AGENT_HEAD "compress_level = -0\n" ONE_GROUP, "expected an integer -7..19");
	agent_fails(AGENT_HEAD "compress_adapt = maybe\n" ONE_GROUP,
		    "agent.conf:7: bad value 'maybe' for 'compress_adapt' in [agent]: expected yes or no");
	agent_fails(AGENT_HEAD "log_level = loud\n" ONE_GROUP,
		    "bad value 'loud' for 'log_level' in [agent]: expected error, warn, info or debug");
	agent_fails("[agent]\nreceiver = 10.0.0.5\n",
		    "agent.conf:2: bad value '10.0.0.5' for 'receiver' in [agent]: expected host:port");
	agent_fails("[agent]\nreceiver = 10.0.0.5:70000\n", "for 'receiver'");
	agent_fails(AGENT_HEAD "metrics = 9101\n" ONE_GROUP,
		    "agent.conf:7: bad value '9101' for 'metrics' in [agent]: expected host:port");
	agent_fails(AGENT_HEAD "metrics = 127.0.0.1:0\n" ONE_GROUP, "for 'metrics'");
	agent_fails("[agent]\nca =\n", "agent.conf:2: bad value '' for 'ca' in [agent]: expected a non-empty value");
	agent_fails(AGENT_HEAD "[group web]\n[disk web root]\npath = /x\nformat = vmdk\n",
		    "agent.conf:10: bad value 'vmdk' for 'format' in [disk web root]: expected qcow2 or raw");
	agent_fails(AGENT_HEAD "[group web]\n[disk web root]\npath = /x\npath = /y\n",
		    "agent.conf:10: duplicate key 'path' in [disk web root] (first on line 9)");
	/* Syntax errors come from the INI layer with the line. */
	agent_fails(AGENT_HEAD "[group web\n", "agent.conf:7: syntax error");
}

/* ---- receiver ----------------------------------------------------------- */

#define RX_HEAD \
	"[receiver]\n"                           /* 1 */ \
	"listen = 0.0.0.0:7400\n"                /* 2 */ \
	"ca = /etc/nestor/ca.pem\n"              /* 3 */ \
	"cert = /etc/nestor/receiver.pem\n"      /* 4 */ \
	"key = /etc/nestor/receiver.key\n"       /* 5 */ \
	"store = /srv/nestor\n"                  /* 6 */

Test(receiver_config, full)
{
	static const char text[] =
		RX_HEAD
		"log_level = warn\n"
		"checkpoint_interval = 256M\n"
		"[client host-a]\n"
		"groups = web db\n"
		"[client host-b]\n"
		"groups = *\n"
		"[client host-c]\n"
		"groups =   files  \n";
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("receiver.conf", text, &c), 0);
	cr_assert_str_eq(c->listen_host, "0.0.0.0");
	cr_assert_eq(c->listen_port, 7400);
	assert_tls_files(c->ca, c->cert, c->key, "receiver");
	cr_assert_str_eq(c->store_dir, "/srv/nestor");
	cr_assert_eq(c->log_level, LOG_LVL_WARN);
	cr_assert_eq(c->checkpoint_bytes, 256ULL << 20);
	cr_assert_eq(c->nclients, 3);
	cr_assert_str_eq(c->clients[0].peer, "host-a");
	cr_assert_eq(c->clients[0].ngroups, 2);
	cr_assert_str_eq(c->clients[0].groups[0], "web");
	cr_assert_str_eq(c->clients[0].groups[1], "db");
	cr_assert_eq(c->clients[0].all_groups, 0);
	cr_assert_eq(c->clients[1].all_groups, 1);
	cr_assert_eq(c->clients[2].ngroups, 1);
	cr_assert_str_eq(c->clients[2].groups[0], "files");

	cr_assert(receiver_config_allows(c, "host-a", "web"));
	cr_assert(receiver_config_allows(c, "host-a", "db"));
	cr_assert(!receiver_config_allows(c, "host-a", "files"));
	cr_assert(!receiver_config_allows(c, "host-a", "we"));
	cr_assert(receiver_config_allows(c, "host-b", "anything"));
	cr_assert(receiver_config_allows(c, "host-c", "files"));
	cr_assert(!receiver_config_allows(c, "host-d", "web"));
	cr_assert(!receiver_config_allows(c, "HOST-A", "web"));
	cr_assert(!receiver_config_allows(c, NULL, "web"));
	cr_assert(!receiver_config_allows(c, "host-a", NULL));
	cr_assert(!receiver_config_allows(NULL, "host-a", "web"));
	receiver_config_free(c);
	receiver_config_free(NULL);
}

Test(receiver_config, defaults_and_bounds)
{
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("r", "[receiver]\nlisten = [::]:7400\n"
		"ca = a\ncert = b\nkey = c\nstore = d\n", &c), 0);
	cr_assert_str_eq(c->listen_host, "::");
	cr_assert_eq(c->log_level, LOG_LVL_INFO);
	cr_assert_eq(c->checkpoint_bytes, 64ULL << 20);
	cr_assert_eq(c->nclients, 0);
	cr_assert(!receiver_config_allows(c, "x", "y"));
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "checkpoint_interval = 1M\n", &c), 0);
	cr_assert_eq(c->checkpoint_bytes, 1ULL << 20);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "checkpoint_interval = 4G\n", &c), 0);
	cr_assert_eq(c->checkpoint_bytes, 4ULL << 30);
	receiver_config_free(c);
}

/* issue 13, item 3: scrub_rate (default 100M, 1M..64G). */
Test(receiver_config, scrub_rate)
{
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("r", RX_HEAD, &c), 0);
	cr_assert_eq(c->scrub_rate, 100ULL << 20);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "scrub_rate = 20M\n", &c), 0);
	cr_assert_eq(c->scrub_rate, 20ULL << 20);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "scrub_rate = 512K\n", &c), -1);
	cr_assert_null(c);
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "scrub_rate = 65G\n", &c), -1);
	cr_assert_null(c);
}

/* issue 16: the dashboard's keys; a metrics address beyond loopback needs
 * dashboard_auth or dashboard_public = yes. */
static int
rx_load(const char *extra, struct receiver_config **c)
{
	char text[2048];

	*c = NULL;
	snprintf(text, sizeof(text), "%s%s", RX_HEAD, extra);
	return receiver_config_load_string("r", text, c);
}

Test(receiver_config, dashboard_keys)
{
	struct receiver_config *c;

	cr_assert_eq(rx_load("", &c), 0);
	cr_assert_eq(c->rpo_s, 300);
	cr_assert_eq(c->rpo_history_size, 1ULL << 20);
	cr_assert_null(c->dashboard_auth);
	cr_assert_not(c->dashboard_public);
	cr_assert_eq(receiver_config_rpo(c, "any"), 300);
	receiver_config_free(c);
	cr_assert_eq(rx_load("rpo = 1m\nrpo_history_size = 64K\n[group fast]\nrpo = 20s\n", &c), 0);
	cr_assert_eq(receiver_config_rpo(c, "fast"), 20);
	cr_assert_eq(receiver_config_rpo(c, "other"), 60);
	cr_assert_eq(c->rpo_history_size, 64ULL << 10);
	receiver_config_free(c);
	cr_assert_eq(rx_load("rpo = 0\n", &c), -1);
	cr_assert_eq(rx_load("rpo = soon\n", &c), -1);
	cr_assert_eq(rx_load("rpo_history_size = 1K\n", &c), -1);
	cr_assert_eq(rx_load("rpo_history_size = 65M\n", &c), -1);
	cr_assert_eq(rx_load("dashboard_public = maybe\n", &c), -1);
	cr_assert_eq(rx_load("[group g]\nrpo = 400d\n", &c), -1);
}

Test(receiver_config, dashboard_binding)
{
	static const struct {
		const char *extra;
		int want;
	} cases[] = {
		{ "metrics = 127.0.0.1:9740\n", 0 },
		{ "metrics = 127.9.0.1:9740\n", 0 },
		{ "metrics = localhost:9740\n", 0 },
		{ "metrics = [::1]:9740\n", 0 },
		{ "metrics = 0.0.0.0:9740\n", -1 },
		{ "metrics = 192.0.2.1:9740\n", -1 },
		{ "metrics = [::]:9740\n", -1 },
		{ "metrics = dr.example:9740\n", -1 },
		{ "metrics = 0.0.0.0:9740\ndashboard_public = yes\n", 0 },
		{ "metrics = 0.0.0.0:9740\ndashboard_public = no\n", -1 },
		{ "metrics = 0.0.0.0:9740\ndashboard_auth = /etc/nestor/dashboard.users\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct receiver_config *c;

		cr_assert_eq(rx_load(cases[i].extra, &c), cases[i].want, "%s", cases[i].extra);
		receiver_config_free(c);
	}
}

Test(receiver_config, errors)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ RX_HEAD "checkpoint_interval = 512K\n",
		  "receiver.conf:7: bad value '512K' for 'checkpoint_interval' in [receiver]: expected a size from 1M to 4G" },
		{ RX_HEAD "checkpoint_interval = 4097M\n", "expected a size from 1M to 4G" },
		{ RX_HEAD "checkpoint_interval = lots\n", "expected a size from 1M to 4G" },
		{ "[receiver]\nlisten = :7400\n", "receiver.conf:2: bad value ':7400' for 'listen'" },
		{ "[receiver]\nca = a\ncert = b\nkey = c\nstore = d\n",
		  "receiver.conf:1: missing required key 'listen' in [receiver]" },
		{ RX_HEAD "[client host-a]\n",
		  "receiver.conf:7: missing required key 'groups' in [client host-a]" },
		{ RX_HEAD "[client host-a]\ngroups =\n",
		  "receiver.conf:8: bad value '' for 'groups' in [client host-a]: expected '*' or space-separated group names" },
		{ RX_HEAD "[client host-a]\ngroups = web ../x\n", "bad value 'web ../x' for 'groups'" },
		{ RX_HEAD "[client host-a]\ngroups = * web\n", "bad value '* web' for 'groups'" },
		{ RX_HEAD "[client host-a]\ngroups = web web\n", "expected distinct group names" },
		{ RX_HEAD "[client host-a]\ngroups = web\ngroups = db\n",
		  "receiver.conf:9: duplicate key 'groups' in [client host-a] (first on line 8)" },
		{ RX_HEAD "[client host-a]\ngroups = web\n[client host-a]\ngroups = db\n",
		  "receiver.conf:9: duplicate client 'host-a'" },
		{ RX_HEAD "[client a/b]\ngroups = web\n", "receiver.conf:7: invalid client name 'a/b'" },
		{ RX_HEAD "[client]\ngroups = web\n", "receiver.conf:7: unknown section [client]" },
		{ RX_HEAD "[agent]\n", "receiver.conf:7: unknown section [agent]" },
		{ RX_HEAD "port = 1\n", "receiver.conf:7: unknown key 'port' in [receiver]" },
		{ "[client a]\ngroups = *\n", "receiver.conf: missing section [receiver]" },
		{ RX_HEAD RX_HEAD, "receiver.conf:7: duplicate section [receiver] (first on line 1)" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		receiver_fails(bad[i].text, bad[i].msg);
}

Test(receiver_config, missing_file)
{
	struct receiver_config *c = NULL;
	char *log;

	cap_start();
	cr_assert_eq(receiver_config_load("/nonexistent/nestor/receiver.conf", &c), -1);
	log = cap_stop();
	cr_assert_null(c);
	cr_assert(strstr(log, "/nonexistent/nestor/receiver.conf: No such file or directory") != NULL,
		  "%s", log);
	free(log);
}

/* Connection hygiene keys (issue 12, section 3): defaults, values, ranges. */
Test(receiver_config, connection_limits)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ RX_HEAD "handshake_timeout = 0\n", "expected a duration from 1s to 10m" },
		{ RX_HEAD "handshake_timeout = 11m\n", "expected a duration from 1s to 10m" },
		{ RX_HEAD "idle_timeout = 5s\n", "expected 0 (off) or a duration from 10s to 7d" },
		{ RX_HEAD "idle_timeout = 8d\n", "expected 0 (off) or a duration from 10s to 7d" },
		{ RX_HEAD "max_conns = 0\n", "bad value '0' for 'max_conns' in [receiver]: expected a count from 1 to 1048576" },
		{ RX_HEAD "max_conns_per_client = -1\n", "expected a count from 1 to 1048576" },
		{ RX_HEAD "max_conns_per_address = 1048577\n", "expected a count from 1 to 1048576" },
		{ RX_HEAD "max_conns_per_address = many\n", "expected a count from 1 to 1048576" },
	};
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "[client a]\ngroups = *\n", &c), 0);
	cr_assert_eq(c->handshake_timeout_s, 10);
	cr_assert_eq(c->idle_timeout_s, 3600);
	cr_assert_eq(c->max_conns, 1024);
	cr_assert_eq(c->max_conns_per_client, 16);
	cr_assert_eq(c->max_conns_per_address, 64);
	cr_assert(receiver_config_has_client(c, "a"));
	cr_assert_not(receiver_config_has_client(c, "b"));
	cr_assert_not(receiver_config_has_client(c, NULL));
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "handshake_timeout = 2s\n"
						 "idle_timeout = 0\nmax_conns = 4096\n"
						 "max_conns_per_client = 1\n"
						 "max_conns_per_address = 5000\n", &c), 0);
	cr_assert_eq(c->handshake_timeout_s, 2);
	cr_assert_eq(c->idle_timeout_s, 0);
	cr_assert_eq(c->max_conns, 4096);
	cr_assert_eq(c->max_conns_per_client, 1);
	cr_assert_eq(c->max_conns_per_address, 5000);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "idle_timeout = 2h\n", &c), 0);
	cr_assert_eq(c->idle_timeout_s, 7200);
	receiver_config_free(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		receiver_fails(bad[i].text, bad[i].msg);
}

/* What a drill may boot (issue 12, section 2): defaults, values, ranges. */
Test(receiver_config, drill_caps)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ RX_HEAD "drill_max_memory = 32M\n",
		  "receiver.conf:7: bad value '32M' for 'drill_max_memory' in [receiver]: expected auto or a size from 64M to 1P" },
		{ RX_HEAD "drill_max_memory = 2048T\n", "expected auto or a size from 64M to 1P" },
		{ RX_HEAD "drill_max_memory = half\n", "expected auto or a size from 64M to 1P" },
		{ RX_HEAD "drill_max_vcpus = 0\n",
		  "bad value '0' for 'drill_max_vcpus' in [receiver]: expected auto or a number of vCPUs from 1 to 4096" },
		{ RX_HEAD "drill_max_vcpus = 4097\n", "expected auto or a number of vCPUs from 1 to 4096" },
		{ RX_HEAD "drill_max_devices = 0\n",
		  "bad value '0' for 'drill_max_devices' in [receiver]: expected a number of devices from 1 to 4096" },
		{ RX_HEAD "drill_max_devices = auto\n", "expected a number of devices from 1 to 4096" },
		{ RX_HEAD "drill_max_vcpus = 2\ndrill_max_vcpus = 4\n",
		  "receiver.conf:8: duplicate key 'drill_max_vcpus' in [receiver] (first on line 7)" },
		{ RX_HEAD "[group web]\ndrill_max_memory = 1G\n",
		  "receiver.conf:8: unknown key 'drill_max_memory' in [group web]" },
	};
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("r", RX_HEAD, &c), 0);
	cr_assert_eq(c->drill_max_memory, 0, "auto: decided on the host at drill time");
	cr_assert_eq(c->drill_max_vcpus, 0);
	cr_assert_eq(c->drill_max_devices, 256);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "drill_max_memory = 8G\n"
						 "drill_max_vcpus = 4\ndrill_max_devices = 32\n",
						 &c), 0);
	cr_assert_eq(c->drill_max_memory, 8ULL << 30);
	cr_assert_eq(c->drill_max_vcpus, 4);
	cr_assert_eq(c->drill_max_devices, 32);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "drill_max_memory = auto\n"
						 "drill_max_vcpus = auto\ndrill_max_devices = 4096\n",
						 &c), 0);
	cr_assert_eq(c->drill_max_memory, 0);
	cr_assert_eq(c->drill_max_vcpus, 0);
	cr_assert_eq(c->drill_max_devices, 4096);
	receiver_config_free(c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		receiver_fails(bad[i].text, bad[i].msg);
}

/* ---- config-keys: a table has no fixed bound on its keys ---------------- */

#define BIG_NKEYS 70

static int
set_big(void *obj, const struct key_def *k, const char *value, const char **expect)
{
	uint64_t n;

	if (parse_u64(value, &n) < 0 || n > 1000) {
		*expect = "a number up to 1000";
		return -1;
	}
	*CFG_FIELD(obj, k->off, int) = (int)n;
	return 0;
}

/* Keys k0..k69 of a section [s] into v[]; k69 required. */
static int
big_section(const char *text, int *v, char **log)
{
	static char names[BIG_NKEYS][8];
	struct key_def defs[BIG_NKEYS];
	struct ini_doc *doc = NULL;
	size_t next = 0;
	int rc;

	for (size_t i = 0; i < BIG_NKEYS; i++) {
		snprintf(names[i], sizeof(names[i]), "k%zu", i);
		defs[i] = (struct key_def){ names[i], set_big, i * sizeof(int),
					    i == BIG_NKEYS - 1, 0, false };
	}
	cap_start();
	cr_assert_eq(ini_load_string("big.conf", text, &doc), 0);
	rc = cfg_section_keys(doc, 0, &next, defs, BIG_NKEYS, v);
	*log = cap_stop();
	ini_free(doc);
	return rc;
}

Test(config_keys, more_keys_than_the_old_bound_of_32)
{
	int v[BIG_NKEYS] = { 0 };
	char text[2048] = "[s]\n", *log;

	for (size_t i = 0; i < BIG_NKEYS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), "k%zu = %zu\n", i, i + 1);
	cr_assert_eq(big_section(text, v, &log), 0, "%s", log);
	free(log);
	for (size_t i = 0; i < BIG_NKEYS; i++)
		cr_assert_eq(v[i], (int)i + 1, "k%zu", i);

	cr_assert_eq(big_section("[s]\nk69 = 1\nk40 = 2\nk40 = 3\n", v, &log), -1);
	assert_logged(log, "big.conf:4: duplicate key 'k40' in [s] (first on line 3)");
	free(log);
	cr_assert_eq(big_section("[s]\nk68 = 1\n", v, &log), -1);
	assert_logged(log, "big.conf:1: missing required key 'k69' in [s]");
	free(log);
	cr_assert_eq(big_section("[s]\nk69 = 1\nk70 = 1\n", v, &log), -1);
	assert_logged(log, "big.conf:3: unknown key 'k70' in [s]");
	free(log);
	cr_assert_eq(big_section("[s]\nk69 = bad\n", v, &log), -1);
	assert_logged(log, "big.conf:2: bad value 'bad' for 'k69' in [s]: expected a number up to 1000");
	free(log);
}

/* Stalled-link keys (issue 13 item 5): defaults, values, ranges. */
Test(agent_config, receiver_timeout)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf", AGENT_HEAD ONE_GROUP, &c), 0);
	cr_assert_eq(c->receiver_timeout_s, 300);
	agent_config_free(c);
	c = NULL;
	cr_assert_eq(agent_config_load_string("agent.conf",
					      AGENT_HEAD "receiver_timeout = 45s\n" ONE_GROUP, &c),
		     0);
	cr_assert_eq(c->receiver_timeout_s, 45);
	agent_config_free(c);
	agent_fails(AGENT_HEAD "receiver_timeout = 5s\n" ONE_GROUP,
		    "bad value '5s' for 'receiver_timeout' in [agent]: expected a duration from 10s to 1d");
	agent_fails(AGENT_HEAD "receiver_timeout = 2d\n" ONE_GROUP,
		    "expected a duration from 10s to 1d");
}

/* Planned failover keys (issue 14, item 5): defaults, values, ranges. */
Test(agent_config, planned_failover_keys)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf", AGENT_HEAD ONE_GROUP, &c), 0);
	cr_assert_eq(c->planned_shutdown_s, 300);
	cr_assert_eq(c->control_poll_s, 10);
	agent_config_free(c);
	c = NULL;
	cr_assert_eq(agent_config_load_string("agent.conf",
					      AGENT_HEAD "planned_shutdown_timeout = 90s\n"
					      "control_poll = 0\n" ONE_GROUP, &c), 0);
	cr_assert_eq(c->planned_shutdown_s, 90);
	cr_assert_eq(c->control_poll_s, 0);
	agent_config_free(c);
	agent_fails(AGENT_HEAD "planned_shutdown_timeout = 0\n" ONE_GROUP,
		    "bad value '0' for 'planned_shutdown_timeout' in [agent]: expected a "
		    "duration from 1s to 1d");
	agent_fails(AGENT_HEAD "planned_shutdown_timeout = 2d\n" ONE_GROUP,
		    "expected a duration from 1s to 1d");
	agent_fails(AGENT_HEAD "control_poll = 2h\n" ONE_GROUP,
		    "bad value '2h' for 'control_poll' in [agent]: expected a duration from 1s "
		    "to 1h, or 0 (off)");
	agent_fails(AGENT_HEAD "control_poll = soon\n" ONE_GROUP,
		    "expected a duration from 1s to 1h, or 0 (off)");
}

Test(receiver_config, stall_timeout)
{
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("r", RX_HEAD, &c), 0);
	cr_assert_eq(c->stall_timeout_s, 60);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "stall_timeout = 0\n", &c), 0);
	cr_assert_eq(c->stall_timeout_s, 0);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "stall_timeout = 2m\n", &c), 0);
	cr_assert_eq(c->stall_timeout_s, 120);
	receiver_config_free(c);
	receiver_fails(RX_HEAD "stall_timeout = 4s\n",
		       "bad value '4s' for 'stall_timeout' in [receiver]: expected 0 (off) or a duration from 5s to 1d");
	receiver_fails(RX_HEAD "stall_timeout = 2d\n", "expected 0 (off) or a duration from 5s to 1d");
}

/* The write buffers of all points together (issue 17): default and range. */
Test(receiver_config, write_buffer_total)
{
	static const struct {
		const char *line;
		uint64_t want;
	} good[] = {
		{ "", 256ULL << 20 },
		{ "write_buffer_total = 1M\n", 1ULL << 20 },
		{ "write_buffer_total = 64G\n", 64ULL << 30 },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct receiver_config *c = NULL;

		snprintf(text, sizeof(text), RX_HEAD "%s", good[i].line);
		cr_assert_eq(receiver_config_load_string("r", text, &c), 0, "%s", text);
		cr_assert_eq(c->write_buffer_total, good[i].want, "%s", text);
		receiver_config_free(c);
	}
	receiver_fails(RX_HEAD "write_buffer_total = 1023K\n",
		       "receiver.conf:7: bad value '1023K' for 'write_buffer_total' in [receiver]: "
		       "expected a size from 1M to 64G");
	receiver_fails(RX_HEAD "write_buffer_total = 65G\n", "expected a size from 1M to 64G");
	receiver_fails(RX_HEAD "write_buffer_total = 0\n", "expected a size from 1M to 64G");
}

/* Consistency keys of a group (issue 13 item 4): defaults, values, ranges. */
Test(agent_config, consistency_keys)
{
	struct agent_config *c = NULL;

	cr_assert_eq(agent_config_load_string("agent.conf", AGENT_HEAD ONE_GROUP, &c), 0);
	cr_assert_eq(c->groups[0].snapshot, AGENT_SNAP_AUTO);
	cr_assert_eq(c->groups[0].consistency_rereads, 1);
	agent_config_free(c);
	c = NULL;
	cr_assert_eq(agent_config_load_string("agent.conf", AGENT_HEAD
		"[group web]\nsnapshot = reflink\nconsistency_rereads = 0\n[disk web root]\npath = /x\n"
		"[group db]\nsnapshot = read\nconsistency_rereads = 10\n[disk db root]\npath = /y\n",
		&c), 0);
	cr_assert_eq(c->groups[0].snapshot, AGENT_SNAP_REFLINK);
	cr_assert_eq(c->groups[0].consistency_rereads, 0);
	cr_assert_eq(c->groups[1].snapshot, AGENT_SNAP_READ);
	cr_assert_eq(c->groups[1].consistency_rereads, 10);
	agent_config_free(c);
	agent_fails(AGENT_HEAD "[group web]\nsnapshot = lvm\n[disk web root]\npath = /x\n",
		    "bad value 'lvm' for 'snapshot' in [group web]: expected auto, reflink or read");
	agent_fails(AGENT_HEAD "[group web]\nconsistency_rereads = 11\n[disk web root]\npath = /x\n",
		    "bad value '11' for 'consistency_rereads' in [group web]: expected an integer 0..10");
	agent_fails(AGENT_HEAD "[group web]\nconsistency_rereads = -1\n[disk web root]\npath = /x\n",
		    "expected an integer 0..10");
	agent_fails(AGENT_HEAD "snapshot = auto\n" ONE_GROUP,
		    "unknown key 'snapshot' in [agent]");
}

/* Monitoring keys (issue 16): rpo in [receiver] and [group], notify. */
Test(receiver_config, rpo_and_notify)
{
	struct receiver_config *c = NULL;

	cr_assert_eq(receiver_config_load_string("r", RX_HEAD, &c), 0);
	cr_assert_eq(receiver_config_rpo(c, "any"), 300);
	cr_assert_null(c->notify_url);
	receiver_config_free(c);
	c = NULL;
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "rpo = 10m\n"
		"notify = http://127.0.0.1:8080/hooks/nestor?t=abc\n"
		"[group fast]\nrpo = 20s\n[group plain]\nretention = 1d:all\n", &c), 0);
	cr_assert_eq(receiver_config_rpo(c, "fast"), 20);
	cr_assert_eq(receiver_config_rpo(c, "plain"), 600);
	cr_assert_eq(receiver_config_rpo(c, "other"), 600);
	cr_assert_str_eq(c->notify_url, "http://127.0.0.1:8080/hooks/nestor?t=abc");
	receiver_config_free(c);
	receiver_fails(RX_HEAD "rpo = 0\n",
		       "receiver.conf:7: bad value '0' for 'rpo' in [receiver]: "
		       "expected a duration from 1s to 366d");
	receiver_fails(RX_HEAD "[group g]\nrpo = 367d\n",
		       "receiver.conf:8: bad value '367d' for 'rpo' in [group g]");
	receiver_fails(RX_HEAD "notify = ftp://chat.example.com/hook\n",
		       "receiver.conf:7: bad value 'ftp://chat.example.com/hook' for 'notify' in "
		       "[receiver]: expected a URL starting with http:// or https://");
	receiver_fails(RX_HEAD "notify = http://a b/\n", "expected no spaces");
	receiver_fails(RX_HEAD "notify = http://u:p@host/\n", "expected no user@ in the URL");
	receiver_fails(RX_HEAD "notify = http://host:0/\n", "expected a port from 1 to 65535");
	receiver_fails(RX_HEAD "notify =\n", "bad value '' for 'notify'");
	receiver_fails(RX_HEAD "notify_ca = /etc/ca.pem\n",
		       "receiver.conf:1: notify_ca needs an https:// notify");
	receiver_fails(RX_HEAD "notify = http://h/\nnotify_ca = /etc/ca.pem\n",
		       "notify_ca needs an https:// notify");
	cr_assert_eq(receiver_config_load_string("r", RX_HEAD "notify = https://h/\n"
		"notify_ca = /etc/nestor/hooks-ca.pem\n", &c), 0);
	cr_assert_str_eq(c->notify_url, "https://h/");
	cr_assert_str_eq(c->notify_ca, "/etc/nestor/hooks-ca.pem");
	receiver_config_free(c);
}

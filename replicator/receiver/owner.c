/* Group ownership records (owner.h): load, decide, save durably. */
#include "replicator/receiver/owner.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/jsonfile.h"
#include "common/log.h"
#include "common/strfmt.h"

#define OWNER_FILE "owner.json"
#define OWNER_FILE_MAX 4096

enum owner_verdict
owner_decide(const char *recorded, const char *peer)
{
	if (!recorded || !*recorded)
		return OWNER_ADOPT;
	return strcmp(recorded, peer) == 0 ? OWNER_OK : OWNER_REFUSE;
}

/* The TLS layer's rule for a CN: printable, bounded. A record that breaks
 * it was not written by us, and would garble the logs it is quoted in. */
static bool
owner_cn_ok(const char *cn)
{
	size_t n = strlen(cn);

	if (n == 0 || n > OWNER_CN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			return false;
	}
	return true;
}

int
owner_load(const char *store_dir, const char *group, char *cn)
{
	char *path = strfmt("%s/%s/%s", store_dir, group, OWNER_FILE);
	json_t *root = NULL;
	json_error_t jerr;
	const char *v;
	int ret = -1;
	int r;

	cn[0] = '\0';
	if (!path)
		return -1;
	r = jsonfile_read(path, OWNER_FILE_MAX, JSON_REJECT_DUPLICATES, &root, &jerr);
	if (r == 1 || r == -1) {
		ret = r;
		goto out;
	}
	if (r == -2) {
		log_error("group %s: owner record %s is not a JSON object (%s); fix or remove it, "
			  "or run `nestor group handover %s CN`", group, path,
			  jerr.text[0] ? jerr.text : "not an object", group);
		goto out;
	}
	v = json_string_value(json_object_get(root, "cn"));
	if (!v || !owner_cn_ok(v)) {
		log_error("group %s: owner record %s has no valid \"cn\" (a printable string of "
			  "1..%d bytes); run `nestor group handover %s CN`", group, path,
			  OWNER_CN_MAX, group);
		goto out;
	}
	memcpy(cn, v, strlen(v) + 1);
	ret = 0;
out:
	json_decref(root);
	free(path);
	return ret;
}

int
owner_save(const char *store_dir, const char *group, const char *cn)
{
	char *path = NULL;
	json_t *root = NULL;
	int ret = -1;

	if (!owner_cn_ok(cn)) {
		log_error("group %s: refusing to record an owner CN that is empty, too long or "
			  "not printable", group);
		return -1;
	}
	path = strfmt("%s/%s/%s", store_dir, group, OWNER_FILE);
	root = json_pack("{s:s}", "cn", cn);
	if (!path || !root) {
		log_error("group %s: out of memory", group);
		goto out;
	}
	ret = jsonfile_save(path, root, JSON_INDENT(2), 0640);
out:
	json_decref(root);
	free(path);
	return ret;
}

int
owner_check(const char *store_dir, const char *group, const char *peer,
	    enum owner_verdict *verdict, char *why, size_t whycap)
{
	char cn[OWNER_CN_MAX + 1];
	int r = owner_load(store_dir, group, cn);

	if (r < 0) {
		snprintf(why, whycap, "the owner record of group %s is unreadable (see the "
			 "receiver log)", group);
		return -1;
	}
	*verdict = owner_decide(r == 0 ? cn : NULL, peer);
	if (*verdict != OWNER_REFUSE)
		return 0;
	log_error("group %s: point from agent \"%s\" refused: the group belongs to agent "
		  "\"%s\"", group, peer, cn);
	snprintf(why, whycap, "group %s belongs to agent %s; hand it over with "
		 "`nestor group handover %s %s` on the receiver", group, cn, group, peer);
	return -1;
}

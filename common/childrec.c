/* Records of long-lived children (childrec.h): a strict one-line text
 * format, and the identity of a process read from /proc. */
#include "common/childrec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/parse.h"

#define CHILDREC_MAGIC "nestor-child 1"
/* /proc/PID/stat is a few hundred bytes; the name is at most 16. */
#define CHILDREC_STAT_MAX 4096

int
childrec_format(const struct childrec *r, char *buf, size_t len)
{
	int n = snprintf(buf, len, CHILDREC_MAGIC " boot=%s pid=%" PRId64 " start=%" PRIu64
			 " ppid=%" PRId64 " pstart=%" PRIu64 "\n", r->boot_id, r->pid, r->start,
			 r->ppid, r->pstart);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool
boot_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n != CHILDREC_BOOT_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

/* "key=digits" as a positive pid (within pid_t) or any u64. */
static int
field_u64(const char *tok, const char *key, uint64_t max, uint64_t *out)
{
	size_t k = strlen(key);
	uint64_t v;

	if (!tok || strncmp(tok, key, k) != 0 || tok[k] != '=' || parse_u64(tok + k + 1, &v) < 0 ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

int
childrec_parse(const char *text, struct childrec *r)
{
	char line[CHILDREC_TEXT_MAX + 1], *save = NULL, *tok[6];
	size_t len = strlen(text), m = sizeof(CHILDREC_MAGIC) - 1;
	uint64_t pid, ppid;
	struct childrec out = { 0 };

	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len >= sizeof(line) || len <= m || strncmp(text, CHILDREC_MAGIC " ", m + 1) != 0)
		return -1;
	memcpy(line, text + m + 1, len - m - 1);
	line[len - m - 1] = '\0';
	if (strchr(line, '\n') || strstr(line, "  "))
		return -1;
	for (int i = 0; i < 6; i++)
		tok[i] = strtok_r(i ? NULL : line, " ", &save);
	if (!tok[0] || tok[5] || strncmp(tok[0], "boot=", 5) != 0 || !boot_id_ok(tok[0] + 5))
		return -1;
	memcpy(out.boot_id, tok[0] + 5, CHILDREC_BOOT_ID_MAX + 1);
	if (field_u64(tok[1], "pid", INT32_MAX, &pid) < 0 || pid == 0 ||
	    field_u64(tok[2], "start", UINT64_MAX, &out.start) < 0 ||
	    field_u64(tok[3], "ppid", INT32_MAX, &ppid) < 0 || ppid == 0 ||
	    field_u64(tok[4], "pstart", UINT64_MAX, &out.pstart) < 0)
		return -1;
	out.pid = (int64_t)pid;
	out.ppid = (int64_t)ppid;
	*r = out;
	return 0;
}

int
childrec_stat_start(const char *stat, uint64_t *start)
{
	/* The name ends at the last ')'; fields 3.. follow, space-separated. */
	const char *p = strrchr(stat, ')');
	char num[24];
	size_t n;

	if (!p || p[1] != ' ')
		return -1;
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	n = strcspn(p, " \n");
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, p, n);
	num[n] = '\0';
	return parse_u64(num, start);
}

/* A small /proc file into buf as a string, without logging (a process
 * that is gone is an answer here, not an error). Length / -1 with errno. */
static ssize_t
read_proc(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int
childrec_proc_start(int64_t pid, uint64_t *start)
{
	char path[64], text[CHILDREC_STAT_MAX];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%" PRId64 "/stat", pid);
	if (read_proc(path, text, sizeof(text)) < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -1;
	p = strrchr(text, ')');
	if (p && p[1] == ' ' && p[2] == 'Z')
		return 0; /* a zombie holds nothing any more */
	return childrec_stat_start(text, start) == 0 ? 1 : -1;
}

int
childrec_boot_id(char boot_id[CHILDREC_BOOT_ID_MAX + 1])
{
	char text[64];

	if (read_proc("/proc/sys/kernel/random/boot_id", text, sizeof(text)) < CHILDREC_BOOT_ID_MAX)
		return -1;
	memcpy(boot_id, text, CHILDREC_BOOT_ID_MAX);
	boot_id[CHILDREC_BOOT_ID_MAX] = '\0';
	return boot_id_ok(boot_id) ? 0 : -1;
}

enum childrec_verdict
childrec_judge(const struct childrec *r, const char *boot_id, int child_running,
	       uint64_t child_start, int parent_running, uint64_t parent_start)
{
	/* Another boot: every pid is another process now. */
	if (strcmp(r->boot_id, boot_id) != 0)
		return CHILDREC_STALE;
	if (child_running != 1 || child_start != r->start)
		return CHILDREC_STALE;
	if (parent_running == 1 && parent_start == r->pstart)
		return CHILDREC_KEEP;
	return CHILDREC_ORPHAN;
}

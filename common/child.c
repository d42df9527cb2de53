/* Long-lived children (child.h). PR_SET_PDEATHSIG fires when the *thread*
 * that forked exits, not the process, and the receiver starts qemu-nbd from
 * writer threads that end before their disks are closed: every fork is
 * done by one forker thread that lives as long as the process. */
#define _GNU_SOURCE
#include "common/child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/childrec.h"
#include "common/clock.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "common/testhook.h"

extern char **environ;

#define CHILD_ENV_MAX 1024
/* An orphan gets this long after SIGTERM before SIGKILL. */
#define CHILD_ORPHAN_GRACE_MS 5000

struct child {
	pid_t pid;
	char ctx[128];
	char record[PATH_MAX]; /* "" = not recorded */
};

/* What the forker thread runs; everything the child touches is prepared
 * before the fork (after it only async-signal-safe calls). */
struct fork_req {
	const char *path;
	char *const *argv;
	char **envp;
	char *listen_pid; /* the digits of LISTEN_PID, filled in by the child */
	int lfd, nullfd;
	pid_t parent;
	pid_t pid;        /* -1 with err on failure */
	int err;
	bool done;
};

static pthread_mutex_t child_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t child_cv = PTHREAD_COND_INITIALIZER;
static struct fork_req *child_req;
static pid_t child_forker_of; /* the process whose forker thread runs */
static char child_dir[PATH_MAX];

/* ---- the child, between fork and exec --------------------------------------- */

static void
child_put_pid(char *dst, pid_t pid)
{
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid > 0 && n < (int)sizeof(tmp));
	while (n > 0)
		*dst++ = tmp[--n];
	*dst = '\0';
}

static void __attribute__((noreturn))
child_exec(struct fork_req *r)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* Die with us; if we died before this line, go now. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != r->parent)
		_exit(127);
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	/* Our terminal's ^C goes to us; we end the child in order. */
	(void)setpgid(0, 0);
	if (dup2(r->nullfd, 0) < 0 || dup2(r->nullfd, 1) < 0)
		_exit(127);
	if (r->lfd == 3) {
		if (fcntl(3, F_SETFD, 0) < 0)
			_exit(127);
	} else if (dup2(r->lfd, 3) < 0) {
		_exit(127);
	}
	if (syscall(SYS_close_range, 4u, ~0u, 0u) < 0)
		for (int fd = 4; fd < 4096; fd++)
			(void)close(fd);
	child_put_pid(r->listen_pid, getpid());
	execve(r->path, r->argv, r->envp);
	_exit(127);
}

/* ---- the forker thread ------------------------------------------------------ */

static void *
child_forker(void *arg)
{
	sigset_t all;

	(void)arg;
	/* Signals are for the threads that handle them. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&child_mu);
	for (;;) {
		struct fork_req *r;

		while (!child_req || child_req->done)
			pthread_cond_wait(&child_cv, &child_mu);
		r = child_req;
		r->pid = fork();
		if (r->pid == 0)
			child_exec(r);
		r->err = errno;
		r->done = true;
		pthread_cond_broadcast(&child_cv);
	}
	return NULL;
}

/* Fork and exec r through the forker thread: the child's pid, or -1. */
static pid_t
child_fork(struct fork_req *r, const char *ctx)
{
	pthread_t th;
	int e;

	pthread_mutex_lock(&child_mu);
	/* After a fork of ours the forker thread stayed behind: start one. */
	if (child_forker_of != getpid()) {
		e = pthread_create(&th, NULL, child_forker, NULL);
		if (e != 0) {
			pthread_mutex_unlock(&child_mu);
			errno = e;
			log_error("%s: cannot start the forker thread: %m", ctx);
			return -1;
		}
		pthread_detach(th);
		child_forker_of = getpid();
	}
	while (child_req)
		pthread_cond_wait(&child_cv, &child_mu);
	child_req = r;
	pthread_cond_broadcast(&child_cv);
	while (!r->done)
		pthread_cond_wait(&child_cv, &child_mu);
	child_req = NULL;
	pthread_cond_broadcast(&child_cv);
	pthread_mutex_unlock(&child_mu);
	if (r->pid < 0) {
		errno = r->err;
		log_error("%s: fork: %m", ctx);
	}
	return r->pid;
}

/* ---- preparation ------------------------------------------------------------ */

/* prog in PATH (or as given with a '/'): malloc'd, NULL if not found. */
static char *
child_which(const char *prog)
{
	const char *path = getenv("PATH");
	char *dirs, *save = NULL, *d, *found = NULL;

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0 ? strdup(prog) : NULL;
	dirs = strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (d = dirs ? strtok_r(dirs, ":", &save) : NULL; d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char *cand = NULL;

		if (asprintf(&cand, "%s/%s", d, prog) < 0)
			break;
		if (access(cand, X_OK) == 0)
			found = cand;
		else
			free(cand);
	}
	free(dirs);
	return found;
}

/* Our environment without LISTEN_*, plus LISTEN_FDS=1 and a LISTEN_PID
 * whose digits the child writes: *digits points at them. */
static char **
child_env(char *listen_pid_var, char **digits)
{
	size_t n = 0;
	char **envp = calloc(CHILD_ENV_MAX + 3, sizeof(*envp));

	if (!envp)
		return NULL;
	for (char **e = environ; e && *e && n < CHILD_ENV_MAX; e++)
		if (strncmp(*e, "LISTEN_", 7) != 0)
			envp[n++] = *e;
	envp[n++] = (char *)"LISTEN_FDS=1";
	strcpy(listen_pid_var, "LISTEN_PID=");
	*digits = listen_pid_var + strlen(listen_pid_var);
	envp[n++] = listen_pid_var;
	envp[n] = NULL;
	return envp;
}

/* A listening socket and our connection to it, in a private directory
 * that is gone again before the child starts: nobody else can connect. */
static int
child_socket(const char *ctx, int *lfd, int *cfd)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path) - 2];
	int rc = -1, n;

	*lfd = *cfd = -1;
	/* A socket path is short: a long TMPDIR gives way to /tmp. */
	n = snprintf(dir, sizeof(dir), "%s/nestor-child.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(dir))
		snprintf(dir, sizeof(dir), "/tmp/nestor-child.XXXXXX");
	if (!mkdtemp(dir)) {
		log_error("%s: cannot make a directory for the child's socket: %m", ctx);
		return -1;
	}
	memcpy(sa.sun_path, dir, strlen(dir));
	memcpy(sa.sun_path + strlen(dir), "/s", 3);
	*lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || *cfd < 0 || bind(*lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(*lfd, 1) < 0 || connect(*cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		log_error("%s: child socket %s: %m", ctx, sa.sun_path);
	else
		rc = 0;
	(void)unlink(sa.sun_path);
	(void)rmdir(dir);
	return rc;
}

/* ---- records ---------------------------------------------------------------- */

static int
child_record(struct child *c)
{
	struct childrec r = { .pid = c->pid, .ppid = getpid() };
	char text[CHILDREC_TEXT_MAX], tmp[PATH_MAX + 8];
	int fd, rc = -1;

	pthread_mutex_lock(&child_mu);
	/* child_registry_open keeps the directory short enough for this. */
	if (child_dir[0] && (size_t)snprintf(c->record, sizeof(c->record), "%s/%d.child",
					     child_dir, (int)c->pid) >= sizeof(c->record))
		c->record[0] = '\0';
	pthread_mutex_unlock(&child_mu);
	if (!c->record[0])
		return 0;
	/* No fsync: after a power loss no record's process runs any more. */
	if (childrec_boot_id(r.boot_id) < 0 || childrec_proc_start(r.pid, &r.start) != 1 ||
	    childrec_proc_start(r.ppid, &r.pstart) != 1 ||
	    childrec_format(&r, text, sizeof(text)) < 0) {
		log_error("%s: cannot read the identity of child %d", c->ctx, (int)c->pid);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->record);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || fd_write_all(fd, text, strlen(text)) < 0 || close(fd) < 0 ||
	    rename(tmp, c->record) < 0) {
		log_error("%s: cannot record child %d in %s: %m", c->ctx, (int)c->pid, c->record);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		c->record[0] = '\0';
	return rc;
}

/* Whether pid still runs as the process that started at start. */
static bool
child_same(int64_t pid, uint64_t start)
{
	uint64_t now;

	return childrec_proc_start(pid, &now) == 1 && now == start;
}

/* End an orphan: SIGTERM to its group (qemu-nbd closes its image in
 * order), SIGKILL after the grace. */
static void
child_end_orphan(const struct childrec *r, const char *file)
{
	pid_t target = getpgid((pid_t)r->pid) == (pid_t)r->pid ? -(pid_t)r->pid : (pid_t)r->pid;
	uint64_t deadline = clock_mono_ns() + CHILD_ORPHAN_GRACE_MS * 1000000ull;

	log_warn("child %" PRId64 " (record %s) outlived its parent %" PRId64 ": ending it",
		 r->pid, file, r->ppid);
	(void)kill(target, SIGTERM);
	while (child_same(r->pid, r->start) && clock_mono_ns() < deadline)
		clock_nap_ms(20);
	if (child_same(r->pid, r->start)) {
		log_warn("child %" PRId64 " still runs after SIGTERM: SIGKILL", r->pid);
		(void)kill(target, SIGKILL);
	}
}

/* One record of the directory: end its child if it is an orphan, drop the
 * record unless its parent still runs. */
static void
child_sweep_one(int dfd, const char *dir, const char *name, const char *boot_id)
{
	char text[CHILDREC_TEXT_MAX + 1];
	struct childrec r;
	uint64_t cs = 0, ps = 0;
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	int crun, prun;

	if (fd >= 0)
		close(fd);
	if (n < 0 || (text[n] = '\0', childrec_parse(text, &r) < 0)) {
		log_warn("children %s: unreadable record %s dropped", dir, name);
		(void)unlinkat(dfd, name, 0);
		return;
	}
	crun = childrec_proc_start(r.pid, &cs);
	prun = childrec_proc_start(r.ppid, &ps);
	switch (childrec_judge(&r, boot_id, crun, cs, prun, ps)) {
	case CHILDREC_KEEP:
		return;
	case CHILDREC_ORPHAN:
		child_end_orphan(&r, name);
		break;
	case CHILDREC_STALE:
		break;
	}
	(void)unlinkat(dfd, name, 0);
}

int
child_registry_open(const char *dir)
{
	char boot_id[CHILDREC_BOOT_ID_MAX + 1];
	struct dirent *de;
	DIR *d;

	if (strlen(dir) + 32 >= sizeof(child_dir)) {
		log_error("children %s: path too long", dir);
		return -1;
	}
	if (mkdir_p(dir, 0700) < 0)
		return -1;
	if (childrec_boot_id(boot_id) < 0) {
		log_error("children %s: cannot read this boot's id", dir);
		return -1;
	}
	d = opendir(dir);
	if (!d) {
		log_error("children %s: %m", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len > 6 && strcmp(de->d_name + len - 6, ".child") == 0)
			child_sweep_one(dirfd(d), dir, de->d_name, boot_id);
		else if (len > 10 && strcmp(de->d_name + len - 10, ".child.tmp") == 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	pthread_mutex_lock(&child_mu);
	snprintf(child_dir, sizeof(child_dir), "%s", dir);
	pthread_mutex_unlock(&child_mu);
	return 0;
}

/* ---- start and finish ------------------------------------------------------- */

struct child *
child_start_activated(const char *ctx, char *const *argv, int *sock)
{
	char listen_pid[32];
	struct fork_req r = { .lfd = -1, .nullfd = -1, .parent = getpid() };
	struct child *c = calloc(1, sizeof(*c));
	char *path = child_which(argv[0]);
	int cfd = -1;

	*sock = -1;
	if (!c || !path) {
		log_error("%s: %s: %s", ctx, argv[0], c ? "not found in PATH" : "out of memory");
		goto fail;
	}
	snprintf(c->ctx, sizeof(c->ctx), "%s", ctx);
	r.path = path;
	r.argv = argv;
	r.envp = child_env(listen_pid, &r.listen_pid);
	r.nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (!r.envp || r.nullfd < 0) {
		log_error("%s: cannot prepare %s: %m", ctx, argv[0]);
		goto fail;
	}
	if (child_socket(ctx, &r.lfd, &cfd) < 0)
		goto fail;
	c->pid = child_fork(&r, ctx);
	if (c->pid < 0)
		goto fail;
	(void)child_record(c);
	if (testhook_armed("spawn"))
		testhook_pause("spawn");
	close(r.lfd);
	close(r.nullfd);
	free(r.envp);
	free(path);
	*sock = cfd;
	return c;
fail:
	if (r.lfd >= 0)
		close(r.lfd);
	if (cfd >= 0)
		close(cfd);
	if (r.nullfd >= 0)
		close(r.nullfd);
	free(r.envp);
	free(path);
	free(c);
	return NULL;
}

int
child_pid(const struct child *c)
{
	return c ? (int)c->pid : -1;
}

int
child_finish(struct child *c, unsigned timeout_ms)
{
	uint64_t deadline;
	int status = 0, rc = 0;
	pid_t w;

	if (!c)
		return 0;
	deadline = clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	while ((w = waitpid(c->pid, &status, WNOHANG)) == 0 && clock_mono_ns() < deadline)
		clock_nap_ms(5);
	if (w == 0) {
		log_error("%s: child %d still runs %u ms after its socket closed: killed", c->ctx,
			  (int)c->pid, timeout_ms);
		(void)kill(-c->pid, SIGKILL);
		while ((w = waitpid(c->pid, &status, 0)) < 0 && errno == EINTR)
			;
		rc = -1;
	}
	if (w < 0) {
		log_error("%s: waitpid %d: %m", c->ctx, (int)c->pid);
		rc = -1;
	}
	if (c->record[0] && unlink(c->record) < 0 && errno != ENOENT)
		log_warn("%s: cannot remove %s: %m", c->ctx, c->record);
	free(c);
	return rc;
}

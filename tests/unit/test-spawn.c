/* Unit tests for common/spawn: argv without a shell, capture with caps,
 * exit status, timeout, and the one error message per failed run. */
#include "common/fileutil.h"
#include "common/spawn.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/capture.h"

/* sh -c script: a spawn the test configures and frees. */
static struct spawn *
shell(const char *script)
{
	const char *args[] = { "-c", script, NULL };
	struct spawn *sp = spawn_new_argv("sh", args);

	cr_assert(sp);
	return sp;
}

/* spawn_run with the log captured into *log (caller frees). */
static int
run_logged(struct spawn *sp, int *status, char **log)
{
	int r;

	cap_start();
	r = spawn_run(sp, status);
	*log = cap_stop();
	return r;
}

/* spawn_run fails with one line in the log holding needle. */
static void
run_fails(struct spawn *sp, const char *needle)
{
	char *log;

	cr_assert_eq(run_logged(sp, NULL, &log), -1);
	assert_logged(log, needle);
	cr_assert_eq(count_lines(log), 1, "%s", log);
	free(log);
}

static int
sh(const char *script, int *status, char **out, char **err, char **log)
{
	struct spawn *sp = shell(script);
	int r;

	if (out)
		spawn_set_stdout(sp, SPAWN_IO_CAPTURE, 0);
	r = run_logged(sp, status, log);
	if (out)
		*out = strdup(spawn_stdout(sp));
	if (err)
		*err = strdup(spawn_stderr(sp));
	spawn_free(sp);
	return r;
}

Test(spawn, stdout_captured_argv_verbatim)
{
	const char *argv[] = { "printf", "%s|", "a b", "$HOME", "'q'", NULL };
	char *out = NULL;

	cr_assert_eq(spawn_cmd(NULL, argv, &out), 0);
	cr_assert_str_eq(out, "a b|$HOME|'q'|");
	free(out);
}

Test(spawn, success_logs_nothing_and_stdout_defaults_to_null)
{
	char *log = NULL;
	int r = sh("echo to-stdout; echo to-stderr >&2; exit 0", NULL, NULL, NULL, &log);

	cr_assert_eq(r, 0);
	cr_assert_str_eq(log, "");
	free(log);
}

Test(spawn, stdin_is_dev_null)
{
	char *out = NULL, *log = NULL;

	cr_assert_eq(sh("cat; echo end", NULL, &out, NULL, &log), 0);
	cr_assert_str_eq(out, "end\n");
	free(out);
	free(log);
}

Test(spawn, nonzero_exit_logs_once_with_stderr)
{
	char *log = NULL, *err = NULL;
	struct spawn *sp = shell("echo bad thing >&2; echo; exit 3");

	spawn_set_context(sp, "disk vda");
	run_fails(sp, "disk vda: sh -c echo bad thing >&2; echo; exit 3 exited with status 3: bad thing");
	err = strdup(spawn_stderr(sp));
	cr_assert_str_eq(err, "bad thing", "trailing line ends dropped: [%s]", err);
	cr_assert_eq(run_logged(sp, NULL, &log), -1, "a spawn runs once");
	assert_logged(log, "already run");
	spawn_free(sp);
	free(err);
	free(log);
}

Test(spawn, exitstatus_returned_not_logged)
{
	char *log = NULL;
	int st = -1;

	cr_assert_eq(sh("exit 7", &st, NULL, NULL, &log), 0);
	cr_assert_eq(st, 7);
	cr_assert_str_eq(log, "");
	free(log);
	cr_assert_eq(sh("exit 0", &st, NULL, NULL, &log), 0);
	cr_assert_eq(st, 0);
	free(log);
	cr_assert_eq(sh("kill -TERM $$", &st, NULL, NULL, &log), 0);
	cr_assert_eq(st, 128 + 15);
	free(log);
}

Test(spawn, killed_by_signal_is_an_error)
{
	char *log = NULL;

	cr_assert_eq(sh("kill -KILL $$", NULL, NULL, NULL, &log), -1);
	assert_logged(log, "killed by signal 9");
	cr_assert_eq(count_lines(log), 1);
	free(log);
}

Test(spawn, command_not_found)
{
	const char *argv[] = { "nestor-no-such-command", "x", NULL };
	char *out = (char *)"sentinel", *log;

	cap_start();
	cr_assert_eq(spawn_cmd("group g", argv, &out), -1);
	log = cap_stop();
	cr_assert_null(out);
	assert_logged(log, "group g: cannot run nestor-no-such-command x: No such file or directory");
	cr_assert_eq(count_lines(log), 1);
	free(log);
}

/* Over the cap is an error (truncated JSON would mislead); at it is fine. */
Test(spawn, stdout_cap)
{
	struct spawn *over = shell("head -c 5000 /dev/zero");
	struct spawn *at = shell("head -c 4096 /dev/zero | tr '\\0' x");
	char *out;

	spawn_set_stdout(over, SPAWN_IO_CAPTURE, 4096);
	spawn_set_name(over, "zeros");
	run_fails(over, "zeros: output over 4096 bytes");
	cr_assert_null(spawn_take_stdout(over));
	spawn_free(over);

	spawn_set_stdout(at, SPAWN_IO_CAPTURE, 4096);
	cr_assert_eq(spawn_run(at, NULL), 0);
	out = spawn_take_stdout(at);
	cr_assert_eq(strlen(out), 4096);
	cr_assert_null(spawn_take_stdout(at), "taken once");
	free(out);
	spawn_free(at);
}

Test(spawn, stderr_truncated_at_cap)
{
	struct spawn *sp = shell("printf 0123456789 >&2; exit 1");

	spawn_set_stderr(sp, SPAWN_IO_CAPTURE, 4);
	spawn_set_name(sp, "digits");
	run_fails(sp, "digits exited with status 1: 0123\n");
	cr_assert_str_eq(spawn_stderr(sp), "0123");
	spawn_free(sp);
}

Test(spawn, stdout_into_our_stderr)
{
	struct spawn *sp = shell("echo from-child");
	char *log;

	spawn_set_stdout(sp, SPAWN_IO_STDERR, 0);
	spawn_set_stderr(sp, SPAWN_IO_INHERIT, 0);
	cr_assert_eq(run_logged(sp, NULL, &log), 0);
	cr_assert_str_eq(log, "from-child\n");
	spawn_free(sp);
	free(log);
}

Test(spawn, timeout_kills)
{
	struct spawn *sp = shell("sleep 10");
	char *log;
	int st = -1;

	spawn_set_timeout_ms(sp, 200);
	spawn_set_context(sp, "vm web1");
	spawn_set_name(sp, "script /x.sh");
	cr_assert_eq(run_logged(sp, &st, &log), -1);
	assert_logged(log, "vm web1: script /x.sh still running after 1 s: killed");
	cr_assert_eq(count_lines(log), 1);
	cr_assert_eq(st, -1, "no status on timeout");
	spawn_free(sp);
	free(log);
}

Test(spawn, timeout_not_reached)
{
	struct spawn *sp = shell("exit 4");
	int st = -1;

	spawn_set_timeout_ms(sp, 5000);
	cr_assert_eq(spawn_run(sp, &st), 0);
	cr_assert_eq(st, 4);
	spawn_free(sp);
}

Test(spawn, no_path_search)
{
	struct spawn *sp = spawn_new("sh");

	/* "sh" is in PATH but not in the cwd */
	cr_assert_eq(chdir("/"), 0);
	spawn_no_path_search(sp);
	spawn_set_name(sp, "script sh");
	run_fails(sp, "cannot run script sh: No such file or directory");
	spawn_free(sp);
}

Test(spawn, only_std_fds_inherited)
{
	int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
	char script[128], *out = NULL, *log = NULL;

	cr_assert(fd > 2);
	snprintf(script, sizeof(script), "[ -e /proc/self/fd/%d ] && echo leaked || echo closed", fd);
	cr_assert_eq(sh(script, NULL, &out, NULL, &log), 0);
	cr_assert_str_eq(out, "closed\n");
	close(fd);
	free(out);
	free(log);
}

Test(spawn, environment_passed)
{
	char *out = NULL, *log = NULL;

	cr_assert_eq(setenv("NESTOR_SPAWN_TEST", "v1", 1), 0);
	cr_assert_eq(sh("echo $NESTOR_SPAWN_TEST", NULL, &out, NULL, &log), 0);
	cr_assert_str_eq(out, "v1\n");
	free(out);
	free(log);
}

Test(spawn, free_null)
{
	spawn_free(NULL);
}

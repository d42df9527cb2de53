/* The subcommands of `nestor`, one file each in cli/. Each takes the
 * arguments after `nestor` (argv[0] = the command's name) and returns the
 * exit code: 0 success, 1 failure, 2 usage error. */
#ifndef NESTOR_CLI_CLI_H
#define NESTOR_CLI_CLI_H

int cli_agent(int argc, char **argv);
int cli_receiver(int argc, char **argv);
int cli_points(int argc, char **argv);
int cli_prune(int argc, char **argv);
int cli_group(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_config(int argc, char **argv);
int cli_drill(int argc, char **argv);
int cli_failover(int argc, char **argv);
int cli_failback(int argc, char **argv);
/* cli/failback-start.c: `nestor failback start` and `status` (argv[0] =
 * the subcommand) */
int cli_failback_start(int argc, char **argv);
int cli_failback_status(int argc, char **argv);
/* cli/failback-promote.c: `nestor failback promote` (argv[0] = "promote") */
int cli_failback_promote(int argc, char **argv);
/* cli/failback-cutover.c: `nestor failback cutover` and `abort` */
int cli_failback_cutover(int argc, char **argv);
int cli_failback_abort(int argc, char **argv);
/* cli/failback-finish.c: `nestor failback finish` */
int cli_failback_finish(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_scrub(int argc, char **argv);
int cli_repair(int argc, char **argv);
int cli_network(int argc, char **argv);

#endif

/* `nestor failover`: boot a group's recovery point for real (VMs stay up),
 * mark the group failed over, show status, release it again. */
#ifndef NESTOR_FAILOVER_FAILOVER_H
#define NESTOR_FAILOVER_FAILOVER_H

/* `nestor failover ...` (argv[0] = "failover"); exit 0 / 1 / 2 (usage). */
int failover_main(int argc, char **argv);

#endif

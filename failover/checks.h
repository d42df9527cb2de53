/* Verifications of a booted drill/failover VM beyond the boot marker:
 * guest agent answering, TCP port answering, operator script. */
#ifndef NESTOR_FAILOVER_CHECKS_H
#define NESTOR_FAILOVER_CHECKS_H

#include <libvirt/libvirt.h>

#include "failover/drill.h"
#include "failover/report.h"

/* Run the checks o asks for (guest_agent, tcp_port, script) on dom (VM vm)
 * within o->timeout_s each; record them in rv (a failure fails the VM with
 * a one-line reason). */
void checks_run(virDomainPtr dom, const char *vm, const struct drill_opts *o,
		struct report_vm *rv);

#endif

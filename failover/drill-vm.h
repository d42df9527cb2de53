/* The VMs of a drill or failover run (struct drill, failover/drill-run.h):
 * prepared (disk clones, names, networks), booted, verified, removed. */
#ifndef NESTOR_FAILOVER_DRILL_VM_H
#define NESTOR_FAILOVER_DRILL_VM_H

#include <stdbool.h>
#include <stddef.h>

struct drill;
struct dvm;

/* Clone the disks of VM i and name what it boots; a failure fails the VM
 * in the report. 0 / -1 (logged). */
int drill_vm_prepare(struct drill *d, size_t i);
/* The network each NIC of every VM joins; sets d->net_needed when one joins
 * the run's isolated network. 0 / -1 (logged). */
int drill_vm_map_networks(struct drill *d);
/* Start VM i and wait for its boot marker; probing: the first VM under
 * --accel auto or probe proves KVM (no marker in time: every VM falls back
 * to TCG; the time lost is d->r->accel_fallback_s).
 * The outcome is in d->r->vms[i]. */
void drill_vm_boot(struct drill *d, size_t i, bool probing);
/* The checks after the boot marker (check command, guest agent, TCP
 * port, script), each recorded in d->r->vms[i]. */
void drill_vm_check(struct drill *d, size_t i);
/* Can this process use /dev/kvm? */
bool drill_kvm_usable(void);
/* Destroy (a failover: also undefine) every domain and check none is
 * left. Every step is attempted. 0 / -1 (logged). */
int drill_vm_destroy_all(struct drill *d);
/* Remove the disk clones and console sockets. 0 / -1 (logged). */
int drill_vm_remove_files(struct drill *d);
/* Free what v owns (the libvirt handle, not the domain). */
void drill_vm_clear(struct dvm *v);

#endif

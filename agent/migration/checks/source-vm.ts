/**
 * The source's checks of the VM itself: it exists and runs (or is paused),
 * nothing else holds it, and nothing in its definition ties it to this host
 * (a passed-through device, which libvirt refuses to migrate). A transient
 * VM moves, but becomes persistent on the destination: worth a warning.
 */
import type { VmInfo, VmRequirements } from '../ports.js';
import type { JobStats, MigrationPhase } from '../types.js';
import type { Findings } from './findings.js';

export function checkVmState(vmId: string, vm: VmInfo, out: Findings): void {
  if (vm.state !== 'running' && vm.state !== 'paused') {
    out.block('VM_NOT_RUNNING', `VM ${vmId} (${vm.name}) is ${vm.state}, not running: start it first`);
  }
}

/** A Ferry job of this agent, or a libvirt job on the domain (a save, a backup, someone else's migration). */
export function checkVmJobs(
  vmId: string,
  ferryJob: { id: string; phase: MigrationPhase | 'accepting' } | undefined,
  libvirtJob: JobStats | undefined,
  out: Findings,
): void {
  if (ferryJob) {
    out.block('VM_BUSY', `VM ${vmId} already has migration job ${ferryJob.id} (${ferryJob.phase}): follow it, or cancel it first`);
  } else if (libvirtJob && (libvirtJob.type === 'bounded' || libvirtJob.type === 'unbounded')) {
    const operation = libvirtJob.operation ? ` (${libvirtJob.operation})` : '';
    out.block('VM_BUSY', `libvirt runs a job on VM ${vmId}${operation}: wait for it to end, or abort it (virsh domjobabort)`);
  }
}

export function checkVmDefinition(requirements: VmRequirements, out: Findings): void {
  for (const device of requirements.hostDevices) {
    out.block(
      'HOST_DEVICE',
      `host device ${device} is passed through to the VM and libvirt cannot migrate it: detach it first (virsh detach-device), attach the destination's after the migration`,
    );
  }
  if (!requirements.persistent) {
    out.warn(
      'VM_TRANSIENT',
      'the VM is transient on the source: the destination defines it persistently (Ferry migrates with VIR_MIGRATE_PERSIST_DEST)',
    );
  }
}

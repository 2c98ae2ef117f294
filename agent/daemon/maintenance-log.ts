/**
 * The maintenance's entries in the agent's log: one when it is entered, left
 * or resumed after a restart, one when its drain ends, and one per change of
 * a VM's state with its VM_ID (and JOB_ID while it migrates), so that
 * `journalctl -u ferryd MESSAGE=maintenance…` or `journalctl VM_ID=…` tells
 * an operator where each VM went, or why it stayed.
 */
import type { Logger } from '../log.js';
import type { Maintenance, MaintenanceEvent, MaintenanceVm } from '../maintenance/index.js';

export function logMaintenanceEvent(log: Logger, event: MaintenanceEvent): void {
  switch (event.kind) {
    case 'entered':
      log.info('maintenance entered: incoming migrations refused', summary(event.maintenance));
      return;
    case 'resumed':
      log.info('maintenance resumed after a restart: draining the VMs left', summary(event.maintenance));
      return;
    case 'drained': {
      const m = event.maintenance;
      log.log(m.phase === 'drained' ? 'info' : 'warn', 'maintenance drain ended', summary(m));
      return;
    }
    case 'exited':
      log.info('maintenance left: incoming migrations accepted again', { ...summary(event.maintenance), cancelled: event.cancelled });
      return;
    case 'vm':
      logVm(log, event.vm);
      return;
  }
}

function logVm(log: Logger, vm: MaintenanceVm): void {
  const level = vm.state === 'failed' || vm.state === 'unmovable' ? 'warn' : 'info';
  const last = vm.attempts.at(-1);
  const reason =
    vm.state === 'migrated' || vm.state === 'migrating' || !last
      ? undefined
      : last.error
        ? `${last.destination}: ${last.error.message}`
        : last.blocking.map((f) => `${last.destination}: ${f.reason} (${f.side}): ${f.message}`).join('; ');
  log.log(level, 'maintenance vm', {
    vmId: vm.vmId,
    vmName: vm.name,
    state: vm.state.toUpperCase(),
    ...(vm.jobId ? { jobId: vm.jobId } : {}),
    ...(vm.destination ? { destination: vm.destination } : {}),
    attempts: vm.attempts.length,
    ...(reason ? { reason } : {}),
  });
}

function summary(m: Maintenance): Record<string, string | number> {
  const count = (state: MaintenanceVm['state']) => m.vms.filter((v) => v.state === state).length;
  return {
    phase: m.phase.toUpperCase(),
    destinations: m.destinations.map((d) => d.host).join(','),
    maxParallel: m.maxParallel,
    vms: m.vms.length,
    migrated: count('migrated'),
    unmovable: count('unmovable'),
    failed: count('failed'),
    gone: count('gone'),
  };
}

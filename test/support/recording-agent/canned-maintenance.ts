// The stand-in ferryd's maintenance: a drain just begun, and what
// WatchMaintenance streams after it until the drain's end.
import { protoTimeFromMs } from '../../../shared/proto-time.js';
import type { Maintenance } from '../../../shared/generated/ferry/v1/Maintenance.js';
import type { MaintenanceDestination__Output } from '../../../shared/generated/ferry/v1/MaintenanceDestination.js';
import type { MaintenanceVm } from '../../../shared/generated/ferry/v1/MaintenanceVm.js';
import type { MaintenanceVmState } from '../../../shared/generated/ferry/v1/MaintenanceVmState.js';
import { ENDINGS, FIRST_JOB, JOB_2, JOB_3, STARTED_MS } from './canned-jobs.js';
import { VMS } from './canned-host.js';

/** A drain just begun: web1 migrating (to the first destination), db1 (paused) and twin pending. */
export function drainingMaintenance(destinations: MaintenanceDestination__Output[], maxParallel: number): Maintenance {
  const to = destinations[0]?.host ?? 'lab2';
  return {
    phase: 'MAINTENANCE_PHASE_DRAINING',
    enteredTime: protoTimeFromMs(STARTED_MS),
    destinations: destinations.map((d) => ({ host: d.host, dstqemu: d.dstqemu })),
    maxParallel,
    policy: { postCopy: true },
    vms: [
      maintenanceVm(1, 'MAINTENANCE_VM_STATE_PENDING'),
      maintenanceVm(2, 'MAINTENANCE_VM_STATE_PENDING'),
      { ...maintenanceVm(0, 'MAINTENANCE_VM_STATE_MIGRATING'), destination: to, jobId: FIRST_JOB },
    ],
  };
}

function maintenanceVm(i: number, state: MaintenanceVmState): MaintenanceVm {
  const vm = VMS[i];
  return { vmId: vm?.id ?? '', name: vm?.name ?? '', state, memoryBytes: vm?.memoryBytes ?? 0, destination: '', jobId: '', attempts: [] };
}

/** What WatchMaintenance streams after the first message: web1 arrived, then every VM's end. */
export function drainSteps(m: Maintenance, ending: 'drained' | 'incomplete'): Maintenance[] {
  const [db1, twin, web1] = m.vms ?? [];
  const to = web1?.destination ?? 'lab2';
  const arrived = { ...web1, state: 'MAINTENANCE_VM_STATE_MIGRATED' as const };
  const second = m.destinations?.[1]?.host ?? to;
  const moved = (vm: MaintenanceVm | undefined, jobId: string) => ({
    ...vm,
    state: 'MAINTENANCE_VM_STATE_MIGRATED' as const,
    destination: second,
    jobId,
  });
  const last: Maintenance =
    ending === 'drained'
      ? { ...m, phase: 'MAINTENANCE_PHASE_DRAINED', vms: [moved(db1, JOB_2), moved(twin, JOB_3), arrived] }
      : {
          ...m,
          phase: 'MAINTENANCE_PHASE_INCOMPLETE',
          vms: [
            {
              ...db1,
              state: 'MAINTENANCE_VM_STATE_UNMOVABLE',
              attempts: [
                {
                  destination: to,
                  blocking: [
                    {
                      reason: 'MIGRATION_CHECK_REASON_MEMORY_INSUFFICIENT',
                      side: 'MIGRATION_CHECK_SIDE_DESTINATION',
                      message: 'the guest needs 1.0 GiB and the destination has 512 MiB available',
                    },
                  ],
                },
              ],
            },
            {
              ...twin,
              state: 'MAINTENANCE_VM_STATE_FAILED',
              attempts: [{ destination: to, jobId: JOB_2, error: ENDINGS.failed.error ?? null }],
            },
            arrived,
          ],
        };
  return [
    { ...m, vms: [db1 ?? {}, twin ?? {}, arrived] },
    { ...last, drainedTime: protoTimeFromMs(STARTED_MS + 9_000) },
  ];
}

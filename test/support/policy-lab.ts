// Helpers of the migration-policy tests (and the policy benchmark): a guest
// that dirties memory faster than a capped link copies it, migrations
// driven through the agents, and the facts to check afterwards.
import { unary } from '../../shared/client.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import { agent, watchToEnd } from './ferry.js';
import { createVm, labHost, readConsole } from './lab.js';
import { until } from './wait.js';
import { protoTimeFromMs, msFromProtoTime } from '../../shared/proto-time.js';

/** The lab's dirtying guest (scripts/lab vm create … --dirty-mbps): 512 MiB, half of it rewritten continuously (~50 MiB/s seen at a 50 MiB/s cap). */
export const DIRTY_GUEST = { memMiB: 512, dirtyMbps: 300 } as const;
/** The cap under which that guest never converges with the default 300 ms downtime. */
export const CAPPED_MIBPS = 50;

/** Creates a dirtying guest and waits until it really dirties memory. */
export async function startDirtyGuest(host: string, name: string, opts: { memMiB?: number; dirtyMbps?: number } = {}): Promise<string> {
  const { uuid } = await createVm(host, name, { ...DIRTY_GUEST, ...opts });
  await until(`${name} dirtying memory`, async () => (await readConsole(host, name)).includes('ferry-dirtier: started'), {
    timeoutMs: 180_000,
    everyMs: 500,
  });
  return uuid;
}

/** Migrate REMOTE from host to dst over the migration network; returns the job id. */
export async function migrate(host: string, vmId: string, dst: string, policy: MigrationPolicy): Promise<{ jobId: string; phase: string }> {
  const accepted = await unary(agent(host).migration, 'Migrate', {
    vmId,
    dst: labHost(dst).mgmtIp,
    dstqemu: labHost(dst).migIp,
    policy,
  });
  return { jobId: accepted.jobId, phase: accepted.phase };
}

/** Follows a job to its end: every message, the final one, and the phases seen in order. */
export async function follow(
  host: string,
  jobId: string,
): Promise<{ seen: MigrationProgress__Output[]; final: MigrationProgress__Output; phases: string[] }> {
  const seen = await watchToEnd(host, jobId);
  const phases: string[] = [];
  for (const p of seen) if (phases.at(-1) !== p.phase) phases.push(p.phase);
  return { seen, final: seen.at(-1)!, phases };
}

export function seconds(d: { seconds: number | string; nanos: number } | null | undefined): number {
  return d ? Number(d.seconds) + d.nanos / 1e9 : 0;
}

/** The convergence trail as "ACTION[ downtime] (reason)" strings, for messages and checks. */
export function trail(p: MigrationProgress__Output): string[] {
  return p.convergence.map(
    (r) => `${r.action.replace('CONVERGENCE_ACTION_', '')}${r.downtime ? ` ${msFromProtoTime(r.downtime)}` : ''} (${r.reason})`,
  );
}

/** A step of a schedule, in the contract's shape. */
export function after(
  trigger: { iteration: number } | { seconds: number },
  action: 'SET_DOWNTIME' | 'POST_COPY' | 'SUSPEND' | 'ABORT',
  downtimeMs = 0,
) {
  return {
    ...('iteration' in trigger ? { afterIteration: trigger.iteration } : { afterElapsed: protoTimeFromMs(trigger.seconds * 1000) }),
    action: `CONVERGENCE_ACTION_${action}` as const,
    ...(downtimeMs > 0 ? { downtime: protoTimeFromMs(downtimeMs) } : {}),
  };
}

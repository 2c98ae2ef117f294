// Helpers of the post-copy recovery tests and benchmark: a dirtying guest
// migrated into a slow post-copy, a migration connection broken for real
// (a link that is only down for a while is ridden out by TCP: the sockets are
// destroyed with `ss -K`, which sends the peer a reset), and what the guest
// says about itself afterwards.
import { unary } from '../../shared/client.js';
import type { MigrationPolicy } from '../../shared/generated/ferry/v1/MigrationPolicy.js';
import { protoTimeFromMs } from '../../shared/proto-time.js';
import { agent, waitForStatus } from './ferry.js';
import { labExec, labHost, readConsole } from './lab.js';
import { migrate, startDirtyGuest } from './policy-lab.js';

/** Post-copy at this cap lasts long enough to break it (512 MiB: about a minute). */
export const POSTCOPY_MIBPS = 8;

/**
 * A dirtying guest on src migrating to dst, switched to post-copy by hand
 * once the first pass runs; resolves once post-copy has copied a little.
 */
export async function startPostcopyMigration(
  src: string,
  dst: string,
  name: string,
  policy: MigrationPolicy = {},
): Promise<{ uuid: string; jobId: string }> {
  const uuid = await startDirtyGuest(src, name, { memMiB: 512, dirtyMbps: 20 });
  const { jobId } = await migrate(src, uuid, dst, {
    maxBandwidthMibps: POSTCOPY_MIBPS,
    postCopy: true,
    completionTimeoutPerGib: protoTimeFromMs(0),
    stallTimeout: protoTimeFromMs(0),
    ...policy,
  });
  await waitForStatus(src, jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING' && s.iteration >= 1, 120_000);
  await unary(agent(src).migration, 'ChangeMigrationParams', { job: { jobId }, startPostCopy: true });
  const switched = await waitForStatus(src, jobId, (s) => s.phase === 'MIGRATION_PHASE_POSTCOPY', 30_000);
  const at = Number(switched.data?.processedBytes ?? 0);
  await waitForStatus(src, jobId, (s) => Number(s.data?.processedBytes ?? 0) > at + 4 * 2 ** 20, 30_000);
  return { uuid, jobId };
}

/** Destroys every TCP connection between the two hosts' migration addresses, on the hosts given (the peer gets a reset). */
export async function killMigrationSockets(src: string, dst: string, on: readonly string[] = [src, dst]): Promise<void> {
  const a = labHost(src).migIp;
  const b = labHost(dst).migIp;
  for (const host of on) {
    const peer = host === src ? b : a;
    await labExec(host, ['ss', '-K', 'dst', peer], { allowFail: true });
  }
}

/** The migration link of a host down (its migration NIC, eth1) and every migration connection destroyed on both sides. */
export async function breakMigrationLink(src: string, dst: string): Promise<void> {
  await setMigrationLink(src, 'down');
  await killMigrationSockets(src, dst);
}

export async function setMigrationLink(host: string, state: 'up' | 'down'): Promise<void> {
  await labExec(host, ['ip', 'link', 'set', 'eth1', state]);
}

/** The guest's own clock: the last "t=Ns" progress line of its dirtier (every 10 s), 0 before the first. */
export async function guestUptimeS(host: string, name: string): Promise<number> {
  const lines = [...(await readConsole(host, name)).matchAll(/ferry-dirtier: t=(\d+)s/g)];
  return Number(lines.at(-1)?.[1] ?? 0);
}

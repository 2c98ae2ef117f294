// Ferry's wall time for one live migration (Migrate call → COMPLETED seen by
// the client) against bare libvirt (`virsh migrate --live --p2p` with the same
// kind of migrate URI), on the same guest, alternating, median of N. Also the
// share of the bytes Ferry saw on the migration NIC.
// Prints a table and, last, a JSON summary line (read by scripts/bench).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { unary } from '../../shared/client.js';
import { createVm, destroyVm, ensureLab, labHost } from '../support/lab.js';
import { agent, closeAgents, watchToEnd } from '../support/ferry.js';

const run = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 5);
const VM = 'bench-wall-time';
// Outside Ferry's managed range (49152-49215), so bare libvirt needs no pinhole.
const VIRSH_PORT = 49300;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function ferryOnce(uuid: string, from: string, to: string): Promise<{ ms: number; share: number }> {
  const dst = labHost(to);
  const t0 = performance.now();
  const { jobId } = await unary(agent(from).migration, 'Migrate', { vmId: uuid, dst: dst.mgmtIp, dstqemu: dst.migIp });
  const final = (await watchToEnd(from, jobId)).at(-1)!;
  const ms = performance.now() - t0;
  if (final.phase !== 'MIGRATION_PHASE_COMPLETED') throw new Error(`Ferry migration ended ${final.phase}: ${final.error?.message}`);
  return { ms, share: final.bytesOnMigrationNic / Math.max(1, final.bytesOnMigrationNic + final.bytesOnManagementNic) };
}

/** The P2P URI ferryd uses in the lab (scripts/lab.d/ferryd.sh), so both pay the same libvirt TLS. */
function p2pUri(host: string): string {
  return `qemu+tls://${labHost(host).mgmtIp}/system?pkipath=/etc/libvirt/pki`;
}

async function virshOnce(from: string, to: string): Promise<number> {
  const src = labHost(from);
  const dst = labHost(to);
  const t0 = performance.now();
  await run('virsh', ['-c', src.libvirtUri, 'migrate', '--live', '--p2p', '--persistent', '--undefinesource', VM, p2pUri(to),
    `tcp://${dst.migIp}:${VIRSH_PORT}`, '--listen-address', dst.migIp]);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  await ensureLab(2);
  for (const h of ['lab1', 'lab2']) await destroyVm(h, VM);
  const { uuid } = await createVm('lab1', VM);
  const ferry: number[] = [];
  const virsh: number[] = [];
  const shares: number[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const f = await ferryOnce(uuid, 'lab1', 'lab2');
      ferry.push(f.ms);
      shares.push(f.share);
      virsh.push(await virshOnce('lab2', 'lab1'));
    }
  } finally {
    for (const h of ['lab1', 'lab2']) await destroyVm(h, VM);
    closeAgents();
  }
  const round = (x: number) => Math.round(x);
  const summary = {
    benchmark: 'migrate-wall-time',
    guest: 'disk-less 256 MiB KVM guest, idle',
    rounds: ROUNDS,
    ferryMs: { median: round(median(ferry)), min: round(Math.min(...ferry)), max: round(Math.max(...ferry)) },
    virshMs: { median: round(median(virsh)), min: round(Math.min(...virsh)), max: round(Math.max(...virsh)) },
    ratio: Math.round((median(ferry) / median(virsh)) * 100) / 100,
    migrationNicShare: Math.round(Math.min(...shares) * 10000) / 100,
  };
  console.log(`wall time of one live migration, ${ROUNDS} rounds, alternating (ms): Ferry ${ferry.map(round).join(' ')} | virsh ${virsh.map(round).join(' ')}`);
  console.log(`median: Ferry ${summary.ferryMs.median} ms, virsh ${summary.virshMs.median} ms, ratio ${summary.ratio} (goal <= 1.0); bytes on the migration NIC >= ${summary.migrationNicShare} %`);
  console.log(JSON.stringify(summary));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

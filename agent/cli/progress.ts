/**
 * How ferryctl shows a job: a one-line progress bar redrawn in place on a
 * terminal, plain lines otherwise, and a final summary.
 */
import type { ColdCopyProgress__Output } from '../../shared/generated/ferry/v1/ColdCopyProgress.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { PostcopyRecovery__Output } from '../../shared/generated/ferry/v1/PostcopyRecovery.js';
import { msFromProtoTime } from '../../shared/proto-time.js';

/** The phases a job ends in (MigrationPhase's final values), by phaseName. */
export const FINAL_PHASES: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** The phase as `list --phase` takes it: "migrating", "postcopy-paused". */
export function phaseName(p: MigrationProgress__Output): string {
  return p.phase.replace('MIGRATION_PHASE_', '').toLowerCase().replaceAll('_', '-');
}

/** Phases of a post-copy that broke, whose `recovery` says why and what was tried. */
const PAUSED_PHASES: ReadonlySet<string> = new Set(['postcopy-paused', 'recovering']);

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function seconds(d: { seconds: number; nanos: number } | null): number {
  return msFromProtoTime(d) / 1000;
}

export function progressLine(p: MigrationProgress__Output, width = 30): string {
  const filled = Math.round((p.progressPercent / 100) * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const data = p.data;
  // A job that has ended has no rate and no ETA, whatever its last sample said.
  const rate = FINAL_PHASES.has(phaseName(p)) ? 0 : p.bandwidthBytesPerS;
  const eta = rate > 0 && data && data.remainingBytes > 0 ? ` ETA ${Math.ceil(data.remainingBytes / rate)}s` : '';
  const amounts = data && data.totalBytes > 0 ? ` ${bytes(data.processedBytes)}/${bytes(data.totalBytes)}` : '';
  const iteration = p.iteration > 0 ? ` iter ${p.iteration}` : '';
  const recovery = p.recovery && PAUSED_PHASES.has(phaseName(p)) ? ` ${recoveryBrief(p.recovery)}` : '';
  const cold = p.coldCopy && !FINAL_PHASES.has(phaseName(p)) ? ` ${coldBrief(p.coldCopy)}` : '';
  return `${phaseName(p).padEnd(9)} ${bar} ${String(p.progressPercent).padStart(3)}%${amounts} ${rate > 0 ? `${bytes(rate)}/s` : ''}${eta}${iteration}${recovery}${cold}`;
}

/** A cold migration's step in a few words: the volume being sent and the volumes verified, or what follows them. */
function coldBrief(c: ColdCopyProgress__Output): string {
  const verified = `${c.verified}/${c.volumes.length} verified`;
  if (c.step === 'COLD_STEP_DEFINE') return `${verified}, defining the VM on the destination`;
  if (c.step === 'COLD_STEP_REMOVE_SOURCE') return `${verified}, removing the source's copy`;
  return c.current ? `volume ${c.current}, ${verified}` : verified;
}

/**
 * What a cold migration moved: the bytes sent and the holes skipped, each
 * volume from its source path to its destination path, and once it
 * completed, whether the source kept its copy and the exact command that
 * restores a hibernation that travelled.
 */
export function coldLines(p: MigrationProgress__Output): string[] {
  const c = p.coldCopy;
  if (!c) return [];
  const sent = p.data?.processedBytes ?? 0;
  const lines = [`  sent ${bytes(sent)}, ${bytes(c.holeBytes)} of holes skipped; ${c.verified}/${c.volumes.length} volume(s) verified`];
  for (const v of c.volumes) {
    lines.push(`  volume ${v.id} (${v.format}, ${bytes(v.capacityBytes)}): ${v.sourcePath} -> ${v.destinationPath || '(not placed)'}`);
  }
  if (phaseName(p) !== 'completed') return lines;
  if (c.keepSource) lines.push("  the source's volumes and definition were kept (--keep-source): start the VM on one host only");
  if (c.restorePath) {
    lines.push(
      `  restore the hibernated VM on the destination: ferryctl --from ${shellWord(p.dst)} restore --file ${shellWord(c.restorePath)} --definition ${shellWord(c.restoreDstparams)}`,
    );
  }
  return lines;
}

/** A word a shell reads back unchanged: as it is when it has nothing special, else in single quotes. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

/** One line's worth: "attempts 2, last error: …". */
function recoveryBrief(r: PostcopyRecovery__Output): string {
  return `attempts ${r.attempts}${r.lastError ? `, last error: ${r.lastError}` : ''}`;
}

const instant = (t: { seconds: number; nanos: number } | null) => (t ? new Date(msFromProtoTime(t)).toISOString() : 'unknown');

/**
 * A post-copy that broke, for people: when and why it paused, what was
 * tried, and what happens next (another automatic attempt, or waiting for
 * `ferryctl recover`). Empty for a job whose post-copy never broke.
 */
export function recoveryLines(p: MigrationProgress__Output): string[] {
  const r = p.recovery;
  if (!r) return [];
  const lines = [`  post-copy paused at ${instant(r.pausedAt)}: ${r.cause}`];
  lines.push(`  resume attempts ${r.attempts}${r.lastError ? `, last error: ${r.lastError}` : ''}; resumed ${r.resumed} time(s)`);
  const phase = phaseName(p);
  if (phase === 'recovering') lines.push('  resuming now');
  else if (phase === 'postcopy-paused' && r.nextAttemptAt)
    lines.push(`  next automatic attempt at ${instant(r.nextAttemptAt)} (automatic attempts until ${instant(r.deadline)})`);
  else if (phase === 'postcopy-paused')
    lines.push(
      `  no automatic attempt planned (automatic attempts until ${instant(r.deadline)}): \`ferryctl recover ${p.jobId}\` resumes it`,
    );
  return lines;
}

export function summary(p: MigrationProgress__Output): string {
  const lines = [
    `job ${p.jobId}: ${p.phase.replace('MIGRATION_PHASE_', '')} after ${seconds(p.elapsed).toFixed(1)} s`,
    `  vm ${p.vmId} -> ${p.dst}`,
  ];
  if (p.migrateUri) lines.push(`  migrate URI ${p.migrateUri} (${p.network.replace('NETWORK_ROLE_', '').toLowerCase()} network)`);
  if (p.coldCopy) lines.push(...coldLines(p));
  else if (p.data && p.data.processedBytes > 0)
    lines.push(
      `  transferred ${bytes(p.data.processedBytes)}, ${p.iteration} iteration(s), downtime ${Math.round(msFromProtoTime(p.downtime))} ms`,
    );
  if (p.bytesOnMigrationNic || p.bytesOnManagementNic) {
    const total = p.bytesOnMigrationNic + p.bytesOnManagementNic;
    const share = total > 0 ? ((100 * p.bytesOnMigrationNic) / total).toFixed(2) : '0';
    lines.push(
      `  bytes on migration NIC ${bytes(p.bytesOnMigrationNic)}, on management NIC ${bytes(p.bytesOnManagementNic)} (${share} % on the migration NIC)`,
    );
  }
  lines.push(...recoveryLines(p));
  for (const w of p.warnings) lines.push(`  warning: ${w}`);
  if (p.error)
    lines.push(
      `  error at step ${p.error.step}: ${p.error.message}${p.error.libvirtCodeName ? ` [${p.error.libvirtCodeName}]` : ''} (VM ${vmStateName(p.error.vmState, p.error.vmStateReason)} on the source)`,
    );
  return lines.join('\n');
}

/** Redraws one line on a terminal; prints changes line by line otherwise. */
export class ProgressPrinter {
  private last = '';
  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: MigrationProgress__Output): void {
    const line = progressLine(p);
    if (line === this.last) return;
    this.last = line;
    if (this.out.isTTY) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(`${line}\n`);
  }

  end(): void {
    if (this.out.isTTY && this.last) this.out.write('\n');
  }
}

/** "running", "paused (migration)", "unknown (libvirt did not answer for 30 s)". */
export function vmStateName(state: string, reason = ''): string {
  const name = state === 'VM_STATE_UNSPECIFIED' ? 'state not reported' : state.replace('VM_STATE_', '').toLowerCase();
  return reason ? `${name} (${reason})` : name;
}

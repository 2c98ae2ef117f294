/**
 * Pure builders of iptables-restore payloads (no I/O, no clock): what the
 * backend writes is a function of its arguments only, so the unit tests pin it
 * down exactly and the fake can replay it.
 *
 * Chain layout (filter table, one chain per family, owned by Ferry):
 *   INPUT:  -p tcp -m tcp --dport FIRST:LAST -j CHAIN          (inserted first, once)
 *   CHAIN:  -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT  (migrations in progress survive expiry)
 *           one ACCEPT per pinhole, NEW connections only, until its datestop
 *           -p tcp -j REJECT --reject-with tcp-reset           (a missed pinhole fails at once;
 *                                                               a DROP leaves libvirt in SYN-SENT for minutes)
 *
 * Arguments are written in the normalized form iptables-save prints (explicit
 * "-m tcp", "RELATED,ESTABLISHED", "/32"), so what we read back compares
 * equal to what we wrote.
 */
import type { Pinhole, PortRange } from '../firewall.js';

export interface ChainLayout {
  /** Our chain (<= 28 characters). */
  chain: string;
  /** The built-in chain that jumps to ours. */
  parent: string;
  portRange: PortRange;
}

/** Every pinhole rule's comment starts with this; the save parser keys on it. */
export const PINHOLE_COMMENT_PREFIX = 'ferry pinhole=';

export function pinholeComment(p: Pick<Pinhole, 'id' | 'vmId' | 'jobId'>): string {
  return `${PINHOLE_COMMENT_PREFIX}${p.id} vm=${p.vmId} job=${p.jobId}`;
}

/**
 * The kernel's time match is inclusive and has one-second resolution: a rule with
 * datestop S still matches during second S (until S + 0.999 s), so a hole that
 * must close at expiresAt (a whole second) carries S = expiresAt/1000 - 1.
 * Always UTC (we never pass --kerneltz).
 */
export function datestopFor(expiresAt: number): string {
  const last = Math.ceil(expiresAt / 1000) - 1;
  return new Date(last * 1000).toISOString().slice(0, 19);
}

/** Inverse of datestopFor: the instant the kernel stops matching. */
export function expiresAtFromDatestop(datestop: string): number | undefined {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(datestop)) return undefined;
  const t = Date.parse(`${datestop}Z`);
  return Number.isNaN(t) ? undefined : t + 1000;
}

export function hostPrefix(p: Pick<Pinhole, 'family'>): number {
  return p.family === 'ipv4' ? 32 : 128;
}

export function pinholeRuleArgs(p: Pinhole): string[] {
  const ports = p.ports.length === 1 ? ['-m', 'tcp', '--dport', String(p.ports[0])] : ['-m', 'multiport', '--dports', p.ports.join(',')];
  return [
    '-s',
    `${p.source}/${hostPrefix(p)}`,
    '-d',
    `${p.destination}/${hostPrefix(p)}`,
    '-p',
    'tcp',
    ...ports,
    '-m',
    'conntrack',
    '--ctstate',
    'NEW',
    '-m',
    'time',
    '--datestop',
    datestopFor(p.expiresAt),
    '-m',
    'comment',
    '--comment',
    pinholeComment(p),
    '-j',
    'ACCEPT',
  ];
}

export const ESTABLISHED_RULE_ARGS: readonly string[] = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'];
export const REJECT_RULE_ARGS: readonly string[] = ['-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'];

export function jumpRuleArgs(layout: ChainLayout): string[] {
  const { first, last } = layout.portRange;
  const dport = first === last ? String(first) : `${first}:${last}`;
  return ['-p', 'tcp', '-m', 'tcp', '--dport', dport, '-j', layout.chain];
}

/** Quote an argument the way iptables-restore's tokenizer reads it back. */
export function quoteArg(arg: string): string {
  if (/^[A-Za-z0-9_.,:/=+@!-]+$/.test(arg)) return arg;
  return `"${arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** "-A CHAIN" (or "-I CHAIN 2", "-D CHAIN") followed by the quoted arguments. */
export function ruleLine(op: string, args: readonly string[]): string {
  return [op, ...args.map(quoteArg)].join(' ');
}

function filterTable(lines: string[]): string {
  return ['*filter', ...lines, 'COMMIT', ''].join('\n');
}

export interface SyncPayloadInput {
  layout: ChainLayout;
  /** The complete set of holes the chain must hold afterwards. */
  pinholes: readonly Pinhole[];
  /** Jumps to our chain to delete first (args as iptables-save printed them). */
  jumpsToDelete: readonly (readonly string[])[];
  /** Insert the jump at the top of the parent chain. */
  installJump: boolean;
}

/**
 * The full rewrite: declaring the chain flushes it (even with --noflush), then
 * every rule is written again, all in one transaction. Used at start-up, by
 * reconcile, and as the fallback whenever an incremental change fails.
 */
export function buildSyncPayload(input: SyncPayloadInput): string {
  const { chain, parent } = input.layout;
  const lines = [`:${chain} - [0:0]`, ruleLine(`-A ${chain}`, ESTABLISHED_RULE_ARGS)];
  for (const p of input.pinholes) lines.push(ruleLine(`-A ${chain}`, pinholeRuleArgs(p)));
  lines.push(ruleLine(`-A ${chain}`, REJECT_RULE_ARGS));
  for (const jump of input.jumpsToDelete) lines.push(ruleLine(`-D ${parent}`, jump));
  if (input.installJump) lines.push(ruleLine(`-I ${parent} 1`, jumpRuleArgs(input.layout)));
  return filterTable(lines);
}

/**
 * Open one hole: insert it at position 2, right after the ESTABLISHED rule.
 * An insert is O(1) for the kernel (no rule is freed), and if the chain has
 * been flushed behind our back the index is out of range, the call fails, and
 * the caller falls back to a full rewrite instead of leaving a chain with no
 * final REJECT.
 */
export function buildOpenPayload(layout: ChainLayout, p: Pinhole): string {
  return filterTable([ruleLine(`-I ${layout.chain} 2`, pinholeRuleArgs(p))]);
}

/** Close one hole: delete by its exact rule spec (positions shift; specs do not). */
export function buildClosePayload(layout: ChainLayout, p: Pinhole): string {
  return filterTable([ruleLine(`-D ${layout.chain}`, pinholeRuleArgs(p))]);
}

/** Remove every jump to our chain, then the chain itself. Empty string: nothing to do. */
export function buildUninstallPayload(layout: ChainLayout, jumpsToDelete: readonly (readonly string[])[], chainExists: boolean): string {
  const lines = jumpsToDelete.map((jump) => ruleLine(`-D ${layout.parent}`, jump));
  if (chainExists) lines.push(`:${layout.chain} - [0:0]`, `-X ${layout.chain}`);
  return lines.length ? filterTable(lines) : '';
}

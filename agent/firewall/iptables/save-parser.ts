/**
 * Pure parser of iptables-save output: only what the backend owns, i.e. our
 * chain's rules and the parent chain's jumps to it. Everything else in the dump
 * is other software's and is neither interpreted nor ever written back.
 *
 * A rule is recognised as a pinhole by its comment prefix and then read
 * strictly: any option we never write makes it 'unknown', and an unknown rule
 * in our chain is replaced by the next full rewrite.
 */
import { canonicalAddress, parseAddress } from '../addresses.js';
import type { AddressFamily } from '../firewall.js';
import { expiresAtFromDatestop, PINHOLE_COMMENT_PREFIX } from './payload.js';

export interface SavedPinhole {
  id: string;
  vmId: string;
  jobId: string;
  family: AddressFamily;
  source: string;
  destination: string;
  ports: number[];
  datestop: string;
  /** When the kernel stops matching it (see datestopFor). */
  expiresAt: number;
}

export type ChainRule =
  | { kind: 'established'; args: string[] }
  | { kind: 'reject'; args: string[] }
  | { kind: 'pinhole'; args: string[]; pinhole: SavedPinhole }
  | { kind: 'unknown'; args: string[] };

export interface SavedChain {
  /** The dump declares our chain (":CHAIN - [x:y]"). */
  chainExists: boolean;
  /** Our chain's rules, in order. */
  rules: ChainRule[];
  /** The parent chain's rules that jump to ours, arguments as printed (for -D). */
  jumps: string[][];
}

export class SaveParseError extends Error {
  override readonly name = 'SaveParseError';
}

/**
 * Split one iptables-save line into arguments. Double quotes group, and a
 * backslash escapes the next character inside them (that is how iptables-save
 * prints comments).
 */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line.charAt(i))) i++;
    if (i >= line.length) break;
    let tok = '';
    while (i < line.length && !/\s/.test(line.charAt(i))) {
      if (line[i] === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === '\\' && i + 1 < line.length) i++;
          tok += line[i++];
        }
        if (i >= line.length) throw new SaveParseError(`unterminated quote in: ${line}`);
        i++;
      } else {
        tok += line[i++];
      }
    }
    out.push(tok);
  }
  return out;
}

/** Read our chain and the parent's jumps to it from the filter table of a dump. */
export function parseSave(text: string, layout: { chain: string; parent: string }): SavedChain {
  const result: SavedChain = { chainExists: false, rules: [], jumps: [] };
  let table: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    if (line === 'COMMIT') {
      table = undefined;
      continue;
    }
    if (table !== 'filter') continue;
    if (line.startsWith(':')) {
      if (line.slice(1).split(/\s+/)[0] === layout.chain) result.chainExists = true;
      continue;
    }
    const tokens = tokenize(line);
    if (tokens[0] !== '-A' || tokens.length < 2) continue;
    const args = tokens.slice(2);
    if (tokens[1] === layout.chain) {
      result.rules.push(classifyRule(args));
    } else if (tokens[1] === layout.parent && targetOf(args) === layout.chain) {
      result.jumps.push(args);
    }
  }
  return result;
}

function targetOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '-j' || args[i] === '-g') return args[i + 1];
  return undefined;
}

function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Classify one rule of our chain (arguments after "-A CHAIN"). */
export function classifyRule(args: string[]): ChainRule {
  const states = (s: string) => s.split(',').sort().join(',');
  const ctstate = args[3];
  if (args.length === 6 && ctstate !== undefined && sameArgs(args.toSpliced(3, 1), ['-m', 'conntrack', '--ctstate', '-j', 'ACCEPT'])) {
    if (states(ctstate) === 'ESTABLISHED,RELATED') return { kind: 'established', args };
  }
  if (sameArgs(args, ['-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'])) return { kind: 'reject', args };
  const pinhole = parsePinholeArgs(args);
  return pinhole ? { kind: 'pinhole', args, pinhole } : { kind: 'unknown', args };
}

const KNOWN_MATCHES = new Set(['tcp', 'multiport', 'conntrack', 'time', 'comment']);

function parsePinholeArgs(args: readonly string[]): SavedPinhole | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 2) {
    const opt = args[i];
    const val = args[i + 1];
    if (opt === undefined || val === undefined) return undefined;
    if (opt === '-m') {
      if (!KNOWN_MATCHES.has(val)) return undefined;
      continue;
    }
    if (!['-s', '-d', '-p', '--dport', '--dports', '--ctstate', '--datestop', '--comment', '-j'].includes(opt)) return undefined;
    if (opt in f) return undefined;
    f[opt] = val;
  }
  const comment = parseComment(f['--comment']);
  const source = hostAddress(f['-s']);
  const destination = hostAddress(f['-d']);
  const ports = parsePorts(f['--dport'] ?? f['--dports'], '--dport' in f && '--dports' in f);
  const datestop = f['--datestop'];
  const expiresAt = datestop === undefined ? undefined : expiresAtFromDatestop(datestop);
  if (!comment || !source || !destination || !ports || datestop === undefined || expiresAt === undefined) return undefined;
  if (source.family !== destination.family) return undefined;
  if (f['-p'] !== 'tcp' || f['--ctstate'] !== 'NEW' || f['-j'] !== 'ACCEPT') return undefined;
  return {
    ...comment,
    family: source.family,
    source: source.text,
    destination: destination.text,
    ports,
    datestop,
    expiresAt,
  };
}

function parseComment(comment: string | undefined): { id: string; vmId: string; jobId: string } | undefined {
  if (!comment?.startsWith(PINHOLE_COMMENT_PREFIX)) return undefined;
  const [, id, vmId, jobId] = /^(\S+) vm=(\S+) job=(\S+)$/.exec(comment.slice(PINHOLE_COMMENT_PREFIX.length)) ?? [];
  return id !== undefined && vmId !== undefined && jobId !== undefined ? { id, vmId, jobId } : undefined;
}

/** "198.19.0.2/32" -> the address; anything wider than one host is not ours. */
function hostAddress(spec: string | undefined): { family: AddressFamily; text: string } | undefined {
  if (!spec) return undefined;
  const [addr = '', prefix] = spec.split('/');
  const parsed = parseAddress(addr);
  if (!parsed) return undefined;
  if (prefix !== undefined && Number(prefix) !== (parsed.family === 'ipv4' ? 32 : 128)) return undefined;
  return { family: parsed.family, text: canonicalAddress(parsed.text) };
}

function parsePorts(spec: string | undefined, both: boolean): number[] | undefined {
  if (!spec || both) return undefined;
  const ports = spec.split(',').map((p) => (/^\d+$/.test(p) ? Number(p) : NaN));
  if (ports.length < 1 || ports.length > 2 || ports.some((p) => !(p >= 1 && p <= 65535))) return undefined;
  return ports;
}

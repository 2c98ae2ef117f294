/**
 * What a firewall test reads back from a host's kernel, for either backend:
 * the pinholes present (by id), whether Ferry's skeleton is there and clean,
 * and everything that is not Ferry's (which must stay byte-identical).
 * Reads through `exec`, so the same views serve a lab host (labExec) and a
 * private network namespace (nsenter).
 */
import { readFerryTable } from '../../agent/firewall/nftables/table-reader.js';
import { DEFAULT_PINHOLE_MARK } from '../../agent/firewall/nftables/script.js';
import { CHAIN, ferryLines, withoutFerry } from './firewall-lab.js';

export type Backend = 'iptables' | 'nftables';
export const BACKENDS: readonly Backend[] = ['nftables', 'iptables'];

/** Every backend, or the one FERRY_TEST_FIREWALL names (scripts/test --firewall). */
export function backendsUnderTest(): readonly Backend[] {
  const only = process.env.FERRY_TEST_FIREWALL;
  if (!only) return BACKENDS;
  if (only !== 'nftables' && only !== 'iptables') throw new Error(`FERRY_TEST_FIREWALL=${only}: use nftables or iptables`);
  return [only];
}

export type Exec = (argv: string[]) => Promise<{ code: number | null; stdout: string; stderr: string }>;

async function out(exec: Exec, argv: string[]): Promise<string> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** `nft list table inet ferry -j`, or undefined without the table. */
async function ferryTable(exec: Exec): Promise<string | undefined> {
  const r = await exec(['nft', '-j', 'list', 'table', 'inet', 'ferry']);
  return r.code === 0 ? r.stdout : undefined;
}

export class FirewallView {
  constructor(
    readonly backend: Backend,
    private readonly exec: Exec,
    private readonly portRange = { first: 49152, last: 49215 },
  ) {}

  /** One entry per rule (iptables) or per element (nftables), both families, sorted. */
  async pinholeEntries(): Promise<string[]> {
    if (this.backend === 'iptables') {
      const dumps = [await out(this.exec, ['iptables-save']), await out(this.exec, ['ip6tables-save'])];
      return dumps
        .flatMap((d) => ferryLines(d).rules)
        .map((l) => /ferry pinhole=(\S+)/.exec(l)?.[1])
        .filter((id): id is string => id !== undefined)
        .sort();
    }
    const table = readFerryTable(await ferryTable(this.exec), { portRange: this.portRange, mark: DEFAULT_PINHOLE_MARK });
    return table.elements.map((e) => e.owner?.id ?? '(not ours)').sort();
  }

  /** The distinct pinhole ids present. */
  async pinholeIds(): Promise<string[]> {
    return [...new Set(await this.pinholeEntries())];
  }

  /**
   * Ferry's skeleton is installed exactly once and as written: iptables, the
   * chain with its two fixed rules and one jump per family; nftables, the
   * table of the right shape. '' when so, else what differs.
   */
  async skeletonProblem(): Promise<string> {
    if (this.backend === 'iptables') {
      for (const bin of ['iptables-save', 'ip6tables-save']) {
        const ours = ferryLines(await out(this.exec, [bin]));
        const rules = ours.rules.filter((l) => !l.includes('ferry pinhole='));
        const { first, last } = this.portRange;
        const want = [
          `-A ${CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
          `-A ${CHAIN} -p tcp -j REJECT --reject-with tcp-reset`,
        ];
        if (JSON.stringify(rules) !== JSON.stringify(want)) return `${bin}: chain rules ${JSON.stringify(rules)}`;
        if (JSON.stringify(ours.jumps) !== JSON.stringify([`-A INPUT -p tcp -m tcp --dport ${first}:${last} -j ${CHAIN}`])) {
          return `${bin}: jumps ${JSON.stringify(ours.jumps)}`;
        }
      }
      return '';
    }
    const table = readFerryTable(await ferryTable(this.exec), { portRange: this.portRange, mark: DEFAULT_PINHOLE_MARK });
    return table.problems.join('; ');
  }

  /** Whether any of Ferry's rules (either backend's) are on the host. */
  async anyFerry(): Promise<{ iptables: boolean; nftables: boolean }> {
    const v4 = await out(this.exec, ['iptables-save']);
    const v6 = await out(this.exec, ['ip6tables-save']);
    const iptables = [v4, v6].some((d) => ferryLines(d).declared || ferryLines(d).jumps.length > 0);
    return { iptables, nftables: (await ferryTable(this.exec)) !== undefined };
  }

  /**
   * Everything that is not Ferry's: iptables-save of both families without
   * Ferry's chain and jumps, and every nftables table but Ferry's and the
   * iptables-nft ones (already compared through iptables-save).
   */
  async foreign(): Promise<string[]> {
    const v4 = withoutFerry(await out(this.exec, ['iptables-save']));
    const v6 = withoutFerry(await out(this.exec, ['ip6tables-save']));
    const nft = nftTablesExcept(await out(this.exec, ['nft', 'list', 'ruleset']), ['inet ferry', 'ip filter', 'ip6 filter']);
    return [...v4, '--- ip6tables', ...v6, '--- nft', ...nft];
  }
}

/** `nft list ruleset` text without the named tables ("family name"), and without counters' values. */
export function nftTablesExcept(text: string, skip: readonly string[]): string[] {
  const out: string[] = [];
  let skipping = false;
  for (const line of text.split('\n')) {
    const m = /^table (\S+) (\S+) \{/.exec(line);
    if (m) skipping = skip.includes(`${m[1]} ${m[2]}`);
    if (!skipping && line.trim() !== '') out.push(line.replace(/counter packets \d+ bytes \d+/g, 'counter'));
  }
  return out;
}

/**
 * Does the host's own firewall let Ferry's pinholes through? Pure, on
 * `nft -j list ruleset`.
 *
 * Every base chain on the input hook sees each packet, whatever table it is in,
 * and a drop in any of them is final: Ferry's accept (table inet ferry) does not
 * override a drop in firewalld's table, a hand-written ruleset or Debian's
 * nftables.service (https://wiki.nftables.org/wiki-nftables/index.php/Configuring_chains,
 * "base chain"). Ferry does not edit other software's tables; it finds the
 * input chains that would drop a pinhole's connection and says which rule
 * the operator adds (docs/operations.md, "A host firewall that drops").
 *
 * A chain drops when its policy is drop, or when its last rule is an
 * unconditional drop or reject (firewalld's filter_INPUT ends so). It lets the
 * pinholes through when its table has a rule that accepts on Ferry's
 * connection mark, or one that accepts TCP to the whole migration port range
 * (firewalld's --add-port): Ferry's chain at priority -10 has already reset
 * every connection to the range that is not a pinhole's.
 */
import type { PortRange } from '../firewall.js';
import { hexMark, TABLE_FAMILY, TABLE_NAME, type TableLayout } from './script.js';
import { canonicalJson, nftObjects } from './table-reader.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface BlockingChain {
  family: string;
  table: string;
  chain: string;
  /** "policy drop", "ends in drop", "ends in reject". */
  why: string;
}

const INPUT_FAMILIES = new Set(['ip', 'ip6', 'inet']);
const FIREWALLD_TABLE = 'firewalld';

export function findBlockingInputChains(rulesetJson: string, layout: TableLayout): BlockingChain[] {
  const chains: { family: string; table: string; name: string; policy: string }[] = [];
  const rules = new Map<string, Json[][]>();
  const tableKey = (family: unknown, table: unknown) => `${String(family)} ${String(table)}`;
  for (const { kind, value } of nftObjects(rulesetJson)) {
    if (kind === 'chain' && value.hook === 'input' && value.type === 'filter' && INPUT_FAMILIES.has(String(value.family))) {
      chains.push({ family: String(value.family), table: String(value.table), name: String(value.name), policy: String(value.policy) });
    }
    if (kind === 'rule') {
      const key = `${tableKey(value.family, value.table)} ${String(value.chain)}`;
      const list = rules.get(key) ?? [];
      list.push(Array.isArray(value.expr) ? value.expr : []);
      rules.set(key, list);
    }
  }
  const found: BlockingChain[] = [];
  for (const c of chains) {
    if (c.family === TABLE_FAMILY && c.table === TABLE_NAME) continue;
    const own = rules.get(`${tableKey(c.family, c.table)} ${c.name}`) ?? [];
    const why = c.policy === 'drop' ? 'policy drop' : endsInDrop(own.at(-1));
    if (!why) continue;
    const tableRules = [...rules.entries()].filter(([k]) => k.startsWith(`${tableKey(c.family, c.table)} `)).flatMap(([, r]) => r);
    if (tableRules.some((r) => acceptsPinholes(r, layout))) continue;
    found.push({ family: c.family, table: c.table, chain: c.name, why });
  }
  return found;
}

const NEUTRAL = new Set(['counter', 'log']);

function endsInDrop(last: Json[] | undefined): string | undefined {
  if (!last) return undefined;
  const exprs = last.filter((e) => !(isObj(e) && Object.keys(e).some((k) => NEUTRAL.has(k))));
  if (exprs.length !== 1 || !isObj(exprs[0])) return undefined;
  if ('drop' in exprs[0]) return 'ends in drop';
  if ('reject' in exprs[0]) return 'ends in reject';
  return undefined;
}

function isObj(v: Json | undefined): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function acceptsPinholes(expr: Json[], layout: TableLayout): boolean {
  if (!expr.some((e) => isObj(e) && 'accept' in e)) return false;
  return expr.some((e) => matchesMark(e, layout.mark) || matchesRange(e, layout.portRange) || isConnmarkXt(e));
}

/** ct mark & MARK == MARK (or ct mark == MARK): reads the connection mark Ferry sets. */
function matchesMark(e: Json, mark: number): boolean {
  if (!isObj(e) || !isObj(e.match)) return false;
  const text = canonicalJson(e.match.left);
  return text.includes('{"ct":{"key":"mark"}}') && e.match.right === mark;
}

/** tcp dport FIRST-LAST (or a range covering it). */
function matchesRange(e: Json, range: PortRange): boolean {
  if (!isObj(e) || !isObj(e.match) || (e.match.op !== '==' && e.match.op !== 'in')) return false;
  if (canonicalJson(e.match.left) !== canonicalJson({ payload: { protocol: 'tcp', field: 'dport' } })) return false;
  const covers = (r: Json): boolean => {
    if (isObj(r) && Array.isArray(r.range)) {
      const [lo, hi] = r.range;
      return typeof lo === 'number' && typeof hi === 'number' && lo <= range.first && hi >= range.last;
    }
    return typeof r === 'number' && range.first === range.last && r === range.first;
  };
  const right = e.match.right;
  if (isObj(right) && Array.isArray(right.set)) return right.set.some(covers);
  return covers(right as Json);
}

/** iptables-nft's "-m connmark --mark …" shows as an opaque xt match: trust it. */
function isConnmarkXt(e: Json): boolean {
  return isObj(e) && isObj(e.xt) && e.xt.name === 'connmark';
}

/** The one rule the operator adds to let the pinholes through a chain, and where. */
export function ruleToAdd(b: BlockingChain, layout: TableLayout): string {
  const { first, last } = layout.portRange;
  if (b.family === 'inet' && b.table === FIREWALLD_TABLE) {
    return `firewall-cmd --permanent --add-port=${first}-${last}/tcp && firewall-cmd --reload (in the zone of the migration network; Ferry's own table resets every connection to that range that is not a pinhole's)`;
  }
  const mark = hexMark(layout.mark);
  if (b.table === 'filter' && b.chain === 'INPUT') {
    const bin = b.family === 'ip6' ? 'ip6tables' : 'iptables';
    return `${bin} -I INPUT -m connmark --mark ${mark}/${mark} -j ACCEPT (or, in nft: nft insert rule ${b.family} ${b.table} ${b.chain} ct mark and ${mark} == ${mark} accept)`;
  }
  return `nft insert rule ${b.family} ${b.table} ${b.chain} ct mark and ${mark} == ${mark} accept (and the same line in the file the ruleset is loaded from)`;
}

export function blockingChainWarning(b: BlockingChain, layout: TableLayout): string {
  return (
    `the host firewall's input chain "${b.family} ${b.table} ${b.chain}" (${b.why}) drops the connections Ferry's pinholes accept, ` +
    `so incoming migrations fail: ${ruleToAdd(b, layout)}`
  );
}

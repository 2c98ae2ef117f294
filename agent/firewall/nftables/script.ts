/**
 * Pure builders of the nft scripts the nftables backend writes with
 * `nft -f -` (no I/O, no clock): each script is one transaction, so what the
 * kernel holds is always a whole before or a whole after.
 *
 * Ferry owns one table, `table inet ferry`, and nothing else in it:
 *
 *   set pinholes4 { type ipv4_addr . ipv4_addr . inet_service; flags timeout; }
 *   set pinholes6 { type ipv6_addr . ipv6_addr . inet_service; flags timeout; }
 *   chain input {
 *     type filter hook input priority -10; policy accept;
 *     tcp dport RANGE ct state established,related accept
 *     tcp dport RANGE ct state new ip saddr . ip daddr . tcp dport @pinholes4 ct mark set ct mark | MARK accept
 *     tcp dport RANGE ct state new ip6 saddr . ip6 daddr . tcp dport @pinholes6 ct mark set ct mark | MARK accept
 *     tcp dport RANGE reject with tcp reset
 *   }
 *
 * A pinhole is one element per port (source . destination . port) carrying its
 * own timeout: the kernel stops matching it at expiry by itself
 * (https://wiki.nftables.org/wiki-nftables/index.php/Element_timeouts), so
 * nothing has to be deleted for a hole to close, even with the agent dead.
 * Priority -10 runs before the usual filter chains (priority 0), so the reset
 * for a missed hole comes first. The connection mark lets a host firewall that
 * drops by default accept Ferry's pinholes with one rule of its own (see
 * docs/operations.md): an accept here does not override a drop in another
 * table, since every base chain on the hook sees the packet
 * (https://wiki.nftables.org/wiki-nftables/index.php/Configuring_chains).
 */
import type { AddressFamily, Pinhole, PortRange } from '../firewall.js';

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'ferry';
export const CHAIN_NAME = 'input';
export const CHAIN_PRIORITY = -10;
/** The connection-mark bit a pinhole's connection carries; a host firewall's accept keys on it. */
export const DEFAULT_PINHOLE_MARK = 0x00800000;

export interface TableLayout {
  portRange: PortRange;
  /** One bit (or a few) OR-ed into the connection mark of every pinhole connection. */
  mark: number;
}

export const SET_NAMES: Readonly<Record<AddressFamily, string>> = Object.freeze({ ipv4: 'pinholes4', ipv6: 'pinholes6' });
export const SET_TYPES: Readonly<Record<AddressFamily, readonly string[]>> = Object.freeze({
  ipv4: Object.freeze(['ipv4_addr', 'ipv4_addr', 'inet_service']),
  ipv6: Object.freeze(['ipv6_addr', 'ipv6_addr', 'inet_service']),
});
const PAYLOAD_PROTOCOL: Readonly<Record<AddressFamily, string>> = Object.freeze({ ipv4: 'ip', ipv6: 'ip6' });

/** Every element's comment starts with this; the reader keys on it. */
export const ELEMENT_COMMENT_PREFIX = 'ferry pinhole=';

export function elementComment(p: Pick<Pinhole, 'id' | 'vmId' | 'jobId'>): string {
  return `${ELEMENT_COMMENT_PREFIX}${p.id} vm=${p.vmId} job=${p.jobId}`;
}

export function hexMark(mark: number): string {
  return `0x${mark.toString(16).padStart(8, '0')}`;
}

function dport(range: PortRange): string {
  return range.first === range.last ? String(range.first) : `${range.first}-${range.last}`;
}

/** The chain's rules, in order, as nft reads them. */
export function chainRules(layout: TableLayout): string[] {
  const d = `tcp dport ${dport(layout.portRange)}`;
  const mark = hexMark(layout.mark);
  const pinholeRule = (family: AddressFamily) => {
    const p = PAYLOAD_PROTOCOL[family];
    return `${d} ct state new ${p} saddr . ${p} daddr . tcp dport @${SET_NAMES[family]} ct mark set ct mark or ${mark} accept`;
  };
  return [`${d} ct state established,related accept`, pinholeRule('ipv4'), pinholeRule('ipv6'), `${d} reject with tcp reset`];
}

/** The whole table, declared from nothing. */
function tableDefinition(layout: TableLayout): string[] {
  const set = (family: AddressFamily) => `  set ${SET_NAMES[family]} { type ${SET_TYPES[family].join(' . ')}; flags timeout; }`;
  return [
    `table ${TABLE_FAMILY} ${TABLE_NAME} {`,
    set('ipv4'),
    set('ipv6'),
    `  chain ${CHAIN_NAME} {`,
    `    type filter hook input priority ${CHAIN_PRIORITY}; policy accept;`,
    ...chainRules(layout).map((r) => `    ${r}`),
    '  }',
    '}',
  ];
}

/** One element's key: source . destination . port. */
export interface ElementKey {
  family: AddressFamily;
  source: string;
  destination: string;
  port: number;
}

export function keyText(k: ElementKey): string {
  return `${k.source} . ${k.destination} . ${k.port}`;
}

/** An element to write: its key, its comment, and how long the kernel keeps matching it. */
export interface ElementSpec extends ElementKey {
  comment: string;
  /** Whole milliseconds, >= 1. */
  timeoutMs: number;
}

export function elementsOf(p: Pinhole, now: number): ElementSpec[] {
  const timeoutMs = Math.max(1, Math.ceil(p.expiresAt - now));
  return p.ports.map((port) => ({
    family: p.family,
    source: p.source,
    destination: p.destination,
    port,
    comment: elementComment(p),
    timeoutMs,
  }));
}

/** Comments come from validated ids (no quotes, no spaces but our separators); quote them anyway. */
function quote(text: string): string {
  return `"${text.replace(/["\\]/g, '')}"`;
}

function elementText(e: ElementSpec): string {
  return `${keyText(e)} timeout ${e.timeoutMs}ms comment ${quote(e.comment)}`;
}

function byFamily<T extends { family: AddressFamily }>(items: readonly T[]): [AddressFamily, T[]][] {
  const out: [AddressFamily, T[]][] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    const of = items.filter((i) => i.family === family);
    if (of.length > 0) out.push([family, of]);
  }
  return out;
}

export function addElementsLines(elements: readonly ElementSpec[]): string[] {
  return byFamily(elements).map(
    ([family, of]) => `add element ${TABLE_FAMILY} ${TABLE_NAME} ${SET_NAMES[family]} { ${of.map(elementText).join(', ')} }`,
  );
}

/**
 * Delete elements whether or not they are still there: deleting an element
 * that has expired (or was never written) fails the whole transaction, so each
 * is added first (a no-op when present), as the nftables wiki's "delete if
 * exists" idiom does for tables. Both happen in one transaction: the
 * timeout-less element is never visible to a packet.
 */
export function deleteElementsLines(keys: readonly ElementKey[]): string[] {
  return byFamily(keys).flatMap(([family, of]) => {
    const list = `${SET_NAMES[family]} { ${of.map(keyText).join(', ')} }`;
    return [`add element ${TABLE_FAMILY} ${TABLE_NAME} ${list}`, `delete element ${TABLE_FAMILY} ${TABLE_NAME} ${list}`];
  });
}

function script(lines: readonly string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/**
 * Open holes: one transaction writing every element of every hole given. An
 * element of the same key left by someone else is replaced, not kept (`add`
 * alone keeps an existing element's timeout and comment).
 */
export function buildOpenScript(holes: readonly Pinhole[], now: number): string {
  const elements = holes.flatMap((p) => elementsOf(p, now));
  return script([...deleteElementsLines(elements), ...addElementsLines(elements)]);
}

/** Close holes: one transaction deleting their elements. */
export function buildCloseScript(holes: readonly Pinhole[]): string {
  return script(
    deleteElementsLines(
      holes.flatMap((p) => p.ports.map((port) => ({ family: p.family, source: p.source, destination: p.destination, port }))),
    ),
  );
}

/**
 * The table from scratch, with these elements: declaring the table first makes
 * the delete succeed whether or not it existed, all in one transaction (the
 * idiom of the nftables wiki's "Atomic rule replacement").
 */
export function buildRecreateScript(layout: TableLayout, elements: readonly ElementSpec[]): string {
  return script([
    `table ${TABLE_FAMILY} ${TABLE_NAME} {}`,
    `delete table ${TABLE_FAMILY} ${TABLE_NAME}`,
    ...tableDefinition(layout),
    ...addElementsLines(elements),
  ]);
}

/** Element changes inside a table whose shape is right: deletions first, then additions. */
export function buildElementsScript(remove: readonly ElementKey[], add: readonly ElementSpec[]): string {
  return script([...deleteElementsLines(remove), ...addElementsLines(add)]);
}

/** Remove the table and everything in it. */
export function buildDeleteTableScript(): string {
  return script([`delete table ${TABLE_FAMILY} ${TABLE_NAME}`]);
}

/**
 * Pure reader of `nft -j list table inet ferry` (libnftables' JSON schema,
 * https://manpages.debian.org/nftables/libnftables-json.5): whether the table
 * has exactly the shape Ferry writes, and the elements of its two sets.
 *
 * The shape is compared strictly: the sets' types and flags, the chain's hook,
 * priority and policy, and each rule's expressions against the ones nft reads
 * back from chainRules(). Anything else in the table (a hand-added rule, set or
 * chain) makes the shape wrong, and the next sync recreates the table.
 */
import { canonicalAddress, parseAddress } from '../addresses.js';
import type { AddressFamily } from '../firewall.js';
import { CHAIN_NAME, CHAIN_PRIORITY, ELEMENT_COMMENT_PREFIX, SET_NAMES, SET_TYPES, TABLE_NAME, type TableLayout } from './script.js';

export interface ElementOwner {
  id: string;
  vmId: string;
  jobId: string;
}

export interface ReadElement {
  family: AddressFamily;
  source: string;
  destination: string;
  port: number;
  /** From the element's comment; undefined when the comment is not ours. */
  owner: ElementOwner | undefined;
  /** Whole seconds left before the kernel stops matching it (nft's JSON truncates). */
  expiresS: number;
}

export interface FerryTable {
  /** The table exists at all. */
  exists: boolean;
  /** Why the shape differs from what Ferry writes (empty: it matches). */
  problems: string[];
  elements: ReadElement[];
}

export class NftJsonError extends Error {
  override readonly name = 'NftJsonError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

function isObj(v: Json | undefined): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The objects of an nft JSON document ({"nftables": [{"table": …}, {"set": …}, …]}). */
export function nftObjects(text: string): { kind: string; value: Obj }[] {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (err) {
    throw new NftJsonError(`not JSON: ${(err as Error).message}`);
  }
  if (!isObj(doc) || !Array.isArray(doc.nftables)) throw new NftJsonError('no "nftables" array at the top level');
  const out: { kind: string; value: Obj }[] = [];
  for (const item of doc.nftables) {
    if (!isObj(item)) throw new NftJsonError(`an entry of "nftables" is not an object: ${JSON.stringify(item)}`);
    const [kind, ...rest] = Object.keys(item);
    const value = kind === undefined ? undefined : item[kind];
    if (kind === undefined || rest.length > 0 || !isObj(value)) {
      throw new NftJsonError(`an entry of "nftables" is not one named object: ${JSON.stringify(item)}`);
    }
    out.push({ kind, value });
  }
  return out;
}

/** Key order does not matter to a comparison of JSON values. */
export function canonicalJson(v: Json | undefined): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** The expressions nft reads back for chainRules(layout), in order. */
export function expectedRuleExprs(layout: TableLayout): Json[][] {
  const { first, last } = layout.portRange;
  const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
  const dport: Json = { match: { op: '==', left: payload('tcp', 'dport'), right: first === last ? first : { range: [first, last] } } };
  const ctState = (right: Json): Json => ({ match: { op: 'in', left: { ct: { key: 'state' } }, right } });
  const pinhole = (family: AddressFamily): Json[] => {
    const p = family === 'ipv4' ? 'ip' : 'ip6';
    return [
      dport,
      ctState('new'),
      {
        match: {
          op: '==',
          left: { concat: [payload(p, 'saddr'), payload(p, 'daddr'), payload('tcp', 'dport')] },
          right: `@${SET_NAMES[family]}`,
        },
      },
      { mangle: { key: { ct: { key: 'mark' } }, value: { '|': [{ ct: { key: 'mark' } }, layout.mark] } } },
      { accept: null },
    ];
  };
  return [
    [dport, ctState(['established', 'related']), { accept: null }],
    pinhole('ipv4'),
    pinhole('ipv6'),
    [dport, { reject: { type: 'tcp reset' } }],
  ];
}

/** Read our table from `nft -j list table inet ferry` output ('' or undefined: the table does not exist). */
export function readFerryTable(text: string | undefined, layout: TableLayout): FerryTable {
  if (text === undefined || text.trim() === '') return { exists: false, problems: ['the table does not exist'], elements: [] };
  const problems: string[] = [];
  const elements: ReadElement[] = [];
  const setsSeen = new Set<string>();
  let chainSeen = false;
  const rules: Json[][] = [];
  let exists = false;
  for (const { kind, value } of nftObjects(text)) {
    if (kind === 'metainfo') continue;
    if (kind === 'table') {
      if (value.name === TABLE_NAME) exists = true;
      continue;
    }
    const where = `${kind} ${JSON.stringify(value.name ?? value.handle ?? '')}`;
    if (kind === 'set') {
      const family = familyOfSet(value.name);
      if (!family) {
        problems.push(`unexpected ${where}`);
        continue;
      }
      setsSeen.add(family);
      const flags = Array.isArray(value.flags) ? value.flags : [];
      if (canonicalJson(value.type) !== canonicalJson([...SET_TYPES[family]]) || canonicalJson(flags) !== canonicalJson(['timeout'])) {
        problems.push(`${where} has type ${JSON.stringify(value.type)} and flags ${JSON.stringify(flags)}`);
      }
      for (const e of Array.isArray(value.elem) ? value.elem : []) {
        const read = readElement(family, e);
        if (read) elements.push(read);
        else problems.push(`${where} holds an element Ferry does not write: ${JSON.stringify(e)}`);
      }
      continue;
    }
    if (kind === 'chain') {
      if (value.name !== CHAIN_NAME || chainSeen) {
        problems.push(`unexpected ${where}`);
        continue;
      }
      chainSeen = true;
      if (value.type !== 'filter' || value.hook !== 'input' || value.prio !== CHAIN_PRIORITY || value.policy !== 'accept') {
        problems.push(`chain ${CHAIN_NAME} is ${value.type} hook ${value.hook} priority ${value.prio} policy ${value.policy}`);
      }
      continue;
    }
    if (kind === 'rule' && value.chain === CHAIN_NAME) {
      rules.push(Array.isArray(value.expr) ? value.expr : []);
      continue;
    }
    problems.push(`unexpected ${where}`);
  }
  if (!exists) return { exists: false, problems: ['the table does not exist'], elements: [] };
  for (const family of ['ipv4', 'ipv6'] as const) if (!setsSeen.has(family)) problems.push(`set ${SET_NAMES[family]} is missing`);
  if (!chainSeen) problems.push(`chain ${CHAIN_NAME} is missing`);
  const expected = expectedRuleExprs(layout);
  if (rules.length !== expected.length) {
    problems.push(`chain ${CHAIN_NAME} has ${rules.length} rules, not ${expected.length}`);
  } else {
    rules.forEach((r, i) => {
      if (canonicalJson(r) !== canonicalJson(expected[i])) problems.push(`rule ${i + 1} of chain ${CHAIN_NAME} differs`);
    });
  }
  return { exists, problems, elements };
}

function familyOfSet(name: Json | undefined): AddressFamily | undefined {
  if (name === SET_NAMES.ipv4) return 'ipv4';
  if (name === SET_NAMES.ipv6) return 'ipv6';
  return undefined;
}

/** {"elem": {"val": {"concat": [src, dst, port]}, "timeout": s, "expires": s, "comment": "…"}} */
function readElement(family: AddressFamily, e: Json): ReadElement | undefined {
  if (!isObj(e) || !isObj(e.elem)) return undefined;
  const { val, expires, comment } = e.elem;
  if (!isObj(val) || !Array.isArray(val.concat) || val.concat.length !== 3) return undefined;
  const [src, dst, port] = val.concat;
  if (typeof src !== 'string' || typeof dst !== 'string' || typeof port !== 'number') return undefined;
  const s = parseAddress(src);
  const d = parseAddress(dst);
  if (s?.family !== family || d?.family !== family || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return {
    family,
    source: canonicalAddress(src),
    destination: canonicalAddress(dst),
    port,
    owner: parseOwner(comment),
    expiresS: typeof expires === 'number' ? expires : 0,
  };
}

export function parseOwner(comment: Json | undefined): ElementOwner | undefined {
  if (typeof comment !== 'string' || !comment.startsWith(ELEMENT_COMMENT_PREFIX)) return undefined;
  const [, id, vmId, jobId] = /^(\S+) vm=(\S+) job=(\S+)$/.exec(comment.slice(ELEMENT_COMMENT_PREFIX.length)) ?? [];
  return id !== undefined && vmId !== undefined && jobId !== undefined ? { id, vmId, jobId } : undefined;
}

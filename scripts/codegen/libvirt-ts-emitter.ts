// Turns parsed XDR definitions (libvirt-xdr-parser.ts) into TypeScript types and XDR codecs.
//
// Each XDR type T becomes `type/interface RemoteT`, `encodeRemoteT(w, v)` and `decodeRemoteT(r)`
// built on agent/libvirt/wire's XdrWriter/XdrReader. Decoders read fields in declaration order;
// limits declared in the .x (`<MAX>`) are passed through so both directions enforce them.
// Enums stay plain numbers on the wire and in TS (libvirt adds members over time; a newer daemon
// must not make an older client throw), with a const object for the names.

import type { Decl, Definition, Size, TypeRef } from './libvirt-xdr-parser.js';

/** remote_nonnull_domain → RemoteNonnullDomain (the prefix stays: `String` would clash). */
export function tsName(x: string): string {
  return x
    .split('_')
    .filter(Boolean)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

export class Emitter {
  private readonly defs = new Map<string, Definition>();
  private readonly consts = new Map<string, number>();

  constructor(
    private readonly all: Definition[],
    external: Map<string, number>,
  ) {
    for (const d of all) this.defs.set(d.name, d);
    for (const [k, v] of external) this.consts.set(k, v);
    for (const d of all) {
      if (d.kind === 'enum') for (const m of d.members) this.consts.set(m.name, this.num(m.value));
      if (d.kind === 'const') this.consts.set(d.name, this.num(d.value));
    }
  }

  num(s: Size): number {
    if (typeof s === 'number') return s;
    const v = this.consts.get(s);
    if (v === undefined) throw new Error(`unknown constant ${s}`);
    return v;
  }

  private typeDeps(t: TypeRef): string[] {
    return t.kind === 'named' ? [t.name] : [];
  }
  private declDeps(d: Decl): string[] {
    return 'type' in d ? this.typeDeps(d.type) : [];
  }

  /** Names of every type reachable from `roots`, in file order. */
  closure(roots: string[]): Definition[] {
    const seen = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name)) return;
      const d = this.defs.get(name);
      if (!d) throw new Error(`unknown type ${name}`);
      seen.add(name);
      const deps: string[] = [];
      if (d.kind === 'typedef') deps.push(...this.declDeps(d.decl));
      if (d.kind === 'struct') for (const f of d.fields) deps.push(...this.declDeps(f));
      if (d.kind === 'union') {
        deps.push(...this.declDeps(d.discriminant));
        for (const c of d.cases) deps.push(...this.declDeps(c.decl));
        if (d.default) deps.push(...this.declDeps(d.default));
      }
      deps.forEach(visit);
    };
    roots.forEach(visit);
    return this.all.filter((d) => seen.has(d.name) && d.kind !== 'const');
  }

  has(name: string): boolean {
    return this.defs.has(name);
  }

  private tsType(t: TypeRef): string {
    if (t.kind === 'named') return tsName(t.name);
    return t.name === 'hyper' || t.name === 'uhyper' ? 'bigint' : t.name === 'bool' ? 'boolean' : 'number';
  }

  declType(d: Decl): string {
    switch (d.kind) {
      case 'void':
        return 'void';
      case 'scalar':
        return this.tsType(d.type);
      case 'optional':
        return `${this.tsType(d.type)} | null`;
      case 'fixedArray':
      case 'varArray':
        return `Array<${this.tsType(d.type)}>`;
      case 'fixedOpaque':
      case 'varOpaque':
        return 'Buffer';
      case 'string':
        return 'string';
    }
  }

  private isEnum(t: TypeRef): boolean {
    return t.kind === 'named' && this.defs.get(t.name)?.kind === 'enum';
  }

  /** An expression for a function `(w, v) => void` encoding one value of type t. */
  private encFn(t: TypeRef, what: string): string {
    if (t.kind === 'named' && !this.isEnum(t)) return `encode${tsName(t.name)}`;
    return `(w: XdrWriter, v: ${this.tsType(t)}) => { ${this.encPrim(t, 'v', what)}; }`;
  }
  private encPrim(t: TypeRef, x: string, what: string): string {
    if (t.kind === 'named') return this.isEnum(t) ? `w.int(${x}, '${what}')` : `encode${tsName(t.name)}(w, ${x})`;
    const m = { int: 'int', uint: 'uint', hyper: 'hyper', uhyper: 'uhyper', double: 'double', bool: 'bool', float: '' }[t.name];
    if (!m) throw new Error(`${what}: XDR float is not supported`);
    return `w.${m}(${x}, '${what}')`;
  }
  private decFn(t: TypeRef, what: string): string {
    if (t.kind === 'named' && !this.isEnum(t)) return `decode${tsName(t.name)}`;
    return `(r: XdrReader) => ${this.decPrim(t, what)}`;
  }
  private decPrim(t: TypeRef, what: string): string {
    if (t.kind === 'named') return this.isEnum(t) ? `r.int('${what}')` : `decode${tsName(t.name)}(r)`;
    if (t.name === 'float') throw new Error(`${what}: XDR float is not supported`);
    return `r.${t.name}('${what}')`;
  }
  private max(s: Size | undefined): string {
    return s === undefined ? '0xffffffff' : String(this.num(s));
  }

  encDecl(d: Decl, x: string, what: string): string {
    switch (d.kind) {
      case 'void':
        return '';
      case 'scalar':
        return `${this.encPrim(d.type, x, what)};`;
      case 'optional':
        return `w.optional(${x}, ${this.encFn(d.type, what)});`;
      case 'fixedArray':
        return `w.fixedArray(${x}, ${this.num(d.size)}, ${this.encFn(d.type, what)}, '${what}');`;
      case 'varArray':
        return `w.varArray(${x}, ${this.max(d.max)}, ${this.encFn(d.type, what)}, '${what}');`;
      case 'fixedOpaque':
        return `w.fixedOpaque(${x}, ${this.num(d.size)}, '${what}');`;
      case 'varOpaque':
        return `w.varOpaque(${x}, ${this.max(d.max)}, '${what}');`;
      case 'string':
        return `w.string(${x}, ${this.max(d.max)}, '${what}');`;
    }
  }

  decDecl(d: Decl, what: string): string {
    switch (d.kind) {
      case 'void':
        return 'undefined';
      case 'scalar':
        return this.decPrim(d.type, what);
      case 'optional':
        return `r.optional(${this.decFn(d.type, what)}, '${what}')`;
      case 'fixedArray':
        return `r.fixedArray(${this.num(d.size)}, ${this.decFn(d.type, what)})`;
      case 'varArray':
        return `r.varArray(${this.max(d.max)}, ${this.decFn(d.type, what)}, '${what}')`;
      case 'fixedOpaque':
        return `r.fixedOpaque(${this.num(d.size)}, '${what}')`;
      case 'varOpaque':
        return `r.varOpaque(${this.max(d.max)}, '${what}')`;
      case 'string':
        return `r.string(${this.max(d.max)}, '${what}')`;
    }
  }

  /** TS + codec source for one definition. */
  definition(d: Definition): string {
    const n = tsName(d.name);
    const out: string[] = [];
    switch (d.kind) {
      case 'const':
        return `export const ${d.name} = ${this.num(d.value)};`;
      case 'enum': {
        out.push(`/** enum ${d.name} */`, `export type ${n} = number;`, `export const ${n} = {`);
        for (const m of d.members) out.push(`  ${m.name}: ${this.num(m.value)},`);
        out.push('} as const;');
        return out.join('\n');
      }
      case 'typedef': {
        out.push(`/** typedef ${d.name} */`, `export type ${n} = ${this.declType(d.decl)};`);
        out.push(`export function encode${n}(w: XdrWriter, v: ${n}): void {`, `  ${this.encDecl(d.decl, 'v', d.name)}`, '}');
        out.push(`export function decode${n}(r: XdrReader): ${n} {`, `  return ${this.decDecl(d.decl, d.name)};`, '}');
        return out.join('\n');
      }
      case 'struct': {
        const fields = d.fields.filter((f): f is Exclude<Decl, { kind: 'void' }> => f.kind !== 'void');
        out.push(`/** struct ${d.name} */`, `export interface ${n} {`);
        for (const f of fields) out.push(`  ${f.name}: ${this.declType(f)};`);
        out.push('}');
        out.push(`export function encode${n}(w: XdrWriter, v: ${n}): void {`);
        for (const f of fields) out.push(`  ${this.encDecl(f, `v.${f.name}`, `${d.name}.${f.name}`)}`);
        out.push('}');
        out.push(`export function decode${n}(r: XdrReader): ${n} {`, '  return {');
        for (const f of fields) out.push(`    ${f.name}: ${this.decDecl(f, `${d.name}.${f.name}`)},`);
        out.push('  };', '}');
        return out.join('\n');
      }
      case 'union':
        return this.union(d);
    }
  }

  /** A discriminated union: `{ <discriminant>: <case value>, <arm>: T }`. */
  private union(d: Extract<Definition, { kind: 'union' }>): string {
    const n = tsName(d.name);
    const disc = d.discriminant;
    if (disc.kind !== 'scalar') throw new Error(`${d.name}: discriminant must be a scalar`);
    const dn = disc.name;
    const discEnc = disc.type.kind === 'prim' && disc.type.name === 'uint' ? 'uint' : 'int';
    const arms = d.cases.map((c) => {
      const vals = c.values.map((v) => this.num(v));
      const arm = c.decl.kind === 'void' ? '' : `; ${c.decl.name}: ${this.declType(c.decl)}`;
      return { vals, decl: c.decl, ts: `{ ${dn}: ${vals.join(' | ')}${arm} }` };
    });
    const out: string[] = [`/** union ${d.name} switch (${dn}) */`, `export type ${n} =`];
    for (const [i, a] of arms.entries()) out.push(`  | ${a.ts}${i === arms.length - 1 && !d.default ? ';' : ''}`);
    if (d.default) {
      const arm = d.default.kind === 'void' ? '' : `; ${d.default.name}: ${this.declType(d.default)}`;
      out.push(`  | { ${dn}: number${arm} };`);
    }
    out.push(`export function encode${n}(w: XdrWriter, v: ${n}): void {`, `  w.${discEnc}(v.${dn}, '${d.name}.${dn}');`);
    out.push(`  switch (v.${dn}) {`);
    for (const a of arms) {
      out.push(`    ${a.vals.map((v) => `case ${v}:`).join(' ')}`);
      if (a.decl.kind !== 'void') out.push(`      ${this.encDecl(a.decl, `v.${a.decl.name}`, `${d.name}.${a.decl.name}`)}`);
      out.push('      return;');
    }
    if (d.default) {
      out.push('    default:');
      if (d.default.kind !== 'void')
        out.push(`      ${this.encDecl(d.default, `(v as { ${d.default.name}: never }).${d.default.name}`, d.name)}`);
      out.push('      return;');
    } else {
      out.push(`    default:`, `      throw new XdrEncodeError(\`${d.name}: unknown ${dn} \${String((v as { ${dn}: unknown }).${dn})}\`);`);
    }
    out.push('  }', '}');
    out.push(`export function decode${n}(r: XdrReader): ${n} {`, `  const ${dn} = r.${discEnc}('${d.name}.${dn}');`, `  switch (${dn}) {`);
    for (const a of arms) {
      const arm = a.decl.kind === 'void' ? '' : `, ${a.decl.name}: ${this.decDecl(a.decl, `${d.name}.${a.decl.name}`)}`;
      for (const v of a.vals) out.push(`    case ${v}: return { ${dn}: ${v}${arm} };`);
    }
    if (d.default) {
      const arm = d.default.kind === 'void' ? '' : `, ${d.default.name}: ${this.decDecl(d.default, d.name)}`;
      out.push(`    default: return { ${dn}${arm} };`);
    } else {
      out.push(`    default: throw new XdrDecodeError(\`${d.name}: unknown ${dn} \${${dn}}\`);`);
    }
    out.push('  }', '}');
    return out.join('\n');
  }
}

// A small parser for the XDR language (RFC 4506 §6) as used by libvirt's .x protocol files.
//
// It covers what remote_protocol.x uses: const, typedef, enum, struct, discriminated union,
// fixed/variable arrays, opaque, string, optional data (`*`), and rpcgen's `unsigned` shorthand.
// `%` passthrough lines (C for rpcgen) and comments are skipped. It throws with a line number on
// anything else, so a future libvirt using a new construct fails loudly at generation time.

export type Prim = 'int' | 'uint' | 'hyper' | 'uhyper' | 'double' | 'float' | 'bool';
export type TypeRef = { kind: 'prim'; name: Prim } | { kind: 'named'; name: string };
export type Size = number | string; // a literal or a constant's name

export type Decl =
  | { kind: 'void' }
  | { kind: 'scalar'; name: string; type: TypeRef }
  | { kind: 'optional'; name: string; type: TypeRef }
  | { kind: 'fixedArray'; name: string; type: TypeRef; size: Size }
  | { kind: 'varArray'; name: string; type: TypeRef; max?: Size }
  | { kind: 'fixedOpaque'; name: string; size: Size }
  | { kind: 'varOpaque'; name: string; max?: Size }
  | { kind: 'string'; name: string; max?: Size };

export interface UnionCase {
  values: Size[];
  decl: Decl;
}

export type Definition =
  | { kind: 'const'; name: string; value: Size; line: number }
  | { kind: 'typedef'; name: string; decl: Decl; line: number }
  | { kind: 'enum'; name: string; members: Array<{ name: string; value: Size }>; line: number }
  | { kind: 'struct'; name: string; fields: Decl[]; line: number }
  | { kind: 'union'; name: string; discriminant: Decl; cases: UnionCase[]; default?: Decl; line: number };

interface Token {
  text: string;
  line: number;
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`line ${line}: unterminated comment`);
      line += (src.slice(i, end).match(/\n/g) ?? []).length;
      i = end + 2;
      continue;
    }
    if (src.startsWith('//', i) || (c === '%' && (i === 0 || src[i - 1] === '\n'))) {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    const text = /^(0x[0-9a-fA-F]+|-?[0-9]+|[A-Za-z_][A-Za-z0-9_]*|[{}()[\]<>;,=*:])/.exec(src.slice(i, i + 64))?.[1];
    if (text === undefined) throw new Error(`line ${line}: unexpected character ${JSON.stringify(c)}`);
    tokens.push({ text, line });
    i += text.length;
  }
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(ahead = 0): string | undefined {
    return this.toks[this.pos + ahead]?.text;
  }
  private line(): number {
    return this.toks[Math.min(this.pos, this.toks.length - 1)]?.line ?? 0;
  }
  private next(): string {
    const t = this.toks[this.pos++];
    if (!t) throw new Error('unexpected end of input');
    return t.text;
  }
  private expect(text: string): void {
    const got = this.next();
    if (got !== text) throw new Error(`line ${this.line()}: expected '${text}', got '${got}'`);
  }
  private ident(): string {
    const t = this.next();
    if (!/^[A-Za-z_]/.test(t)) throw new Error(`line ${this.line()}: expected an identifier, got '${t}'`);
    return t;
  }
  private value(): Size {
    const t = this.next();
    if (/^-?[0-9]/.test(t)) return Number(t);
    if (/^[A-Za-z_]/.test(t)) return t;
    throw new Error(`line ${this.line()}: expected a value, got '${t}'`);
  }

  parse(): Definition[] {
    const defs: Definition[] = [];
    while (this.pos < this.toks.length) {
      const line = this.line();
      const kw = this.next();
      switch (kw) {
        case 'const': {
          const name = this.ident();
          this.expect('=');
          defs.push({ kind: 'const', name, value: this.value(), line });
          break;
        }
        case 'typedef': {
          const decl = this.declaration();
          if (decl.kind === 'void') throw new Error(`line ${line}: typedef void`);
          defs.push({ kind: 'typedef', name: decl.name, decl, line });
          break;
        }
        case 'enum':
          defs.push({ kind: 'enum', name: this.ident(), members: this.enumBody(), line });
          break;
        case 'struct': {
          const name = this.ident();
          defs.push({ kind: 'struct', name, fields: this.structBody(), line });
          break;
        }
        case 'union': {
          const name = this.ident();
          defs.push({ kind: 'union', name, ...this.unionBody(), line });
          break;
        }
        default:
          throw new Error(`line ${line}: unexpected '${kw}' at top level`);
      }
      this.expect(';');
    }
    return defs;
  }

  private enumBody(): Array<{ name: string; value: Size }> {
    this.expect('{');
    const members: Array<{ name: string; value: Size }> = [];
    for (;;) {
      const name = this.ident();
      this.expect('=');
      members.push({ name, value: this.value() });
      const sep = this.next();
      if (sep === '}') return members;
      if (sep !== ',') throw new Error(`line ${this.line()}: expected ',' or '}' in enum`);
    }
  }

  private structBody(): Decl[] {
    this.expect('{');
    const fields: Decl[] = [];
    while (this.peek() !== '}') {
      fields.push(this.declaration());
      this.expect(';');
    }
    this.expect('}');
    return fields;
  }

  private unionBody(): { discriminant: Decl; cases: UnionCase[]; default?: Decl } {
    this.expect('switch');
    this.expect('(');
    const discriminant = this.declaration();
    this.expect(')');
    this.expect('{');
    const cases: UnionCase[] = [];
    let dflt: Decl | undefined;
    while (this.peek() !== '}') {
      if (this.peek() === 'default') {
        this.next();
        this.expect(':');
        dflt = this.declaration();
        this.expect(';');
        continue;
      }
      const values: Size[] = [];
      while (this.peek() === 'case') {
        this.next();
        values.push(this.value());
        this.expect(':');
      }
      if (values.length === 0) throw new Error(`line ${this.line()}: expected 'case' or 'default'`);
      cases.push({ values, decl: this.declaration() });
      this.expect(';');
    }
    this.expect('}');
    return dflt ? { discriminant, cases, default: dflt } : { discriminant, cases };
  }

  private typeSpec(): TypeRef {
    const t = this.next();
    switch (t) {
      case 'unsigned': {
        const n = this.peek();
        if (n === 'hyper') {
          this.next();
          return { kind: 'prim', name: 'uhyper' };
        }
        // rpcgen: unsigned char/short are encoded as a 4-byte unsigned int.
        if (n === 'int' || n === 'char' || n === 'short') this.next();
        return { kind: 'prim', name: 'uint' };
      }
      case 'int':
      case 'char':
      case 'short':
        return { kind: 'prim', name: 'int' };
      case 'hyper':
        return { kind: 'prim', name: 'hyper' };
      case 'double':
        return { kind: 'prim', name: 'double' };
      case 'float':
        return { kind: 'prim', name: 'float' };
      case 'bool':
        return { kind: 'prim', name: 'bool' };
      case 'struct':
      case 'enum':
      case 'union':
        throw new Error(`line ${this.line()}: inline ${t} definitions are not supported`);
      default:
        if (!/^[A-Za-z_]/.test(t)) throw new Error(`line ${this.line()}: expected a type, got '${t}'`);
        return { kind: 'named', name: t };
    }
  }

  declaration(): Decl {
    if (this.peek() === 'void') {
      this.next();
      return { kind: 'void' };
    }
    if (this.peek() === 'opaque' || this.peek() === 'string') {
      const kw = this.next();
      const name = this.ident();
      const open = this.next();
      if (kw === 'opaque' && open === '[') {
        const size = this.value();
        this.expect(']');
        return { kind: 'fixedOpaque', name, size };
      }
      if (open !== '<') throw new Error(`line ${this.line()}: expected '<' after ${kw} ${name}`);
      const max = this.peek() === '>' ? undefined : this.value();
      this.expect('>');
      const kind = kw === 'opaque' ? 'varOpaque' : 'string';
      return max === undefined ? { kind, name } : { kind, name, max };
    }
    const type = this.typeSpec();
    if (this.peek() === '*') {
      this.next();
      return { kind: 'optional', name: this.ident(), type };
    }
    const name = this.ident();
    if (this.peek() === '[') {
      this.next();
      const size = this.value();
      this.expect(']');
      return { kind: 'fixedArray', name, type, size };
    }
    if (this.peek() === '<') {
      this.next();
      const max = this.peek() === '>' ? undefined : this.value();
      this.expect('>');
      return max === undefined ? { kind: 'varArray', name, type } : { kind: 'varArray', name, type, max };
    }
    return { kind: 'scalar', name, type };
  }
}

export function parseXdr(src: string): Definition[] {
  return new Parser(tokenize(src)).parse();
}

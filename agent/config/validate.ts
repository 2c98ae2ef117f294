/**
 * Turns the parsed YAML tree plus the environment and flag overrides into an
 * AgentConfig, or a ConfigError that lists every problem at once, each with
 * the dotted key, where the value came from, and what the key allows.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { buildAgentConfig, type AgentConfig } from './agent-config.js';
import { closest } from './did-you-mean.js';
import { describeAllowed, fieldSpec, FIELD_KEYS, FIELDS, isSection, type FieldKey, type FieldSpec, type FieldValue } from './fields.js';

export interface ConfigIssue {
  /** Dotted path of the key ("listen.port"), or of the section for cross-key rules. */
  key: string;
  /** What is wrong and what is allowed. */
  message: string;
  /** Where the value came from: "ferryd.yaml:12", "FERRY_LISTEN_PORT", "--set". */
  origin?: string;
}

export class ConfigError extends FerryError {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super('INVALID_ARGUMENT', formatIssues(issues), issues[0] ? { field: issues[0].key } : {});
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string {
  const lines = issues.map((i) => `  ${i.origin ? `${i.origin}: ` : ''}${i.key}: ${i.message}`);
  return `invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${lines.join('\n')}`;
}

/** One value set outside the file; `value` is still text and is parsed per key. */
export interface Override {
  key: string;
  value: string;
  origin: string;
}

export interface ValidateInput {
  /** The YAML document as plain data (null or undefined for an empty file). */
  tree: unknown;
  overrides?: readonly Override[];
  /** The file name, for origins and AgentConfig.source. */
  file?: string | null;
  /** "file:line" of a dotted key in the file, when known. */
  locate?: (key: string) => string | undefined;
  /** Why a file cannot be read, or undefined; the default asks the file system. */
  checkReadable?: (file: string) => string | undefined;
}

export function validateConfig(input: ValidateInput): AgentConfig {
  const issues: ConfigIssue[] = [];
  const values = new Map<FieldKey, FieldValue>();
  const origins = new Map<string, string>();
  const fileOrigin = (key: string) => input.locate?.(key) ?? input.file ?? undefined;
  const report = (key: string, message: string, origin = origins.get(key) ?? fileOrigin(key)) =>
    issues.push(origin === undefined ? { key, message } : { key, message, origin });

  const accept = (key: FieldKey, raw: unknown, origin: string | undefined) => {
    if (origin !== undefined) origins.set(key, origin);
    const problem = checkValue(FIELDS[key], raw);
    if (problem) report(key, problem);
    else values.set(key, raw as FieldValue);
  };

  walk(input.tree ?? {}, '', issues, fileOrigin, (key, raw) => accept(key, raw, fileOrigin(key)));

  for (const override of input.overrides ?? []) {
    const spec = fieldSpec(override.key);
    if (!spec) {
      report(override.key, unknownKeyMessage(override.key), override.origin);
      continue;
    }
    // An override replaces the file's value, and so any complaint about it.
    for (let i = issues.length - 1; i >= 0; i--) if (issues[i]?.key === override.key) issues.splice(i, 1);
    values.delete(override.key as FieldKey);
    accept(override.key as FieldKey, parseText(spec, override.value), override.origin);
  }

  const failed = new Set(issues.map((i) => i.key));
  const complete = Object.fromEntries(FIELD_KEYS.map((key) => [key, values.get(key) ?? FIELDS[key].default])) as Record<
    FieldKey,
    FieldValue
  >;
  crossChecks(complete, failed, report, input.checkReadable ?? readableProblem);

  if (issues.length > 0) throw new ConfigError(issues);
  return buildAgentConfig(complete, input.file ?? null);
}

/** Visits every leaf of the tree; reports unknown keys and misplaced sections. */
function walk(
  node: unknown,
  prefix: string,
  issues: ConfigIssue[],
  origin: (key: string) => string | undefined,
  leaf: (key: FieldKey, raw: unknown) => void,
): void {
  const where = prefix || 'the configuration';
  if (!isPlainObject(node)) {
    const o = origin(prefix);
    issues.push({ key: where, message: `must be a mapping of keys, got ${describe(node)}`, ...(o ? { origin: o } : {}) });
    return;
  }
  for (const [name, value] of Object.entries(node)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (fieldSpec(key)) leaf(key as FieldKey, value);
    else if (isSection(key)) walk(value, key, issues, origin, leaf);
    else {
      const o = origin(key);
      issues.push({ key, message: unknownKeyMessage(key), ...(o ? { origin: o } : {}) });
    }
  }
}

function unknownKeyMessage(key: string): string {
  const dot = key.lastIndexOf('.');
  const parent = dot < 0 ? '' : key.slice(0, dot);
  const name = key.slice(dot + 1);
  // Names valid right here: the keys and sections one level below `parent`.
  const siblings = new Set<string>();
  for (const full of FIELD_KEYS) {
    if (parent && !full.startsWith(`${parent}.`)) continue;
    const [sibling = ''] = full.slice(parent ? parent.length + 1 : 0).split('.');
    siblings.add(sibling);
  }
  const near = closest(name, siblings);
  if (near) return `unknown key; did you mean ${parent ? `${parent}.` : ''}${near}?`;
  // A right name in the wrong section ("port" at the top level).
  const elsewhere = FIELD_KEYS.filter((full) => full.split('.').includes(name));
  if (elsewhere.length > 0) return `unknown key here; did you mean ${elsewhere.join(' or ')}?`;
  const known = [...siblings].sort().join(', ');
  return `unknown key; ${parent ? `${parent} has` : 'the top level has'}: ${known}`;
}

/** The problem with a value of the right key, or undefined. */
export function checkValue(spec: FieldSpec, raw: unknown): string | undefined {
  const allowed = describeAllowed(spec);
  if (raw === null || raw === undefined) {
    return `has no value; give ${allowed}, or remove the key for the default (${JSON.stringify(spec.default)})`;
  }
  switch (spec.kind) {
    case 'int':
      if (typeof raw !== 'number' || !Number.isInteger(raw)) return `must be ${allowed}, got ${describe(raw)}`;
      if (raw < spec.min || raw > spec.max) return `${raw} is out of range; must be ${allowed}`;
      return undefined;
    case 'bool':
      return typeof raw === 'boolean' ? undefined : `must be ${allowed}, got ${describe(raw)}`;
    case 'enum':
      if (typeof raw !== 'string' || !spec.values.includes(raw)) {
        const near =
          typeof raw === 'string'
            ? closest(
                raw,
                spec.values.filter((v) => v !== ''),
              )
            : undefined;
        return `must be ${allowed}, got ${describe(raw)}${near ? `; did you mean ${near}?` : ''}`;
      }
      return undefined;
    case 'path':
      if (typeof raw !== 'string') return `must be ${allowed}, got ${describe(raw)}`;
      return path.isAbsolute(raw) && !raw.includes('\0') ? undefined : `"${raw}" is not an absolute path`;
    case 'string':
      if (typeof raw !== 'string') return `must be ${allowed}, got ${describe(raw)}`;
      return spec.check?.(raw);
  }
}

/** Text from the environment or a flag, typed per key (checkValue reports the rest). */
export function parseText(spec: FieldSpec, text: string): unknown {
  switch (spec.kind) {
    case 'int':
      return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text;
    case 'bool': {
      const lower = text.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
      if (['0', 'false', 'no', 'off'].includes(lower)) return false;
      return text;
    }
    default:
      return text;
  }
}

type Report = (key: string, message: string, origin?: string) => void;

/** Rules across keys; skipped for keys that already failed on their own. */
function crossChecks(
  v: Record<FieldKey, FieldValue>,
  failed: Set<string>,
  report: Report,
  readable: (f: string) => string | undefined,
): void {
  const first = v['migration.port_range.first'] as number;
  const last = v['migration.port_range.last'] as number;
  if (!failed.has('migration.port_range.first') && !failed.has('migration.port_range.last') && first > last) {
    report(
      'migration.port_range',
      `first (${first}) is greater than last (${last}); the range is inclusive, e.g. first: 49152, last: 49215`,
    );
  }
  if (v['tls.insecure'] === false) {
    for (const key of ['tls.ca_file', 'tls.cert_file', 'tls.key_file'] as const) {
      if (failed.has(key)) continue;
      const problem = readable(v[key] as string);
      if (problem) report(key, `${problem} (TLS is required unless tls.insecure is true)`);
    }
  }
  if (v['policy.compression'] === 'xbzrle' && (v['policy.parallel_connections'] as number) > 1) {
    report('policy.compression', 'xbzrle works with a single connection only; use zstd or zlib with policy.parallel_connections > 1');
  }
  if (
    v['metrics.enabled'] === true &&
    !failed.has('metrics.port') &&
    !failed.has('listen.port') &&
    v['metrics.port'] === v['listen.port']
  ) {
    report('metrics.port', `${v['metrics.port']} is listen.port too: gRPC and the metrics endpoint need ports of their own (default 9469)`);
  }
}

function readableProblem(file: string): string | undefined {
  try {
    if (!fs.statSync(file).isFile()) return `${file} is not a regular file`;
    fs.accessSync(file, fs.constants.R_OK);
    return undefined;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${file} does not exist`;
    if (code === 'EACCES') return `${file} is not readable`;
    return `${file}: ${(err as Error).message}`;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (isPlainObject(value)) return 'a mapping';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return String(value);
}

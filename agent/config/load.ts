/**
 * Where the configuration comes from, in increasing precedence: defaults,
 * the YAML file (/etc/ferry/ferryd.yaml unless --config or FERRY_CONFIG says
 * otherwise), FERRY_… environment variables, then command-line flags. The lab
 * and the tests use the last two; an operator edits the file.
 */
import fs from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { must } from '../../shared/must.js';
import type { AgentConfig } from './agent-config.js';
import { envName, FIELD_KEYS } from './fields.js';
import { ConfigError, validateConfig, type ConfigIssue, type Override } from './validate.js';

export const DEFAULT_CONFIG_FILE = '/etc/ferry/ferryd.yaml';

/**
 * The configuration flags as the command line parsed them
 * (agent/daemon/command-line.ts); each is optional.
 */
export interface ConfigFlags {
  /** --config FILE: the YAML file. */
  config?: string;
  /** --set KEY=VALUE, in order. */
  set?: readonly string[];
  /** --listen HOST:PORT. */
  listen?: string;
  /** --insecure. */
  insecure?: boolean;
  /** --log-level LEVEL. */
  logLevel?: string;
}

export interface LoadOptions {
  /** The file read when neither --config nor FERRY_CONFIG names one. */
  defaultFile?: string;
  /**
   * Whether the TLS files must be readable (default true). `ferryd facts`
   * reads no certificate, so it does not need them.
   */
  checkTlsFiles?: boolean;
}

export interface LoadedConfig {
  config: AgentConfig;
  /** Things to log once the logger exists (it needs the configured level). */
  notes: string[];
}

/**
 * Reads and validates the whole configuration. Throws ConfigError listing
 * every problem; the caller prints err.message and exits (status 2 is what
 * systemd's RestartPreventExitStatus in ferryd.service expects).
 */
export function loadConfig(flags: ConfigFlags = {}, env: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): LoadedConfig {
  const defaultFile = options.defaultFile ?? DEFAULT_CONFIG_FILE;
  const notes: string[] = [];
  const explicitFile = flags.config ?? nonEmpty(env.FERRY_CONFIG);
  const file = explicitFile ?? defaultFile;

  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || explicitFile !== undefined) {
      throw new ConfigError([{ key: 'the configuration file', message: `cannot read ${file}: ${(err as Error).message}` }]);
    }
    notes.push(`no configuration file at ${file}: using defaults, FERRY_* variables and flags`);
  }

  const overrides = [...envOverrides(env), ...flagOverrides(flags)];
  const checks = options.checkTlsFiles === false ? { checkReadable: () => undefined } : {};
  if (text === undefined) return { config: validateConfig({ tree: {}, overrides, file: null, ...checks }), notes };
  const { tree, locate } = parseYaml(text, file);
  return { config: validateConfig({ tree, overrides, file, locate, ...checks }), notes };
}

/** Parses the file; YAML syntax errors become issues with line and column. */
export function parseYaml(text: string, file: string): { tree: unknown; locate: (key: string) => string | undefined } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const issues: ConfigIssue[] = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      const [firstLine = e.message] = e.message.split('\n');
      return { key: 'YAML syntax', message: firstLine, origin: `${file}:${line}:${col}` };
    });
    throw new ConfigError(issues);
  }
  const locate = (key: string): string | undefined => {
    // The line of the key itself (a section's value starts on the next line);
    // for a path that is not in the file, the nearest enclosing key.
    const parts = key.split('.');
    for (let n = parts.length; n > 0; n--) {
      const parent = n === 1 ? doc.contents : doc.getIn(parts.slice(0, n - 1), true);
      if (!isMap(parent)) continue;
      const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === parts[n - 1]);
      const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (range) return `${file}:${lineCounter.linePos(range[0]).line}`;
    }
    return file;
  };
  return { tree: doc.toJS({ maxAliasCount: 100 }), locate };
}

function envOverrides(env: NodeJS.ProcessEnv): Override[] {
  const out: Override[] = [];
  // Shorthands first, so the exact per-key variables win over them.
  const listen = nonEmpty(env.FERRY_LISTEN);
  if (listen !== undefined) out.push(...splitListen(listen, 'FERRY_LISTEN'));
  const insecure = nonEmpty(env.FERRY_INSECURE);
  if (insecure !== undefined) out.push({ key: 'tls.insecure', value: insecure, origin: 'FERRY_INSECURE' });
  for (const key of FIELD_KEYS) {
    const name = envName(key);
    const value = nonEmpty(env[name]);
    if (value !== undefined) out.push({ key, value, origin: name });
  }
  return out;
}

function flagOverrides(flags: ConfigFlags): Override[] {
  const out: Override[] = [];
  if (flags.listen !== undefined) out.push(...splitListen(flags.listen, '--listen'));
  if (flags.insecure) out.push({ key: 'tls.insecure', value: 'true', origin: '--insecure' });
  if (flags.logLevel !== undefined) out.push({ key: 'log.level', value: flags.logLevel, origin: '--log-level' });
  for (const assignment of flags.set ?? []) {
    const eq = assignment.indexOf('=');
    if (eq <= 0)
      throw new ConfigError([{ key: 'command line', message: `--set ${assignment}: expected KEY=VALUE, e.g. --set listen.port=54321` }]);
    out.push({ key: assignment.slice(0, eq).trim(), value: assignment.slice(eq + 1), origin: '--set' });
  }
  return out;
}

/** "198.18.0.2:54321" or "[::1]:54321" into the two keys. */
function splitListen(value: string, origin: string): Override[] {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:[\]]+):(\d+)$/.exec(value);
  if (!match) {
    throw new ConfigError([{ key: 'listen', origin, message: `"${value}" is not HOST:PORT, e.g. 0.0.0.0:54321 or [::]:54321` }]);
  }
  return [
    { key: 'listen.address', value: must(match[1], 'host of a matched HOST:PORT'), origin },
    { key: 'listen.port', value: must(match[2], 'port of a matched HOST:PORT'), origin },
  ];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

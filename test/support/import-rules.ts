/**
 * The agent's dependency rule, as a check over a source tree (README, "Code layout"):
 *  - agent/libvirt/ imports nothing but node: modules and its own files;
 *  - the cores — the migration core (agent/migration/) and the maintenance core
 *    (agent/maintenance/), built on it — import no node:fs, no node:child_process,
 *    no @grpc/* or @opentelemetry/* package and no adapter: they know their ports only
 *    (tracing too: the Tracer port in agent/migration/tracing.ts);
 *  - adapters (the other agent/ folders and agent/main.ts), and one core using the
 *    other, go through a core's public entry (its index.ts), never its internals.
 * shared/ may be imported by anyone. Type-only imports count: a type is a dependency too.
 *
 * Every module reference the TypeScript parser sees counts: import and export ... from,
 * import x = require(...), dynamic import(), import('...') types and require('...') calls.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { posix, join, relative, sep } from 'node:path';
import ts from 'typescript';

export type RuleName = 'libvirt-self-contained' | 'core-knows-ports-only' | 'core-through-its-entry';

/** One module reference in a file of the tree. */
export interface Import {
  /** Path of the importing file, relative to the tree root, with '/' separators. */
  file: string;
  line: number;
  /** The module specifier as written. */
  specifier: string;
}

export interface Violation extends Import {
  rule: RuleName;
  /** One line: file:line, the import, and what the rule demands. */
  message: string;
}

/** Folders of agent/ that adapt the core to the outside world. */
export const ADAPTER_FOLDERS = [
  'rpc',
  'hypervisor',
  'firewall',
  'peers',
  'network',
  'journal',
  'storage',
  'libvirt',
  'host',
  'cli',
  'systemd',
  'tls',
  'config',
  'events',
  'telemetry',
  'transfer',
].map((f) => `agent/${f}`);

const CORES = ['agent/migration', 'agent/maintenance'];
const LIBVIRT = 'agent/libvirt';
const FORBIDDEN_IN_CORE = /^(node:)?(fs|child_process)(\/.*)?$|^@grpc\/|^@opentelemetry\/|^prom-client$/;

function ruleText(rule: RuleName, core: string): string {
  switch (rule) {
    case 'libvirt-self-contained':
      return 'agent/libvirt/ may import only node: modules and files inside agent/libvirt/';
    case 'core-knows-ports-only':
      return `${core}/ may not import node:fs, node:child_process, @grpc/*, @opentelemetry/*, prom-client or an adapter folder`;
    case 'core-through-its-entry':
      return `adapters may import ${core}/ only through its public entry, ${core}/index.ts`;
  }
}

/** Checks every .ts file under root/agent; an empty list means the tree keeps the rule. */
export function checkImportRules(root: string): Violation[] {
  return listImports(root).flatMap(judge);
}

/** Every module reference in the .ts files under root/agent, in path order. */
export function listImports(root: string): Import[] {
  return sourceFiles(join(root, 'agent')).flatMap((path) => {
    const file = relative(root, path).split(sep).join('/');
    const source = ts.createSourceFile(file, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    return moduleReferences(source).map(({ specifier, pos }) => ({
      file,
      line: source.getLineAndCharacterOfPosition(pos).line + 1,
      specifier,
    }));
  });
}

function judge({ file, line, specifier }: Import): Violation[] {
  return brokenRules(file, specifier, resolveWithinTree(file, specifier)).map(([rule, core]) => ({
    file,
    line,
    specifier,
    rule,
    message: `${file}:${line}: imports '${specifier}': ${ruleText(rule, core)}`,
  }));
}

function brokenRules(from: string, specifier: string, target: string | undefined): Array<[RuleName, string]> {
  const broken: Array<[RuleName, string]> = [];
  if (within(from, LIBVIRT)) {
    const allowed = target === undefined ? specifier.startsWith('node:') : within(target, LIBVIRT);
    if (!allowed) broken.push(['libvirt-self-contained', LIBVIRT]);
  }
  const home = CORES.find((core) => within(from, core));
  if (home) {
    const forbidden = target === undefined ? FORBIDDEN_IN_CORE.test(specifier) : isAdapter(target);
    if (forbidden) broken.push(['core-knows-ports-only', home]);
  }
  const entered = target === undefined ? undefined : CORES.find((core) => within(target, core));
  if (entered && entered !== home && (isAdapter(from) || home) && target !== `${entered}/index`) {
    broken.push(['core-through-its-entry', entered]);
  }
  return broken;
}

function isAdapter(path: string): boolean {
  return stripExtension(path) === 'agent/main' || ADAPTER_FOLDERS.some((folder) => within(path, folder));
}

function within(path: string, folder: string): boolean {
  return path === folder || path.startsWith(`${folder}/`);
}

/**
 * The tree path a relative specifier names, without extension ('agent/migration/ports'),
 * or undefined for a package or node: module.
 */
function resolveWithinTree(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return undefined;
  const joined = specifier.startsWith('/') ? posix.normalize(specifier) : posix.join(posix.dirname(from), specifier);
  return stripExtension(joined);
}

function stripExtension(path: string): string {
  return path.replace(/\.(d\.ts|[cm]?[jt]s)$/, '');
}

interface ModuleReference {
  specifier: string;
  pos: number;
}

function moduleReferences(source: ts.SourceFile): ModuleReference[] {
  const found: ModuleReference[] = [];
  const add = (node: ts.Node | undefined): void => {
    if (node && ts.isStringLiteralLike(node)) found.push({ specifier: node.text, pos: node.getStart(source) });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node.moduleReference.expression);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal);
    } else if (ts.isCallExpression(node) && isImportOrRequire(node.expression)) {
      add(node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function isImportOrRequire(callee: ts.Expression): boolean {
  return callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require');
}

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.ts')) files.push(path);
  }
  return files.sort();
}

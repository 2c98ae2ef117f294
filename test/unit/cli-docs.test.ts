// ferryctl's reference material cannot drift from its command tree: every
// command and flag is in the man page and in the bash completion, which is
// generated from the same tree, and the help states the exit status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { bashCompletion } from '../../agent/cli/completion.js';
import { createProgram } from '../../agent/cli/program.js';
import { closest } from '../../agent/cli/suggest.js';
import { loadFerryProto } from '../../shared/proto.js';
import { REPO_ROOT } from '../support/lab.js';

interface Entry {
  path: string;
  flags: string[];
}

function walk(command: CommandUnknownOpts, prefix: string, out: Entry[]): Entry[] {
  for (const sub of command.commands) {
    const p = prefix ? `${prefix} ${sub.name()}` : sub.name();
    out.push({ path: p, flags: sub.options.map((o) => o.long).filter((f): f is string => f !== undefined) });
    walk(sub, p, out);
  }
  return out;
}

const program = createProgram();
const commands = walk(program, '', []);
const troff = (text: string) => text.replaceAll('-', '\\-');

test('the tree has a command for every engine-facing RPC', () => {
  const paths = commands.map((c) => c.path);
  for (const expected of [
    'migrate',
    'check',
    'watch',
    'status',
    'list',
    'cancel',
    'set-speed',
    'set-downtime',
    'postcopy',
    'limits',
    'host info',
    'host stats',
    'host vms',
    'maintenance enter',
    'maintenance status',
    'maintenance exit',
    'events',
    'hibernate',
    'restore',
    'completion',
    'help',
  ]) {
    assert.ok(paths.includes(expected), `no command ${expected}`);
  }
});

test('every RPC of MigrationService and HostService has a command that names it (a new RPC needs one)', () => {
  const definition = loadFerryProto().definition;
  const descriptions: string[] = [];
  const collect = (command: CommandUnknownOpts) => {
    for (const sub of command.commands) {
      descriptions.push(sub.description());
      collect(sub);
    }
  };
  collect(program);
  for (const service of ['ferry.v1.MigrationService', 'ferry.v1.HostService']) {
    for (const rpc of Object.keys(definition[service] as object)) {
      assert.ok(
        descriptions.some((d) => new RegExp(`\\(${rpc}[,)]`).test(d)),
        `no ferryctl command for ${service}/${rpc}`,
      );
    }
  }
});

test('the man page has a section for every command and names every flag', () => {
  const man = readFileSync(path.join(REPO_ROOT, 'docs/man/ferryctl.1'), 'utf8');
  const sections = man.split('\n').filter((line) => line.startsWith('.SS '));
  for (const { path: p, flags } of commands) {
    if (p === 'host' || p === 'maintenance') continue; // groups: their subcommands have the sections
    assert.ok(
      sections.some((s) => s.startsWith(`.SS "${troff(p)} `) || s === `.SS "${troff(p)}"`),
      `no .SS section for ${p}`,
    );
    for (const flag of flags) assert.ok(man.includes(troff(flag)), `${p}: ${flag} is not in the man page`);
  }
  for (const global of program.options) assert.ok(man.includes(troff(global.long ?? '')), `${global.long} is not in the man page`);
  assert.match(man, /\.SH EXIT STATUS[\s\S]*\.B 130/);
});

test('the completion script lists every command and flag', () => {
  const script = bashCompletion(program);
  for (const { path: p, flags } of commands) {
    const line = script.split('\n').find((l) => l.trim().startsWith(`'${p}')`) && l.includes('--help'));
    assert.ok(line, `no flag list for ${p}`);
    for (const flag of flags) assert.ok(line.includes(` ${flag} `) || line.includes(`'${flag} `), `${p}: ${flag} is not completed`);
  }
  assert.match(script, /^complete -F _ferryctl ferryctl$/m);
  assert.match(script, /'migrate\|--compression'\) echo 'none zlib zstd xbzrle'/);
  assert.match(script, /\*'\|--cert'\) echo '@file'/);
});

test("the help's epilogue states the exit status and the Ctrl-C policy", () => {
  let text = '';
  program.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  program.outputHelp();
  assert.match(text, /Exit status:\n {2}0 {4}done\n {2}1 {4}the operation failed/);
  assert.match(text, /2 {4}usage: .*nothing was sent/);
  assert.match(text, /130 {2}interrupted/);
  assert.match(text, /--cancel-on-interrupt, Ctrl-C cancels the job/);
});

test('did-you-mean: a slip, a prefix, and nothing for a word far from every name', () => {
  const names = commands.filter((c) => !c.path.includes(' ')).map((c) => c.path);
  assert.equal(closest('migrat', names), 'migrate');
  assert.equal(closest('stauts', names), 'status');
  assert.equal(closest('lsit', names), 'list');
  assert.equal(closest('set-sp', names), 'set-speed');
  assert.equal(closest('frobnicate', names), undefined);
});

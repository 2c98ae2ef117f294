// ferryd(8) cannot drift from the program: every command and option that
// `ferryd --help` lists, every signal ferryd handles and the default files of
// the configuration are in the page, with the sections an operator looks for.
// (groff's lint of the page is in test/integration/ferryd-command-line.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseCommandLine } from '../../agent/daemon/command-line.js';
import { DEFAULT_CONFIG_FILE, FIELDS } from '../../agent/config/index.js';
import { REPO_ROOT } from '../support/lab.js';

/** The page as text: troff's escaped hyphens and font changes removed. */
const page = fs
  .readFileSync(path.join(REPO_ROOT, 'docs/man/ferryd.8'), 'utf8')
  .replace(/\\-/g, '-')
  .replace(/\\f[BIRP]/g, '')
  .replace(/\\&/g, '');

function help(...argv: string[]): string {
  const out: string[] = [];
  const result = parseCommandLine([...argv, '--help'], { out: (t) => out.push(t), err: () => undefined });
  assert.deepEqual(result, { exit: 0 });
  return out.join('');
}

test('every command of `ferryd --help` has its own entry in COMMANDS', () => {
  const commands = [...help().matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]!);
  assert.deepEqual(commands, ['run', 'check-config', 'facts', 'help']);
  const section = page.slice(page.indexOf('.SH COMMANDS'), page.indexOf('.SH OPTIONS'));
  for (const command of commands) assert.match(section, new RegExp(`^\\.(TP\\n\\.B|BR) ${command}\\b`, 'm'), command);
});

test('every option of every command is in OPTIONS', () => {
  const options = new Set<string>();
  for (const argv of [[], ['run'], ['check-config'], ['facts']]) {
    for (const m of help(...argv).matchAll(/(?:^|\s)(--?[a-zA-Z][a-z-]*)/g)) options.add(m[1]!);
  }
  for (const expected of ['--config', '--set', '--listen', '--insecure', '--log-level', '--help', '-h', '--version', '-V']) {
    assert.ok(options.has(expected), `--help lists ${expected}`);
  }
  const section = page.slice(page.indexOf('.SH OPTIONS'), page.indexOf('.SH CONFIGURATION'));
  // Its own entry: ".BI --config …", or ".BR -h ", " --help".
  for (const option of options) assert.match(section, new RegExp(`^\\.(BI|BR|B) (\\S+ ", " )?${option}\\b`, 'm'), option);
});

test('the sections of a daemon page, the signals, and the default files', () => {
  for (const section of [
    'NAME',
    'SYNOPSIS',
    'DESCRIPTION',
    'COMMANDS',
    'OPTIONS',
    'FILES',
    'SIGNALS',
    'ENVIRONMENT',
    'EXIT STATUS',
    'SEE ALSO',
  ]) {
    assert.match(page, new RegExp(`^\\.SH ${section}$`, 'm'), section);
  }
  for (const signal of ['SIGHUP', 'SIGTERM', 'SIGINT']) assert.match(page, new RegExp(`\\b${signal}\\b`), signal);
  for (const word of ['RELOADING=1', 'MONOTONIC_USEC=', 'READY=1', 'JOURNAL_STREAM', 'JOB_ID', 'VM_ID', 'FERRY_CONFIG']) {
    assert.ok(page.includes(word), word);
  }
  const files = page.slice(page.indexOf('.SH FILES'), page.indexOf('.SH SIGNALS'));
  for (const file of [
    DEFAULT_CONFIG_FILE,
    FIELDS['tls.ca_file'].default,
    FIELDS['tls.cert_file'].default,
    FIELDS['tls.key_file'].default,
    FIELDS.state_directory.default,
    FIELDS['libvirt.socket'].default,
  ]) {
    assert.ok(files.includes(`.I ${file}\n`), `FILES lists ${file}`);
  }
  const exit = page.slice(page.indexOf('.SH EXIT STATUS'), page.indexOf('.SH EXAMPLES'));
  for (const status of ['0', '1', '2']) assert.match(exit, new RegExp(`^\\.TP\\n\\.B ${status}$`, 'm'));
});

// ferryd's command line, parsed in process: the commands and their flags,
// help and version (exit 0, on stdout), and every kind of usage error (exit 2,
// on stderr, with a hint) before anything starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parseCommandLine, type CommandLine } from '../../agent/daemon/command-line.js';
import { ferryVersion } from '../../agent/host/version.js';
import { REPO_ROOT } from '../support/lab.js';

function parse(...argv: string[]): { result: CommandLine; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const result = parseCommandLine(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { result, out: out.join(''), err: err.join('') };
}

function invocation(...argv: string[]) {
  const { result, err } = parse(...argv);
  assert.ok('invocation' in result, `expected a command for ${argv.join(' ')}, got exit ${JSON.stringify(result)}: ${err}`);
  return result.invocation;
}

function usageError(...argv: string[]): string {
  const { result, out, err } = parse(...argv);
  assert.deepEqual(result, { exit: 2 }, `ferryd ${argv.join(' ')}`);
  assert.equal(out, '', 'nothing on stdout');
  assert.match(err, /ferryd --help lists the commands and options/);
  return err;
}

test('no command runs the agent, as `ferryd --config F` always did', () => {
  assert.deepEqual(invocation(), { command: 'run', flags: {} });
  assert.deepEqual(invocation('--config', '/etc/ferry/ferryd.yaml'), { command: 'run', flags: { config: '/etc/ferry/ferryd.yaml' } });
  assert.deepEqual(invocation('--insecure', '--listen', '127.0.0.1:7000'), {
    command: 'run',
    flags: { insecure: true, listen: '127.0.0.1:7000' },
  });
});

test('each command takes every configuration flag; --set repeats in order', () => {
  for (const command of ['run', 'check-config', 'facts'] as const) {
    assert.deepEqual(
      invocation(
        command,
        '--config',
        'f.yaml',
        '--set',
        'limits.max_outgoing=4',
        '--set',
        'log.level=debug',
        '--log-level',
        'warn',
        '--insecure',
      ),
      {
        command,
        flags: { config: 'f.yaml', set: ['limits.max_outgoing=4', 'log.level=debug'], logLevel: 'warn', insecure: true },
      },
    );
  }
  assert.deepEqual(invocation('check-config', '--config=x.yaml'), { command: 'check-config', flags: { config: 'x.yaml' } });
});

test('--help, help, help COMMAND and COMMAND --help print to stdout and exit 0', () => {
  for (const argv of [['--help'], ['-h'], ['help']]) {
    const { result, out, err } = parse(...argv);
    assert.deepEqual(result, { exit: 0 }, argv.join(' '));
    assert.equal(err, '');
    assert.match(out, /^Usage: ferryd \[command\] \[options\]/);
    for (const command of ['run', 'check-config', 'facts', 'help']) assert.match(out, new RegExp(`^  ${command} `, 'm'));
    assert.match(out, /Exit status: 0 done; 1 failed at run time; 2 usage or configuration error/);
  }
  for (const argv of [
    ['help', 'check-config'],
    ['check-config', '--help'],
  ]) {
    const { result, out } = parse(...argv);
    assert.deepEqual(result, { exit: 0 });
    assert.match(out, /^Usage: ferryd check-config \[options\]/);
    assert.match(out, /--set <key=value>/);
    assert.match(out, /TLS files/);
  }
  // A flag before --help is not run: help wins.
  const { result, out } = parse('--insecure', '--help');
  assert.deepEqual(result, { exit: 0 });
  assert.match(out, /^Usage: ferryd run \[options\]/);
});

test('--version and -V print the version and exit 0', () => {
  for (const flag of ['--version', '-V']) {
    const { result, out } = parse(flag);
    assert.deepEqual(result, { exit: 0 });
    assert.equal(out, `ferryd ${ferryVersion()}\n`);
  }
  assert.match(ferryVersion(), /^\d+\.\d+\.\d+/, 'the version from package.json');
});

test('usage errors exit 2 with what is wrong and a hint, "did you mean" where one is near', () => {
  assert.match(usageError('frobnicate'), /unknown command 'frobnicate'/);
  assert.match(usageError('chek-config'), /unknown command 'chek-config'\n\(Did you mean check-config\?\)/);
  assert.match(usageError('--lisen', 'x'), /unknown option '--lisen'\n\(Did you mean --listen\?\)/);
  assert.match(usageError('facts', '--frob'), /unknown option '--frob'/);
  assert.match(usageError('facts', 'extra'), /too many arguments for 'facts'/);
  assert.match(usageError('run', '--config'), /option '--config <file>' argument missing/);
});

test("the unit's ExecStart= runs the agent with its configuration file", () => {
  const unit = fs.readFileSync(path.join(REPO_ROOT, 'systemd/ferryd.service'), 'utf8');
  const execStart = /^ExecStart=\S+ (.*)$/m.exec(unit)?.[1];
  assert.ok(execStart, 'ExecStart= with arguments');
  assert.deepEqual(invocation(...execStart.split(' ')), { command: 'run', flags: { config: '/etc/ferry/ferryd.yaml' } });
});

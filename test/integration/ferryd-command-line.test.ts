// The real ferryd binary's command line, spawned: help and version, usage
// errors (exit 2, nothing started), `check-config` like `sshd -t` (one line
// and 0, or every problem and 2, word for word what `ferryd run` prints when
// it refuses to start), `facts` without TLS files, and ferryd(8) as groff
// reads it. Nothing here reaches libvirt: `run` is only started with a
// configuration it refuses before connecting to anything. Certificates come
// from scripts/pki (openssl).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/lab.js';
import { opensslDate, ScratchPki, type IssuedCert } from '../support/pki.js';

const execFileP = promisify(execFile);
const FERRYD = path.join(REPO_ROOT, 'dist/agent/main.js');
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The environment without anything that configures ferryd or connects it to systemd. */
const cleanEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) => !name.startsWith('FERRY_') && !['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JOURNAL_STREAM'].includes(name),
  ),
);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ferryd(...args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [FERRYD, ...args], { env: cleanEnv, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let pki: ScratchPki;
let agent: IssuedCert;
let dir: string;

before(async () => {
  pki = await ScratchPki.create();
  agent = await pki.host('agent1', ['127.0.0.1']);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferryd-cli-'));
});

after(() => {
  pki.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, lines: string[]): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const tlsLines = (cert: IssuedCert) => ['tls:', `  ca_file: ${pki.caFile}`, `  cert_file: ${cert.certFile}`, `  key_file: ${cert.keyFile}`];

test('--help and --version on stdout, exit 0', async () => {
  const help = await ferryd('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: ferryd \[command\] \[options\]/);
  assert.match(help.stdout, /check-config \[options\] +validate the configuration/);
  assert.equal(help.stderr, '');
  const version = await ferryd('--version');
  assert.deepEqual(version, { code: 0, stdout: `ferryd ${VERSION}\n`, stderr: '' });
  const commandHelp = await ferryd('help', 'facts');
  assert.equal(commandHelp.code, 0);
  assert.match(commandHelp.stdout, /^Usage: ferryd facts \[options\]/);
});

test('usage errors exit 2 on stderr with a hint, and start nothing', async () => {
  for (const [args, expected] of [
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['chek-config'], /Did you mean check-config\?/],
    [['check-config', '--bogus'], /unknown option '--bogus'/],
    [['--lisen', '127.0.0.1:1'], /Did you mean --listen\?/],
    [['facts', 'extra'], /too many arguments for 'facts'/],
  ] as const) {
    const r = await ferryd(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, expected);
    assert.match(r.stderr, /\(ferryd --help lists the commands and options\)/);
  }
});

test('check-config: a valid configuration and certificate, one line, exit 0', async () => {
  const file = configFile('good.yaml', [...tlsLines(agent), 'limits:', '  max_outgoing: 4']);
  const r = await ferryd('check-config', '--config', file);
  assert.equal(r.stderr, '');
  assert.equal(r.code, 0);
  assert.match(r.stdout, new RegExp(`^ferryd: configuration OK \\(${file}; TLS: agent1 \\(peer\\), valid until \\d{4}-[^)]+\\)\\n$`));

  const insecure = await ferryd('check-config', '--config', file, '--insecure');
  assert.equal(insecure.code, 0);
  assert.equal(insecure.stdout, `ferryd: configuration OK (${file}; TLS off: tls.insecure is true)\n`);
});

test('check-config lists every problem and exits 2, word for word what `ferryd run` prints', async () => {
  const absent = path.join(dir, 'absent.pem');
  const file = configFile('bad.yaml', [
    'listen:',
    '  port: 99999',
    'limts:',
    '  max_outgoing: 1',
    'tls:',
    `  ca_file: ${absent}`,
    `  cert_file: ${agent.certFile}`,
    `  key_file: ${agent.keyFile}`,
  ]);
  const check = await ferryd('check-config', '--config', file, '--set', 'policy.compression=lz4');
  assert.equal(check.code, 2);
  assert.equal(check.stdout, '');
  assert.match(check.stderr, /^ferryd: invalid configuration \(4 problems\):\n/);
  assert.match(check.stderr, new RegExp(`${file}:2: listen\\.port: 99999 is out of range`));
  assert.match(check.stderr, new RegExp(`${file}:3: limts: unknown key; did you mean limits\\?`));
  assert.match(check.stderr, /tls\.ca_file: .*absent\.pem does not exist/);
  assert.match(check.stderr, /--set: policy\.compression: must be one of .*got the string "lz4"/);

  const run = await ferryd('run', '--config', file, '--set', 'policy.compression=lz4');
  assert.equal(run.code, 2);
  assert.equal(run.stderr, check.stderr);
});

test('check-config refuses an expired certificate with the message `ferryd run` logs before exiting 2', async () => {
  const yearAgo = new Date(Date.now() - 365 * 86400_000);
  const stale = await pki.host(
    'agent1',
    ['127.0.0.1'],
    ['--not-before', opensslDate(yearAgo), '--not-after', opensslDate(new Date(yearAgo.getTime() + 86400_000))],
    path.join(pki.dir, 'stale'),
  );
  const file = configFile('expired.yaml', tlsLines(stale));
  const check = await ferryd('check-config', '--config', file);
  assert.equal(check.code, 2);
  const problem = /^ferryd: (TLS: .*expired at .*)\n$/.exec(check.stderr)?.[1];
  assert.ok(problem, check.stderr);

  // ferryd run checks the same before it connects to anything, and logs it.
  const run = await ferryd('run', '--config', file, '--set', `state_directory=${dir}/state`);
  assert.equal(run.code, 2);
  const logged = run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { level: string; message: string });
  assert.deepEqual(
    logged.filter((l) => l.level === 'error').map((l) => l.message),
    [problem],
  );
});

test('facts: JSON on stdout without TLS files and without libvirt', async () => {
  const absent = path.join(dir, 'nowhere.pem');
  const file = configFile('facts.yaml', ['tls:', `  ca_file: ${absent}`, `  cert_file: ${absent}`, `  key_file: ${absent}`]);
  const r = await ferryd('facts', '--config', file, '--set', 'migration.network=lo');
  assert.equal(r.code, 0, r.stderr);
  const facts = JSON.parse(r.stdout) as { hostname: string; ferryVersion: string; warnings: string[] };
  assert.equal(facts.hostname, os.hostname());
  assert.equal(facts.ferryVersion, VERSION);
  assert.ok(
    facts.warnings.some((w) => w.startsWith('libvirt:')),
    `facts says libvirt was not asked: ${facts.warnings.join('; ')}`,
  );
});

test('ferryd(8) is clean for groff (man macros, every warning on)', async () => {
  const { stdout, stderr } = await execFileP('groff', ['-man', '-z', '-ww', path.join(REPO_ROOT, 'docs/man/ferryd.8')]).catch(
    (err: { stderr?: string; message: string }) => assert.fail(`groff (Debian package groff-base): ${err.stderr ?? err.message}`),
  );
  assert.equal(`${stdout}${stderr}`, '');
});

// The real ferryd binary and the OTEL_* variables: a value it cannot use
// stops `check-config` and `run` alike (exit 2, the variable and what to set),
// before anything is connected; a usable one passes check-config. No root.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/lab.js';
import { until } from '../support/wait.js';

const execFileP = promisify(execFile);
const FERRYD = path.join(REPO_ROOT, 'dist/agent/main.js');

let dir: string;
let config: string;

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferryd-otel-'));
  config = path.join(dir, 'ferryd.yaml');
  // Without TLS files, so that `run` gets as far as tracing; the libvirt socket does not exist.
  fs.writeFileSync(
    config,
    ['tls:', '  insecure: true', `state_directory: ${dir}/state`, 'libvirt:', `  socket: ${dir}/none.sock`].join('\n'),
  );
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function ferryd(env: Record<string, string>, ...args: string[]) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => !name.startsWith('FERRY_') && !name.startsWith('OTEL_') && !['NOTIFY_SOCKET', 'JOURNAL_STREAM'].includes(name),
    ),
  );
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [FERRYD, ...args], { env: { ...clean, ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

test('an OTEL_* value ferryd cannot use: check-config and run both exit 2 naming the variable and what to set', async () => {
  const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' };
  const check = await ferryd(env, 'check-config', '--config', config);
  assert.equal(check.code, 2);
  assert.match(check.stderr, /^ferryd: tracing: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: .*set it to http\/json/m);

  const run = await ferryd(env, 'run', '--config', config);
  assert.equal(run.code, 2, run.stdout + run.stderr);
  const errors = run.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; message: string })
    .filter((l) => l.level === 'error');
  assert.equal(errors.length, 1, run.stdout);
  assert.match(errors[0]!.message, /^tracing: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: /);
});

test('usable OTEL_* variables pass check-config', async () => {
  const check = await ferryd(
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_SAMPLER: 'always_on' },
    'check-config',
    '--config',
    config,
  );
  assert.equal(check.code, 0, check.stderr);
});

test('ferryd run with an endpoint set says tracing is on, and where the spans go', async () => {
  const child = spawn(
    process.execPath,
    [FERRYD, 'run', '--config', config, '--set', 'listen.address=127.0.0.1', '--set', `listen.port=${40000 + (process.pid % 20000)}`],
    {
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', JOURNAL_STREAM: '', NOTIFY_SOCKET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  try {
    const line = await until('the tracing line', () => out.split('\n').find((l) => l.includes('"message":"tracing on')), {
      timeoutMs: 15_000,
      detail: () => out,
    });
    const entry = JSON.parse(line) as { url: string; serviceName: string; sampler: string };
    assert.equal(entry.url, 'http://127.0.0.1:4318/v1/traces');
    assert.equal(entry.serviceName, 'ferryd');
    assert.equal(entry.sampler, 'parentbased_always_on');
  } finally {
    child.kill('SIGKILL');
  }
});

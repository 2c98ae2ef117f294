// The sd_notify protocol as systemd sees it: a unix datagram socket set as
// NOTIFY_SOCKET (opened with the same unix-dgram package) receives READY=1
// only once the gRPC server answers, STATUS= lines with migration counts,
// WATCHDOG=1 every WATCHDOG_USEC/2 while the event loop runs and none while
// it is blocked, RELOADING=1 … READY=1 around a SIGHUP reload (the real
// ferryd, on a mock libvirtd, without firewall), and STOPPING=1 on SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { startSystemdNotifier, watchdogInterval, type NotifierLog } from '../../agent/systemd/notifier.js';
import { connectAgent, unary } from '../../shared/client.js';
import { isFerryError } from '../../shared/errors.js';
import { listenDatagrams, type DatagramListener } from '../support/datagram-listener.js';
import { MockLibvirtd } from '../support/mock-libvirtd.js';
import { sleep, until } from '../support/wait.js';
import { freePort, testFerrydConfig } from '../support/ferryd-config.js';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
const REPO = path.resolve(DIST, '..');

interface Received {
  at: number;
  text: string;
}

let dir: string;
let socketPath: string;
let listener: DatagramListener;
const received: Received[] = [];

before(() => {
  listener = listenDatagrams('notify', (msg) => received.push({ at: Date.now(), text: msg.toString() }));
  socketPath = listener.path;
  dir = listener.dir;
});

after(() => listener.close());

const quiet: NotifierLog & { warnings: string[] } = {
  warnings: [],
  warn(message: string, meta?: Record<string, unknown>) {
    this.warnings.push(`${message} ${JSON.stringify(meta)}`);
  },
  debug() {},
};

/** Waits for a datagram; on a timeout, says what did arrive. */
function datagram<T>(what: string, find: () => T | undefined, timeoutMs = 5000): Promise<T> {
  return until(what, find, { timeoutMs, everyMs: 10, detail: () => `received: ${JSON.stringify(received.map((r) => r.text))}` });
}

const pings = (from = 0, to = Infinity) => received.filter((r) => r.text === 'WATCHDOG=1' && r.at >= from && r.at <= to);

test('watchdog interval: half of WATCHDOG_USEC, only for the process it names', () => {
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42), 15000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '41' }, 42), 0);
  assert.equal(watchdogInterval({}, 42), 0);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: 'x' }, 42), 0);
});

test('in process: READY=1 with STATUS and MAINPID, status with counts on change, pings, STOPPING=1', async () => {
  received.length = 0;
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '100000', WATCHDOG_PID: String(process.pid) };
  const notifier = startSystemdNotifier({ env, log: quiet, statusIntervalMs: 20 });
  assert.equal(notifier.enabled, true);
  assert.equal(notifier.watchdogIntervalMs, 50);
  assert.deepEqual(env, {}, 'children must not inherit the notification variables');

  let counts = { outgoing: 0, incoming: 0, queued: 0 };
  notifier.trackMigrations(() => counts);
  await notifier.ready('ready on 127.0.0.1:54321');
  const ready = await datagram('READY=1', () => received.find((r) => r.text.startsWith('READY=1')));
  assert.equal(ready.text, `READY=1\nSTATUS=ready on 127.0.0.1:54321; 0 outgoing, 0 incoming, 0 queued migrations\nMAINPID=${process.pid}`);

  counts = { outgoing: 2, incoming: 1, queued: 4 };
  await datagram('STATUS with counts', () =>
    received.find((r) => r.text === 'STATUS=ready on 127.0.0.1:54321; 2 outgoing, 1 incoming, 4 queued migrations'),
  );
  await sleep(100);
  const statuses = received.filter((r) => r.text.startsWith('STATUS='));
  assert.equal(statuses.length, 1, 'no STATUS= while the counts stay the same');

  const start = Date.now();
  await sleep(400);
  const n = pings(start).length;
  assert.ok(n >= 4 && n <= 9, `about 8 pings in 400 ms at 50 ms, got ${n}`);

  await notifier.stopping('shutting down (SIGTERM)');
  await datagram('STOPPING=1', () => received.find((r) => r.text.startsWith('STOPPING=1')));
  assert.match(received.find((r) => r.text.startsWith('STOPPING=1'))!.text, /^STOPPING=1\nSTATUS=shutting down \(SIGTERM\); 2 outgoing/);
  notifier.close();
  const closedAt = Date.now();
  await sleep(200);
  assert.equal(pings(closedAt + 1).length, 0, 'no ping after close');
});

test('in process: RELOADING=1 with MONOTONIC_USEC, then READY=1 with what the reload did; nothing before the first READY=1', async () => {
  received.length = 0;
  const notifier = startSystemdNotifier({ env: { NOTIFY_SOCKET: socketPath }, log: quiet, monotonicUsec: () => 123_456_789n });
  // A SIGHUP while starting: no READY=1 may come before the real one.
  await notifier.reloading();
  await notifier.reloaded('reloaded early');
  await notifier.ready('ready on 127.0.0.1:1');
  await notifier.reloading();
  await notifier.reloaded('reloaded limits.max_outgoing 2 → 4\nsecond line');
  await datagram('three datagrams', () => received.length >= 3 || undefined);
  await sleep(50);
  assert.deepEqual(
    received.map((r) => r.text),
    [
      `READY=1\nSTATUS=ready on 127.0.0.1:1\nMAINPID=${process.pid}`,
      'RELOADING=1\nMONOTONIC_USEC=123456789\nSTATUS=ready on 127.0.0.1:1; reloading',
      'READY=1\nSTATUS=ready on 127.0.0.1:1; reloaded limits.max_outgoing 2 → 4; second line',
    ],
  );
  notifier.close();

  // The default clock is CLOCK_MONOTONIC, the one systemd compares with.
  received.length = 0;
  const real = startSystemdNotifier({ env: { NOTIFY_SOCKET: socketPath }, log: quiet });
  await real.ready('ready');
  const before = process.hrtime.bigint() / 1000n;
  await real.reloading();
  const afterwards = process.hrtime.bigint() / 1000n;
  const reloading = await datagram('RELOADING=1', () => received.find((r) => r.text.startsWith('RELOADING=1')));
  const usec = BigInt(/\nMONOTONIC_USEC=(\d+)\n/.exec(reloading.text)?.[1] ?? '-1');
  assert.ok(before <= usec && usec <= afterwards, `${before} <= ${usec} <= ${afterwards}`);
  real.close();
});

test('without NOTIFY_SOCKET everything is a no-op; a watchdog for another PID is ignored', async () => {
  const off = startSystemdNotifier({ env: { WATCHDOG_USEC: '100000' }, log: quiet });
  assert.equal(off.enabled, false);
  assert.equal(off.watchdogIntervalMs, 0);
  await off.ready('ready');
  off.trackMigrations(() => ({ outgoing: 0, incoming: 0, queued: 0 }));
  off.close();

  received.length = 0;
  const other = startSystemdNotifier({ env: { NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' }, log: quiet });
  assert.equal(other.watchdogIntervalMs, 0);
  await sleep(150);
  assert.equal(pings().length, 0);
  other.close();
});

test('an abstract or missing socket is a warning, never a crash', async () => {
  quiet.warnings.length = 0;
  const abstract = startSystemdNotifier({ env: { NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }, log: quiet });
  assert.equal(abstract.enabled, false);
  assert.match(quiet.warnings[0]!, /abstract namespace/);
  const missing = startSystemdNotifier({ env: { NOTIFY_SOCKET: path.join(dir, 'absent.sock') }, log: quiet });
  await missing.ready('ready');
  await missing.status('still here');
  assert.equal(quiet.warnings.length, 2, 'a failing socket warns once');
  assert.match(quiet.warnings[1]!, /sd_notify failed/);
  missing.close();
});

// What main.ts does, reduced to the order that matters: listen, then READY=1.
const CHILD = `
import * as grpc from '@grpc/grpc-js';
import { startGrpcServer, setServing } from '${DIST}agent/rpc/server.js';
import { startSystemdNotifier } from '${DIST}agent/systemd/notifier.js';
import { createLogger } from '${DIST}agent/log.js';
const log = createLogger({ level: 'warn', human: false });
const notifier = startSystemdNotifier({ env: process.env, log });
const running = await startGrpcServer({ address: '127.0.0.1:0', credentials: grpc.ServerCredentials.createInsecure(), services: { migration: {}, peer: {}, host: {} } });
setServing(running.health, true);
notifier.trackMigrations(() => ({ outgoing: 0, incoming: 0, queued: 0 }));
await notifier.ready('ready on 127.0.0.1:' + running.port);
// Blocks the event loop, as a runaway computation would.
process.on('SIGUSR2', () => { const end = Date.now() + 700; while (Date.now() < end); });
process.once('SIGTERM', async () => {
  await notifier.stopping('shutting down');
  await running.shutdown(500);
  notifier.close();
  process.exit(0);
});
`;

test('a child agent: READY=1 only once gRPC answers; pings stop while its loop is blocked; STOPPING=1 on SIGTERM', async () => {
  received.length = 0;
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    cwd: REPO,
    env: { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '200000' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const ready = await datagram('READY=1 from the child', () => received.find((r) => r.text.startsWith('READY=1')), 15_000);
    assert.match(
      ready.text,
      new RegExp(`^READY=1\\nSTATUS=ready on 127\\.0\\.0\\.1:\\d+; 0 outgoing, 0 incoming, 0 queued migrations\\nMAINPID=${child.pid}$`),
    );
    const port = /127\.0\.0\.1:(\d+)/.exec(ready.text)![1];
    const clients = connectAgent(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    // Any answer proves it listens; the bare server answers UNIMPLEMENTED.
    await assert.rejects(unary(clients.host, 'GetCapabilities', {}, { timeoutMs: 2000 }), (err) => isFerryError(err, 'UNIMPLEMENTED'));
    clients.close();

    await datagram('three watchdog pings', () => (pings(ready.at).length >= 3 ? true : undefined));
    child.kill('SIGUSR2');
    const blockedAt = Date.now();
    await sleep(1200);
    const during = pings(blockedAt + 150, blockedAt + 650);
    assert.equal(during.length, 0, `no ping while the loop is blocked, got ${during.length}`);
    assert.ok(pings(blockedAt + 800).length >= 2, 'pings resume once the loop runs again');

    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(received.find((r) => r.text.startsWith('STOPPING=1'))?.text ?? '', /^STOPPING=1\nSTATUS=shutting down; /);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('the real ferryd: SIGHUP sends RELOADING=1 then READY=1 with what changed; an invalid file keeps the old configuration and says so', async () => {
  const libvirtd = await MockLibvirtd.start();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ferryd-reload-'));
  const port = await freePort();
  const configFile = path.join(work, 'ferryd.yaml');
  const writeConfig = (limits: string[]) =>
    fs.writeFileSync(configFile, testFerrydConfig({ port, libvirtSocket: libvirtd.path, work, extra: ['limits:', ...limits] }));
  writeConfig(['  max_outgoing: 2']);
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FERRY_') && name !== 'JOURNAL_STREAM'));
  received.length = 0;
  const child = spawn(process.execPath, [path.join(DIST, 'agent/main.js'), 'run', '--config', configFile], {
    cwd: REPO,
    env: { ...env, NOTIFY_SOCKET: socketPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logLines = () =>
    output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const from = (n: number) => received.slice(n).map((r) => r.text);
  /** SIGHUP, then what arrived until the next READY=1, and the clock around it. */
  const reload = async () => {
    const start = received.length;
    const before = process.hrtime.bigint() / 1000n;
    child.kill('SIGHUP');
    await until('READY=1 after the SIGHUP', () => from(start).some((t) => t.startsWith('READY=1')), {
      timeoutMs: 10_000,
      detail: () => `received ${JSON.stringify(from(start))}; ferryd said: ${output}`,
    });
    return { texts: from(start), before, after: process.hrtime.bigint() / 1000n };
  };
  try {
    const ready = await datagram('READY=1 from ferryd', () => received.find((r) => r.text.startsWith('READY=1')), 30_000).catch(
      (err: Error) => assert.fail(`${err.message}; ferryd said: ${output}`),
    );
    const readyStatus = `ready on 127.0.0.1:${port}`;
    assert.equal(ready.text, `READY=1\nSTATUS=${readyStatus}; 0 outgoing, 0 incoming, 0 queued migrations\nMAINPID=${child.pid}`);

    // A change that applies while running.
    writeConfig(['  max_outgoing: 4']);
    const applied = await reload();
    assert.equal(applied.texts.length, 2, JSON.stringify(applied.texts));
    const [reloading, readyAgain] = applied.texts;
    const usec = BigInt(/^RELOADING=1\nMONOTONIC_USEC=(\d+)\nSTATUS=/.exec(reloading ?? '')?.[1] ?? '-1');
    assert.ok(applied.before <= usec && usec <= applied.after, `MONOTONIC_USEC ${usec} within [${applied.before}, ${applied.after}]`);
    assert.equal(
      readyAgain,
      `READY=1\nSTATUS=${readyStatus}; reloaded limits.max_outgoing 2 → 4; TLS off; 0 outgoing, 0 incoming, 0 queued migrations`,
    );
    await until('the limits change in the log', () =>
      logLines().some((l) => l.message === 'migration limits changed' && JSON.stringify(l.now).includes('"maxOutgoing":4')),
    );

    // An invalid file: nothing changes, and both systemd and the log say so.
    writeConfig(['  max_outgoing: 0']);
    const refused = await reload();
    assert.equal(refused.texts.length, 2, JSON.stringify(refused.texts));
    assert.match(refused.texts[0]!, /^RELOADING=1\nMONOTONIC_USEC=\d+\n/);
    assert.match(
      refused.texts[1]!,
      new RegExp(
        `^READY=1\\nSTATUS=${readyStatus}; reload failed, the configuration in force is kept: invalid configuration \\(1 problem\\):; ${configFile}:\\d+: limits\\.max_outgoing: .*; TLS off; 0 outgoing`,
      ),
    );
    await until('the error in the log', () =>
      logLines().some((l) => l.level === 'error' && l.message === 'SIGHUP: the configuration is invalid; nothing was changed'),
    );

    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.match(from(0).at(-1) ?? '', /^STOPPING=1\nSTATUS=shutting down \(SIGTERM\)/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await libvirtd.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
});

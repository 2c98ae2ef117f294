// The logger under systemd: entries in journald's native protocol
// (https://systemd.io/JOURNAL_NATIVE_PROTOCOL/) to a unix datagram socket this
// test binds, checked byte for byte against datagrams built here by hand:
// PRIORITY by level, SYSLOG_IDENTIFIER, MESSAGE, the fields under journal
// names (JOB_ID, VM_ID…), the length-prefixed form for a value with a
// newline. Then the fallback to JSON lines, the field names, the size cap, and
// JOURNAL_STREAM's device:inode match.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger, logJobTransition } from '../../agent/log.js';
import { journalFieldName, MAX_VALUE_BYTES } from '../../agent/systemd/journal-entry.js';
import { outputGoesToJournal } from '../../agent/systemd/journal-stream.js';
import { listenDatagrams, type DatagramListener } from '../support/datagram-listener.js';
import { until } from '../support/wait.js';

let dir: string;
let socketPath: string;
let journal: DatagramListener;
const received: Buffer[] = [];

before(() => {
  journal = listenDatagrams('journal', (msg) => received.push(msg));
  socketPath = journal.path;
  dir = journal.dir;
});

after(() => journal.close());

/** `NAME=value\n`: the plain form. */
const plain = (name: string, value: string) => `${name}=${value}\n`;

/** `NAME\n`, the value's length as 64-bit little-endian, the value, `\n`: the form for values with newlines. */
function binary(name: string, value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(8);
  length.writeUInt32LE(bytes.length, 0); // the high 32 bits stay zero
  return Buffer.concat([Buffer.from(`${name}\n`), length, bytes, Buffer.from('\n')]);
}

const datagram = (...parts: (string | Buffer)[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));

async function receive(n: number): Promise<Buffer[]> {
  await until(`${n} datagrams`, () => received.length >= n, { timeoutMs: 3000, everyMs: 5, detail: () => `${received.length} arrived` });
  return received.splice(0, n);
}

function linesOf(stream: PassThrough): string[] {
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  return lines;
}

test('error, warn, info, debug: PRIORITY 3, 4, 6, 7 with MESSAGE and the fields, byte for byte', async () => {
  received.length = 0;
  const fallback = new PassThrough();
  const fallbackLines = linesOf(fallback);
  const log = createLogger({ level: 'debug', journalSocket: socketPath, stream: fallback });

  log.error('libvirt call failed', { jobId: 'job-7', vmId: '6f1c2a3e-0000-4000-8000-000000000001' });
  logJobTransition(log, {
    jobId: 'job-7',
    vmId: '6f1c2a3e-0000-4000-8000-000000000001',
    direction: 'outgoing',
    from: 'MIGRATING',
    to: 'FAILED',
    error: { step: 'perform', code: 'UNAVAILABLE', message: 'connection reset' },
  });
  log.info('ferryd ready', { port: 54321, tls: null, limits: { maxOutgoing: 2 }, skipped: undefined });
  log.debug('sd_notify', { message2: 'READY=1' });

  const [error, warn, info, debug] = await receive(4);
  assert.deepEqual(
    error,
    datagram(
      plain('PRIORITY', '3'),
      plain('SYSLOG_IDENTIFIER', 'ferryd'),
      plain('MESSAGE', 'libvirt call failed jobId=job-7 vmId=6f1c2a3e-0000-4000-8000-000000000001'),
      plain('JOB_ID', 'job-7'),
      plain('VM_ID', '6f1c2a3e-0000-4000-8000-000000000001'),
    ),
    String(error),
  );
  assert.deepEqual(
    warn,
    datagram(
      plain('PRIORITY', '4'),
      plain('SYSLOG_IDENTIFIER', 'ferryd'),
      plain(
        'MESSAGE',
        'job jobId=job-7 vmId=6f1c2a3e-0000-4000-8000-000000000001 direction=outgoing from=MIGRATING to=FAILED errorStep=perform errorCode=UNAVAILABLE error="connection reset"',
      ),
      plain('JOB_ID', 'job-7'),
      plain('VM_ID', '6f1c2a3e-0000-4000-8000-000000000001'),
      plain('DIRECTION', 'outgoing'),
      plain('FROM', 'MIGRATING'),
      plain('TO', 'FAILED'),
      plain('ERROR_STEP', 'perform'),
      plain('ERROR_CODE', 'UNAVAILABLE'),
      plain('ERROR', 'connection reset'),
    ),
    String(warn),
  );
  assert.deepEqual(
    info,
    datagram(
      plain('PRIORITY', '6'),
      plain('SYSLOG_IDENTIFIER', 'ferryd'),
      plain('MESSAGE', 'ferryd ready port=54321 tls=null limits={"maxOutgoing":2}'),
      plain('PORT', '54321'),
      plain('TLS', 'null'),
      plain('LIMITS', '{"maxOutgoing":2}'),
    ),
    String(info),
  );
  assert.deepEqual(
    debug,
    datagram(
      plain('PRIORITY', '7'),
      plain('SYSLOG_IDENTIFIER', 'ferryd'),
      plain('MESSAGE', 'sd_notify message2=READY=1'),
      plain('MESSAGE2', 'READY=1'),
    ),
  );
  assert.deepEqual(fallbackLines, [], 'nothing fell back');
  log.end();
});

test('a value with a newline is sent length-prefixed; a field named like a journal field gets FERRY_', async () => {
  received.length = 0;
  const log = createLogger({ level: 'info', journalSocket: socketPath, stream: new PassThrough() });
  const problems = 'invalid configuration (2 problems):\n  f.yaml:2: listen.port: 99999 is out of range\n  f.yaml:3: x: unknown key';
  log.error(problems, { errno: 5, unit: 'x.service' });
  const [entry] = await receive(1);
  assert.deepEqual(
    entry,
    datagram(
      plain('PRIORITY', '3'),
      plain('SYSLOG_IDENTIFIER', 'ferryd'),
      binary('MESSAGE', `${problems} errno=5 unit=x.service`),
      plain('FERRY_ERRNO', '5'),
      plain('FERRY_UNIT', 'x.service'),
    ),
    String(entry),
  );
  log.end();
});

test('a long value is cut at the cap and says how much was cut', async () => {
  received.length = 0;
  const log = createLogger({ level: 'info', journalSocket: socketPath, stream: new PassThrough() });
  log.info('big', { details: 'x'.repeat(MAX_VALUE_BYTES + 100) });
  const [entry] = await receive(1);
  const text = entry!.toString();
  assert.ok(text.includes(`\nDETAILS=${'x'.repeat(MAX_VALUE_BYTES)}… [100 more bytes cut]\n`), text.slice(-80));
  log.end();
});

test('no journal socket: one warning, then every entry as its JSON line on the fallback stream', async () => {
  const fallback = new PassThrough();
  const lines = linesOf(fallback);
  const log = createLogger({ level: 'info', journalSocket: path.join(dir, 'absent.sock'), stream: fallback });
  log.warn('first', { jobId: 'j1' });
  log.info('second');
  await until('three lines', () => lines.length >= 3, { timeoutMs: 2000 });
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(parsed[0]!.message, 'journald socket unusable: logging JSON lines to stdout, without priorities');
  assert.match(String(parsed[0]!.error), /absent\.sock: ENOENT/);
  assert.deepEqual(
    parsed.slice(1).map((l) => [l.level, l.message, l.jobId]),
    [
      ['warn', 'first', 'j1'],
      ['info', 'second', undefined],
    ],
  );
  assert.ok(!Number.isNaN(Date.parse(String(parsed[1]!.timestamp))));
  log.end();
});

test('field names: upper snake case of the key, [A-Z0-9_] only, never a leading _ or digit', () => {
  assert.equal(journalFieldName('jobId'), 'JOB_ID');
  assert.equal(journalFieldName('vmId'), 'VM_ID');
  assert.equal(journalFieldName('durationMs'), 'DURATION_MS');
  assert.equal(journalFieldName('fingerprint256'), 'FINGERPRINT256');
  assert.equal(journalFieldName('HTTPCode'), 'HTTP_CODE');
  assert.equal(journalFieldName('port-range.first'), 'PORT_RANGE_FIRST');
  assert.equal(journalFieldName('_hostname'), 'HOSTNAME');
  assert.equal(journalFieldName('9lives'), 'LIVES');
  assert.equal(journalFieldName('message'), 'FERRY_MESSAGE');
  assert.equal(journalFieldName('priority'), 'FERRY_PRIORITY');
  assert.equal(journalFieldName('!!'), undefined);
  assert.equal(journalFieldName('a'.repeat(80)), 'A'.repeat(64));
});

test('JOURNAL_STREAM counts only when it names one of our descriptors', () => {
  const file = path.join(dir, 'stdout');
  const fd = fs.openSync(file, 'w');
  try {
    const { dev, ino } = fs.fstatSync(fd, { bigint: true });
    assert.equal(outputGoesToJournal({ JOURNAL_STREAM: `${dev}:${ino}` }, [fd]), true);
    assert.equal(outputGoesToJournal({ JOURNAL_STREAM: `${dev}:${ino + 1n}` }, [fd]), false, 'another stream: inherited, not ours');
    assert.equal(outputGoesToJournal({ JOURNAL_STREAM: `${dev}:${ino}` }, [987_654]), false, 'a closed descriptor');
    assert.equal(outputGoesToJournal({ JOURNAL_STREAM: 'garbage' }, [fd]), false);
    assert.equal(outputGoesToJournal({}, [fd]), false);
  } finally {
    fs.closeSync(fd);
  }
});

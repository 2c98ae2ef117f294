// The logger's two shapes (JSON lines for journald, short lines on a
// terminal), its level, and the "job" line the migration core emits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { createLogger, logJobTransition } from '../../agent/log.js';

function capture(options: { level?: string; human?: boolean }) {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  const log = createLogger({ ...options, stream });
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  return { log, lines, flush };
}

test('JSON lines with timestamp, level, message and fields', async () => {
  const { log, lines, flush } = capture({ level: 'info', human: false });
  log.info('ferryd listening', { address: '0.0.0.0', port: 54321 });
  log.debug('not at info');
  await flush();
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(line.level, 'info');
  assert.equal(line.message, 'ferryd listening');
  assert.equal(line.port, 54321);
  assert.ok(!Number.isNaN(Date.parse(String(line.timestamp))));
});

test('human lines: time, level, message, key=value', async () => {
  const { log, lines, flush } = capture({ level: 'debug', human: true });
  log.debug('rpc', { method: '/ferry.v1.HostService/GetStats', code: 'OK', details: 'two words' });
  await flush();
  // Colour codes wrap the level; strip them to compare.
  const plain = stripVTControlCharacters(lines[0]!);
  assert.match(plain, /^\d\d:\d\d:\d\d\.\d{3} debug rpc method=\/ferry\.v1\.HostService\/GetStats code=OK details="two words"$/);
});

test('job transitions: one "job" line each, warn when FAILED', async () => {
  const { log, lines, flush } = capture({ level: 'info', human: false });
  logJobTransition(log, { jobId: 'j1', vmId: 'v1', direction: 'outgoing', from: null, to: 'QUEUED' });
  logJobTransition(log, {
    jobId: 'j1',
    vmId: 'v1',
    direction: 'outgoing',
    from: 'QUEUED',
    to: 'PREPARING',
    peer: '198.18.0.2:54321',
    elapsedMs: 12.4,
  });
  logJobTransition(log, {
    jobId: 'j1',
    vmId: 'v1',
    direction: 'outgoing',
    from: 'MIGRATING',
    to: 'FAILED',
    error: { step: 'perform', code: 'UNAVAILABLE', message: 'connection reset' },
    extra: { migrateUri: 'tcp://198.19.0.2:49152' },
  });
  await flush();
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    parsed.map((l) => [l.message, l.level, l.from, l.to]),
    [
      ['job', 'info', null, 'QUEUED'],
      ['job', 'info', 'QUEUED', 'PREPARING'],
      ['job', 'warn', 'MIGRATING', 'FAILED'],
    ],
  );
  assert.equal(parsed[1]!.peer, '198.18.0.2:54321');
  assert.equal(parsed[1]!.elapsedMs, 12);
  assert.deepEqual(
    [parsed[2]!.errorStep, parsed[2]!.errorCode, parsed[2]!.error, parsed[2]!.migrateUri],
    ['perform', 'UNAVAILABLE', 'connection reset', 'tcp://198.19.0.2:49152'],
  );
});

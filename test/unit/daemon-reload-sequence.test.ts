// The order systemd needs around a reload: RELOADING=1, every part, READY=1
// with what the parts said, also when one throws; a second SIGHUP waits for
// the first reload to end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reloadSequence, type ReloadNotifications } from '../../agent/daemon/reload-sequence.js';
import { sleep } from '../support/wait.js';

function recorder(delayMs = 0): ReloadNotifications & { events: string[] } {
  const events: string[] = [];
  return {
    events,
    async reloading() {
      events.push('RELOADING');
      await sleep(delayMs);
    },
    async reloaded(outcome) {
      await sleep(delayMs);
      events.push(`READY ${outcome}`);
    },
  };
}

const noLog = { error: () => undefined };

test('RELOADING, then each part in order, then READY with their outcomes', async () => {
  const notifier = recorder();
  const reload = reloadSequence(
    notifier,
    [
      () => {
        notifier.events.push('config');
        return 'reloaded limits.max_outgoing 2 → 4';
      },
      () => {
        notifier.events.push('tls');
        return 'TLS files unchanged';
      },
    ],
    noLog,
  );
  await reload();
  assert.deepEqual(notifier.events, ['RELOADING', 'config', 'tls', 'READY reloaded limits.max_outgoing 2 → 4; TLS files unchanged']);
});

test('a part that throws still ends with READY, saying so, and is logged', async () => {
  const notifier = recorder();
  const errors: string[] = [];
  const reload = reloadSequence(
    notifier,
    [
      () => {
        throw new Error('boom');
      },
      () => 'TLS off',
    ],
    { error: (message, meta) => errors.push(`${message} ${JSON.stringify(meta)}`) },
  );
  await reload();
  assert.deepEqual(notifier.events, ['RELOADING', 'READY reload failed: boom; TLS off']);
  assert.deepEqual(errors, ['reload: a part failed unexpectedly {"error":"boom"}']);
});

test('reloads do not overlap: the second starts after the first READY', async () => {
  const notifier = recorder(20);
  let n = 0;
  const reload = reloadSequence(notifier, [() => `reload ${++n}`], noLog);
  await Promise.all([reload(), reload()]);
  assert.deepEqual(notifier.events, ['RELOADING', 'READY reload 1', 'RELOADING', 'READY reload 2']);
});

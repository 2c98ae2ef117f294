// The agent process's own figures in GetStats: resident memory, uptime and
// event-loop delay per window (a blocked loop shows up, and the next window
// forgets it), and their conversion to the contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { delaysOf, RESOLUTION_MS, watchAgentProcess } from '../../agent/host/agent-process.js';
import { statsToProto } from '../../agent/rpc/host-service.js';
import { sleep } from '../support/wait.js';

function blockFor(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

test('delays are the recorded intervals less the timer resolution, never negative; an empty window is 0', () => {
  const ms = 1e6;
  const histogram = (p99: number, max: number, count = 10) => ({ count, percentile: () => p99 * ms, max: max * ms });
  assert.deepEqual(delaysOf(histogram(RESOLUTION_MS + 2.345, RESOLUTION_MS + 50)), { p99Ms: 2.35, maxMs: 50 });
  assert.deepEqual(delaysOf(histogram(RESOLUTION_MS - 0.2, RESOLUTION_MS)), { p99Ms: 0, maxMs: 0 });
  assert.deepEqual(delaysOf(histogram(99, 99, 0)), { p99Ms: 0, maxMs: 0 });
});

test('a blocked event loop shows in the window it happened in, and not in the next one', async () => {
  const windowMs = 400;
  const probe = watchAgentProcess(windowMs);
  try {
    await sleep(50);
    blockFor(120);
    await sleep(20);
    const during = probe.facts(); // no window closed yet: the current one so far
    assert.ok(during.eventLoopDelayMaxMs >= 100, `max ${during.eventLoopDelayMaxMs} ms after a 120 ms block`);
    await sleep(windowMs); // that window closes with the block in it
    assert.ok(probe.facts().eventLoopDelayMaxMs >= 100);
    await sleep(windowMs + 100); // a quiet window replaces it
    const quiet = probe.facts();
    assert.ok(quiet.eventLoopDelayMaxMs < 50, `max ${quiet.eventLoopDelayMaxMs} ms in a quiet window`);
    assert.ok(quiet.eventLoopDelayP99Ms <= quiet.eventLoopDelayMaxMs);
  } finally {
    probe.stop();
  }
});

test("resident memory and uptime are this process's", () => {
  const probe = watchAgentProcess();
  const facts = probe.facts();
  probe.stop();
  assert.ok(facts.rssBytes > 10 * 2 ** 20 && facts.rssBytes < 4 * 2 ** 30, `rss ${facts.rssBytes}`);
  assert.ok(Math.abs(facts.uptimeS - process.uptime()) < 1, `uptime ${facts.uptimeS}`);
});

test('GetStats carries the agent figures as Durations, to the nanosecond', () => {
  const agent = { rssBytes: 61_234_567, eventLoopDelayP99Ms: 1.25, eventLoopDelayMaxMs: 7.5, uptimeS: 3600.5 };
  const proto = statsToProto({
    time: 1_700_000_000_123,
    cpuPercent: 1,
    memoryTotalBytes: 2,
    memoryUsedBytes: 1,
    memoryAvailableBytes: 1,
    nics: [],
    outgoingMigrations: 0,
    incomingMigrations: 0,
    queuedMigrations: 0,
    agent,
  });
  assert.deepEqual(proto.agent, {
    rssBytes: 61_234_567,
    eventLoopDelayP99: { seconds: 0, nanos: 1_250_000 },
    eventLoopDelayMax: { seconds: 0, nanos: 7_500_000 },
    uptime: { seconds: 3600, nanos: 500_000_000 },
  });
});

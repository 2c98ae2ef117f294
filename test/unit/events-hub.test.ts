// The WatchHost event hub with fakes: revisions, snapshots, replay from a
// revision, RESYNC (restart, history, slow watcher, libvirt gap) and the
// transport's back-pressure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EventHub,
  HostStateTracker,
  type HostEvent,
  type HostStateFacts,
  type WatchMessage,
  type WatchSink,
} from '../../agent/events/index.js';
import type { VmFacts } from '../../agent/host/host-info.js';
import type { MigrationStatus } from '../../agent/migration/index.js';
import { lifecycleChange } from '../../agent/hypervisor/lifecycle-events.js';
import { constants as c } from '../../agent/libvirt/index.js';

const HOST: HostStateFacts = {
  libvirtConnected: true,
  migrationNic: 'eth1',
  migrationNicUp: true,
  maintenance: 'off',
  limits: { maxOutgoing: 2, maxIncoming: 2, portRangeFirst: 49152, portRangeLast: 49215 },
};
const VM: VmFacts = {
  id: '6f1c2a3e-0000-4000-8000-000000000001',
  name: 'guest1',
  state: 'running',
  stateReason: '1',
  memoryBytes: 1 << 30,
  vcpus: 2,
  persistent: true,
  migrating: false,
};
const JOB = { jobId: 'job-1', vmId: VM.id, phase: 'migrating' } as MigrationStatus;

const vmEvent = (n: number): HostEvent => ({
  kind: 'vm',
  vm: { vmId: VM.id, name: `event-${n}`, event: n % 2 ? 'paused' : 'resumed', detail: 'paused', libvirtEvent: 3, libvirtDetail: 0 },
});

/** A transport that takes `room` messages, then refuses until drained. */
class FakeSink implements WatchSink {
  readonly messages: WatchMessage[] = [];
  private drainCallback: (() => void) | undefined;
  writesWhileFull = 0;
  failed: unknown;
  ended = false;
  constructor(private room = Infinity) {}
  write(message: WatchMessage): boolean {
    if (this.drainCallback) this.writesWhileFull++;
    this.messages.push(message);
    return --this.room > 0;
  }
  onceDrain(callback: () => void): void {
    this.drainCallback = callback;
  }
  drain(room = Infinity): void {
    this.room = room;
    const callback = this.drainCallback;
    this.drainCallback = undefined;
    callback?.();
  }
  fail(err: unknown): void {
    this.failed = err;
  }
  end(): void {
    this.ended = true;
  }
  kinds(): string[] {
    return this.messages.map((m) => (m.kind === 'resync' ? `resync:${m.reason}@${m.revision}` : `${m.kind}@${m.revision}`));
  }
}

function hub(options: { historySize?: number; watcherBuffer?: number; vms?: () => Promise<VmFacts[]> } = {}) {
  let time = 1_000;
  const state = new HostStateTracker(HOST);
  const events = new EventHub({
    incarnation: 'inc-1',
    now: () => ++time,
    snapshot: { vms: options.vms ?? (async () => [VM]), migrations: () => [JOB] },
    hostState: () => state.current(),
    ...(options.historySize ? { historySize: options.historySize } : {}),
    ...(options.watcherBuffer ? { watcherBuffer: options.watcherBuffer } : {}),
  });
  state.attach(events);
  return { events, state };
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
const publishMany = (events: EventHub, from: number, to: number) => {
  for (let n = from; n <= to; n++) events.publish(vmEvent(n));
};
/** The revisions of the events a sink got, in order. */
const revisions = (sink: FakeSink) => sink.messages.filter((m) => m.kind === 'event').map((m) => m.revision);

test('a new watcher gets a snapshot at the current revision, then every event with consecutive revisions', async () => {
  const { events } = hub();
  publishMany(events, 1, 3);
  const sink = new FakeSink();
  events.watch({ sinceRevision: 0, incarnation: '' }, sink);
  await settle();
  publishMany(events, 4, 8);
  assert.deepEqual(sink.kinds(), ['snapshot@3', 'event@4', 'event@5', 'event@6', 'event@7', 'event@8']);
  assert.deepEqual(
    sink.messages.filter((m) => m.kind === 'event').map((m) => (m.event.kind === 'vm' ? m.event.vm.name : '')),
    ['event-4', 'event-5', 'event-6', 'event-7', 'event-8'],
  );
});

test('the snapshot holds every VM, every job and the host state; events during its read follow it', async () => {
  let release: (vms: VmFacts[]) => void = () => {};
  const { events, state } = hub({ vms: () => new Promise((resolve) => (release = resolve)) });
  publishMany(events, 1, 2);
  const sink = new FakeSink();
  events.watch({ sinceRevision: 0, incarnation: '' }, sink);
  publishMany(events, 3, 4); // while libvirt is still listing
  state.migrationNic('eth1', false);
  assert.equal(sink.messages.length, 0, 'nothing may overtake the snapshot');
  release([VM]);
  await settle();
  assert.deepEqual(sink.kinds(), ['snapshot@2', 'event@3', 'event@4', 'event@5']);
  const first = sink.messages[0];
  assert.equal(first?.kind, 'snapshot');
  if (first?.kind !== 'snapshot') return;
  assert.deepEqual(first.snapshot.vms, [VM]);
  assert.deepEqual(first.snapshot.migrations, [JOB]);
  assert.deepEqual(first.snapshot.host, HOST, 'the host as it was at revision 2 (the NIC went down at 5)');
  const last = sink.messages.at(-1);
  assert.deepEqual(last?.kind === 'event' ? last.event : undefined, { kind: 'host', host: { ...HOST, migrationNicUp: false } });
});

test('a watcher resuming from a revision gets what followed it, then live events, without a snapshot', async () => {
  const { events } = hub();
  publishMany(events, 1, 10);
  const sink = new FakeSink();
  events.watch({ sinceRevision: 6, incarnation: 'inc-1' }, sink);
  publishMany(events, 11, 11);
  await settle();
  assert.deepEqual(revisions(sink), [7, 8, 9, 10, 11]);
  assert.ok(!sink.messages.some((m) => m.kind !== 'event'));
  // Caught up: nothing to replay.
  const current = new FakeSink();
  events.watch({ sinceRevision: 11, incarnation: '' }, current);
  await settle();
  assert.deepEqual(current.messages, []);
});

test('a revision of another incarnation (the agent restarted) gets RESYNC, then a snapshot', async () => {
  const { events } = hub();
  publishMany(events, 1, 3);
  const sink = new FakeSink();
  events.watch({ sinceRevision: 2, incarnation: 'inc-0' }, sink);
  await settle();
  assert.deepEqual(sink.kinds(), ['resync:agent-restarted@3', 'snapshot@3']);
});

test('a revision older than the history gets RESYNC and a snapshot; the oldest it holds replays', async () => {
  const { events } = hub({ historySize: 4 });
  publishMany(events, 1, 10); // keeps 7..10
  const old = new FakeSink();
  events.watch({ sinceRevision: 5, incarnation: 'inc-1' }, old);
  const edge = new FakeSink();
  events.watch({ sinceRevision: 6, incarnation: 'inc-1' }, edge);
  const ahead = new FakeSink();
  events.watch({ sinceRevision: 11, incarnation: 'inc-1' }, ahead);
  await settle();
  assert.deepEqual(old.kinds(), ['resync:history-exceeded@10', 'snapshot@10']);
  assert.deepEqual(revisions(edge), [7, 8, 9, 10]);
  assert.deepEqual(ahead.kinds(), ['resync:unknown-revision@10', 'snapshot@10']);
});

test('back-pressure: after a refused write nothing is written until the transport drains', async () => {
  const { events } = hub();
  const sink = new FakeSink(2); // takes the snapshot, then refuses (but keeps) event 1
  events.watch({ sinceRevision: 0, incarnation: '' }, sink);
  await settle();
  publishMany(events, 1, 5);
  assert.deepEqual(sink.kinds(), ['snapshot@0', 'event@1']);
  assert.equal(sink.writesWhileFull, 0);
  sink.drain();
  assert.deepEqual(revisions(sink), [1, 2, 3, 4, 5]);
});

test('a slow watcher that overflows its buffer gets RESYNC and a snapshot, never a silent gap', async () => {
  const { events } = hub({ watcherBuffer: 3 });
  const sink = new FakeSink(1); // the snapshot fills it
  const watcher = events.watch({ sinceRevision: 0, incarnation: '' }, sink);
  await settle();
  // 1-3 wait, 4 overflows: RESYNC, a snapshot at 4, 5-7 wait behind it, 8 overflows again.
  publishMany(events, 1, 10);
  assert.ok(watcher.backlog <= 3, `backlog ${watcher.backlog}`);
  assert.equal(sink.writesWhileFull, 0);
  sink.drain();
  await settle();
  publishMany(events, 11, 12);
  assert.deepEqual(sink.kinds(), ['snapshot@0', 'resync:watcher-overflow@8', 'snapshot@8', ...[9, 10, 11, 12].map((r) => `event@${r}`)]);
  // Every revision is either delivered or covered by a snapshot: from each snapshot on, consecutive.
  const afterLast = sink.messages.slice(sink.messages.findLastIndex((m) => m.kind === 'snapshot'));
  const snapshotAt = afterLast[0]?.revision ?? -1;
  assert.deepEqual(
    revisions({ messages: afterLast } as FakeSink),
    [...Array(12 - snapshotAt).keys()].map((i) => snapshotAt + 1 + i),
  );
});

test('libvirt back after a loss: a host event, every watcher starts over, and older revisions cannot replay', async () => {
  const { events, state } = hub();
  publishMany(events, 1, 3);
  const sink = new FakeSink();
  events.watch({ sinceRevision: 3, incarnation: 'inc-1' }, sink);
  state.libvirtConnected(false); // 4
  state.libvirtConnected(false); // no change, no event
  state.libvirtConnected(true); // 5, then the gap
  await settle();
  assert.deepEqual(sink.kinds(), ['event@4', 'event@5', 'resync:events-missed@5', 'snapshot@5']);
  const late = new FakeSink();
  events.watch({ sinceRevision: 4, incarnation: 'inc-1' }, late);
  await settle();
  assert.deepEqual(late.kinds(), ['resync:events-missed@5', 'snapshot@5']);
  const current = new FakeSink();
  events.watch({ sinceRevision: 5, incarnation: 'inc-1' }, current);
  events.publish(vmEvent(6));
  assert.deepEqual(current.kinds(), ['event@6']);
});

test('a snapshot libvirt cannot give ends the watch with the error; closed and ended watchers are forgotten', async () => {
  const { events } = hub({ vms: async () => Promise.reject(new Error('libvirt is down')) });
  const sink = new FakeSink();
  events.watch({ sinceRevision: 0, incarnation: '' }, sink);
  await settle();
  assert.match(String(sink.failed), /libvirt is down/);
  assert.equal(events.watcherCount, 0);
  const gone = hub();
  const closed = gone.events.watch({ sinceRevision: 0, incarnation: '' }, new FakeSink());
  const open = new FakeSink();
  gone.events.watch({ sinceRevision: 0, incarnation: '' }, open);
  closed.close();
  assert.equal(gone.events.watcherCount, 1);
  gone.events.close();
  assert.equal(open.ended, true);
  assert.equal(gone.events.watcherCount, 0);
});

test("libvirt's lifecycle events become watcher events, migrations told apart by their detail", () => {
  const domain = { name: 'guest1', uuid: VM.id, id: 1 };
  const change = (event: number, detail: number) => lifecycleChange({ domain, event, detail });
  assert.deepEqual(change(c.VIR_DOMAIN_EVENT_STARTED, c.VIR_DOMAIN_EVENT_STARTED_MIGRATED), {
    vmId: VM.id,
    name: 'guest1',
    event: 'migrated-in',
    detail: 'migrated',
    libvirtEvent: c.VIR_DOMAIN_EVENT_STARTED,
    libvirtDetail: c.VIR_DOMAIN_EVENT_STARTED_MIGRATED,
  });
  assert.equal(change(c.VIR_DOMAIN_EVENT_STOPPED, c.VIR_DOMAIN_EVENT_STOPPED_MIGRATED)?.event, 'migrated-out');
  assert.deepEqual(
    [
      change(c.VIR_DOMAIN_EVENT_STARTED, c.VIR_DOMAIN_EVENT_STARTED_BOOTED),
      change(c.VIR_DOMAIN_EVENT_SUSPENDED, c.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR),
    ].map((e) => `${e?.event}/${e?.detail}`),
    ['started/booted', 'paused/ioerror'],
  );
  assert.equal(change(c.VIR_DOMAIN_EVENT_STOPPED, c.VIR_DOMAIN_EVENT_STOPPED_DESTROYED)?.detail, 'destroyed');
  assert.equal(change(c.VIR_DOMAIN_EVENT_RESUMED, 99)?.detail, 'detail_99');
  assert.equal(change(42, 0), undefined);
});

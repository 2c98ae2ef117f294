// Event routing (procedure → decoder, callbackID → handler), isolation of handler exceptions,
// events that race their registration reply, keepalive, and the reconnecting client.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  constants,
  InterruptedError,
  LibvirtClient,
  ReconnectingClient,
  type ClientStatus,
  type DomainEvent,
  type ReconnectOptions,
} from '../../agent/libvirt/index.js';
import {
  decodeRemoteConnectDomainEventCallbackDeregisterAnyArgs,
  decodeRemoteConnectDomainEventCallbackRegisterAnyArgs,
  encodeRemoteConnectDomainEventCallbackRegisterAnyRet,
  encodeRemoteDomainEventCallbackJobCompletedMsg,
  encodeRemoteDomainEventCallbackLifecycleMsg,
  encodeRemoteDomainEventCallbackMigrationIterationMsg,
  RemoteProcedure,
} from '../../agent/libvirt/generated/remote_protocol.gen.js';
import { KEEPALIVE_PROC_PONG, KEEPALIVE_PROGRAM } from '../../agent/libvirt/wire/packet.js';
import { MockLibvirtd } from '../support/mock-libvirtd.js';
import { sleep, until } from '../support/wait.js';

const {
  VIR_DOMAIN_EVENT_ID_LIFECYCLE: LIFECYCLE,
  VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION: ITERATION,
  VIR_DOMAIN_EVENT_ID_JOB_COMPLETED: JOB_COMPLETED,
} = constants;
const wireDom = { name: 'vm1', uuid: Buffer.alloc(16, 0xab), id: 4 };

const lifecycle =
  (callbackID: number, event: number, detail = 0) =>
  (w: Parameters<typeof encodeRemoteDomainEventCallbackLifecycleMsg>[0]) =>
    encodeRemoteDomainEventCallbackLifecycleMsg(w, { callbackID, msg: { dom: wireDom, event, detail } });
const iteration = (callbackID: number, n: number) => (w: Parameters<typeof encodeRemoteDomainEventCallbackMigrationIterationMsg>[0]) =>
  encodeRemoteDomainEventCallbackMigrationIterationMsg(w, { callbackID, dom: wireDom, iteration: n });

describe('events and connection health', () => {
  let mock: MockLibvirtd;
  const toClose: Array<{ close(): Promise<void> }> = [];
  beforeEach(async () => {
    mock = await MockLibvirtd.start();
  });
  afterEach(async () => {
    for (const c of toClose.splice(0)) await c.close().catch(() => {});
    await mock.close();
  });
  const connect = async (opts: Partial<Parameters<typeof LibvirtClient.connect>[0]> = {}) => {
    const c = await LibvirtClient.connect({ dialer: mock.dialer(), keepalive: false, ...opts });
    toClose.push(c);
    return c;
  };

  it('routes each event to the subscription its callbackID names', async () => {
    const registered: unknown[] = [];
    let next = 100;
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', (c) => {
      const a = decodeRemoteConnectDomainEventCallbackRegisterAnyArgs(c.args);
      registered.push([a.eventID, a.dom?.name ?? null]);
      const callbackID = next++;
      return { body: (w) => encodeRemoteConnectDomainEventCallbackRegisterAnyRet(w, { callbackID }) };
    });
    const c = await connect();
    const got: Array<[string, DomainEvent]> = [];
    await c.events.subscribe(LIFECYCLE, (e) => got.push(['life-all', e]));
    await c.events.subscribe(LIFECYCLE, (e) => got.push(['life-vm1', e]), {
      name: 'vm1',
      uuid: 'abababab-abab-abab-abab-abababababab',
      id: 4,
    });
    await c.events.subscribe(ITERATION, (e) => got.push(['iter', e]));
    await c.events.subscribe(JOB_COMPLETED, (e) => got.push(['done', e]));
    assert.deepEqual(registered, [
      [0, null],
      [0, 'vm1'],
      [20, null],
      [21, null],
    ]);

    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE, lifecycle(101, constants.VIR_DOMAIN_EVENT_STARTED, 0));
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(102, 3));
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED, (w) =>
      encodeRemoteDomainEventCallbackJobCompletedMsg(w, {
        callbackID: 103,
        dom: wireDom,
        params: [
          { field: 'time_elapsed', value: { type: 4, ul: 1234n } },
          { field: 'downtime', value: { type: 4, ul: 7n } },
        ],
      }),
    );
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE, lifecycle(100, constants.VIR_DOMAIN_EVENT_STOPPED, 1));
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_LIFECYCLE, lifecycle(999, 0)); // nobody's: dropped
    await until('the four subscribed events', () => got.length >= 4);
    await sleep(20);
    assert.deepEqual(
      got.map(([who, e]) => [who, e.kind, e.callbackId]),
      [
        ['life-vm1', 'lifecycle', 101],
        ['iter', 'migration-iteration', 102],
        ['done', 'job-completed', 103],
        ['life-all', 'lifecycle', 100],
      ],
    );
    const [, started] = got[0]!;
    assert.ok(started.kind === 'lifecycle');
    assert.equal(started.eventName, 'VIR_DOMAIN_EVENT_STARTED');
    assert.equal(started.domain.uuid, 'abababab-abab-abab-abab-abababababab');
    const [, done] = got[2]!;
    assert.ok(done.kind === 'job-completed');
    assert.equal(done.stats.time_elapsed, 1234n);
    const [, iter] = got[1]!;
    assert.ok(iter.kind === 'migration-iteration' && iter.iteration === 3);
  });

  it('isolates a throwing handler: routing and the connection carry on', async () => {
    const errors: unknown[] = [];
    const c = await connect({ onHandlerError: (e) => errors.push(e) });
    const seen: number[] = [];
    await c.events.subscribe(ITERATION, (e) => {
      seen.push(e.iteration);
      if (e.iteration === 1) throw new Error('handler bug');
    });
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(1, 1));
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(1, 2));
    await until('both iterations handled', () => seen.length === 2);
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]), /handler bug/);
    assert.equal(c.isOpen, true);
    assert.equal(await c.connectGetLibVersion(), 9_000_000);
  });

  it('delivers an event that arrives before the registration reply is processed', async () => {
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', (call) => {
      // Reply, then immediately an event, written together so they arrive in one chunk.
      const body = (w: Parameters<typeof encodeRemoteConnectDomainEventCallbackRegisterAnyRet>[0]) =>
        encodeRemoteConnectDomainEventCallbackRegisterAnyRet(w, { callbackID: 7 });
      setImmediate(() => mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(7, 1)));
      call.socket.cork();
      setImmediate(() => call.socket.uncork());
      return { body };
    });
    const c = await connect();
    const seen: number[] = [];
    await c.events.subscribe(ITERATION, (e) => seen.push(e.iteration));
    await until('the iteration event', () => seen.length === 1);
    assert.deepEqual(seen, [1]);
  });

  it('unsubscribe stops delivery and deregisters the callback', async () => {
    const deregistered: number[] = [];
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY', (c) => {
      deregistered.push(decodeRemoteConnectDomainEventCallbackDeregisterAnyArgs(c.args).callbackID);
      return undefined;
    });
    const c = await connect();
    const seen: number[] = [];
    const off = await c.events.subscribe(ITERATION, (e) => seen.push(e.iteration));
    await off();
    await off(); // idempotent
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(1, 1));
    await sleep(30);
    assert.deepEqual(seen, []);
    assert.deepEqual(deregistered, [1]);
  });

  it('shares one registration per event id and domain, as libvirtd refuses a second one; the last to leave deregisters', async () => {
    const registered: Array<[number, string | null]> = [];
    const deregistered: number[] = [];
    const tracked = new Set<string>();
    let next = 10;
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', (c) => {
      const a = decodeRemoteConnectDomainEventCallbackRegisterAnyArgs(c.args);
      const key = `${a.eventID}/${a.dom?.name ?? '*'}`;
      // What libvirtd answers to a duplicate on one connection.
      if (tracked.has(key)) return { error: { code: 8, message: 'invalid argument: event callback already tracked' } };
      tracked.add(key);
      registered.push([a.eventID, a.dom?.name ?? null]);
      const callbackID = next++;
      return { body: (w) => encodeRemoteConnectDomainEventCallbackRegisterAnyRet(w, { callbackID }) };
    });
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY', (c) => {
      deregistered.push(decodeRemoteConnectDomainEventCallbackDeregisterAnyArgs(c.args).callbackID);
      tracked.clear();
      return undefined;
    });
    const c = await connect();
    const seen: string[] = [];
    const [offA, offB] = await Promise.all([
      c.events.subscribe(ITERATION, (e) => seen.push(`a${e.iteration}`)),
      c.events.subscribe(ITERATION, (e) => seen.push(`b${e.iteration}`)),
    ]);
    assert.deepEqual(registered, [[ITERATION, null]]);
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(10, 1));
    await until('both subscribers to see iteration 1', () => seen.length === 2);
    assert.deepEqual(seen.sort(), ['a1', 'b1']);
    await offA();
    assert.deepEqual(deregistered, [], 'b still listens');
    mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(10, 2));
    await until('iteration 2', () => seen.length === 3);
    assert.equal(seen[2], 'b2');
    await offB();
    assert.deepEqual(deregistered, [10]);
    // And a new subscriber registers afresh.
    await c.events.subscribe(ITERATION, () => {});
    assert.deepEqual(registered, [
      [ITERATION, null],
      [ITERATION, null],
    ]);
  });

  it('rejects event ids it cannot decode', async () => {
    const c = await connect();
    await assert.rejects(
      c.events.subscribe(5 as never, () => {}),
      /not supported/,
    );
  });

  it("answers the daemon's keepalive PING with a PONG", async () => {
    await connect();
    mock.ping();
    await until('a keepalive PONG', () =>
      mock.received.some((h) => h.program === KEEPALIVE_PROGRAM && h.procedure === KEEPALIVE_PROC_PONG),
    );
  });

  it('notices a hung daemon through keepalive and rejects pending calls', async () => {
    mock.answerKeepalive = false;
    mock.on('CONNECT_GET_HOSTNAME', () => ({ hang: true }));
    const c = await connect({ keepalive: { intervalMs: 60, count: 2 } });
    const t0 = Date.now();
    await assert.rejects(
      c.connectGetHostname(),
      (e: unknown) => e instanceof InterruptedError && /keepalive/.test(String((e.cause as Error).message)),
    );
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(mock.received.filter((h) => h.program === KEEPALIVE_PROGRAM).length >= 2, 'pings were sent');
  });

  it('keeps a healthy idle connection alive with keepalive on', async () => {
    const c = await connect({ keepalive: { intervalMs: 40, count: 2 } });
    await sleep(300);
    assert.equal(c.isOpen, true);
    assert.equal(await c.connectGetLibVersion(), 9_000_000);
  });
});

describe('reconnecting client', () => {
  let mock: MockLibvirtd;
  beforeEach(async () => {
    mock = await MockLibvirtd.start();
  });
  afterEach(async () => {
    await mock.close();
  });
  /** A client of the mock that retries every 10 ms and records its statuses. */
  function quickClient(extra: Partial<ReconnectOptions> = {}) {
    const statuses: ClientStatus[] = [];
    const rc = new ReconnectingClient({
      dialer: mock.dialer(),
      keepalive: false,
      retryStrategy: () => 10,
      onStatus: (s) => statuses.push(s),
      ...extra,
    });
    return { rc, statuses };
  }

  it('reconnects with backoff, re-subscribes, and never replays an interrupted call', async () => {
    const statuses: ClientStatus[] = [];
    const attempts: number[] = [];
    mock.on('DOMAIN_MIGRATE_START_POST_COPY', () => ({ hang: true }));
    const rc = new ReconnectingClient({
      dialer: mock.dialer(),
      keepalive: false,
      retryStrategy: (n) => {
        attempts.push(n);
        return 20;
      },
      onStatus: (s) => statuses.push(s),
    });
    try {
      const c1 = await rc.client();
      const seen: number[] = [];
      await rc.subscribe(ITERATION, (e) => seen.push(e.iteration));
      const inflight = c1.domainMigrateStartPostCopy({ name: 'vm', uuid: '00000000-0000-0000-0000-000000000001', id: 1 });
      // Dropped only once the daemon has the call: it is then in flight, not unsent.
      await until('the call at the daemon', () => mock.count('DOMAIN_MIGRATE_START_POST_COPY') === 1);
      mock.dropAll();
      await assert.rejects(inflight, InterruptedError);
      const c2 = await rc.client();
      assert.notEqual(c2, c1);
      assert.deepEqual(statuses, ['ready', 'reconnecting', 'ready']);
      assert.deepEqual(attempts, [1]);
      assert.equal(mock.count('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY'), 2, 're-subscribed');
      assert.equal(mock.count('DOMAIN_MIGRATE_START_POST_COPY'), 1, 'not replayed');
      mock.sendEvent(RemoteProcedure.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION, iteration(2, 9));
      await until('the event after the reconnect', () => seen.length === 1);
    } finally {
      await rc.close();
    }
  });

  it('stays connected when one subscription cannot be re-registered after a reconnect', async () => {
    const subErrors: unknown[] = [];
    let registrations = 0;
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', () => {
      registrations++;
      if (registrations > 1) return { error: { code: 42, message: 'Domain not found' } };
      return { body: (w) => encodeRemoteConnectDomainEventCallbackRegisterAnyRet(w, { callbackID: 1 }) };
    });
    const { rc, statuses } = quickClient({ onSubscriptionError: (e) => subErrors.push(e) });
    try {
      await rc.client();
      await rc.subscribe(LIFECYCLE, () => {}, { name: 'gone', uuid: '00000000-0000-0000-0000-000000000002', id: 1 });
      mock.dropAll();
      await until('ready, reconnecting, ready', () => statuses.length === 3);
      assert.deepEqual(statuses, ['ready', 'reconnecting', 'ready']);
      assert.equal(subErrors.length, 1);
      assert.match(String(subErrors[0]), /Domain not found/);
    } finally {
      await rc.close();
    }
  });

  it('forgets a subscription the daemon refused: a reconnect does not register it for nobody', async () => {
    let registrations = 0;
    mock.on('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY', () => {
      registrations++;
      if (registrations === 1) return { error: { code: 8, message: 'invalid argument: event callback already tracked' } };
      return { body: (w) => encodeRemoteConnectDomainEventCallbackRegisterAnyRet(w, { callbackID: registrations }) };
    });
    const { rc, statuses } = quickClient();
    try {
      await rc.client();
      await assert.rejects(
        rc.subscribe(JOB_COMPLETED, () => {}),
        /already tracked/,
      );
      mock.dropAll();
      await until('ready, reconnecting, ready', () => statuses.length === 3);
      assert.equal(registrations, 1, 'nothing re-registered after the reconnect');
    } finally {
      await rc.close();
    }
  });

  it('retries while the daemon is down and gives up when retryStrategy says so', async () => {
    const path = mock.path;
    await mock.close();
    const attempts: number[] = [];
    const statuses: ClientStatus[] = [];
    const { unixDialer } = await import('../../agent/libvirt/index.js');
    const rc = new ReconnectingClient({
      dialer: unixDialer(path),
      keepalive: false,
      readyTimeoutMs: 5_000,
      retryStrategy: (n) => {
        attempts.push(n);
        return n < 3 ? 10 : null;
      },
      onStatus: (s) => statuses.push(s),
    });
    await assert.rejects(rc.client(), (e: unknown) => String((e as Error).message).includes(path));
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.equal(rc.state, 'closed');
    assert.deepEqual(statuses, ['reconnecting', 'closed']);
    mock = await MockLibvirtd.start(); // for afterEach
  });
});

// One migration, one trace: the source's core and the destination's core,
// each with its own tracer (a "host"), joined by peers that hand the trace
// context over as the gRPC adapters do. The spans' parents show the
// sequence: Migrate, the checks and CheckIncoming, the job with its prepare,
// perform, switch-over or cleanup, FinishIncoming, and the pinhole on the
// destination; errors are recorded where they happen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMigrations, PeerAgents } from '../../agent/migration/index.js';
import { FerryError, isFerryError } from '../../shared/errors.js';
import { FakeHypervisor, stats } from '../support/fake-ports.js';
import { afterPasses, finalOf, incomingMigrations, outgoingMigrations, remoteRequest } from '../support/migration-fixtures.js';
import { RecordingTracer, spanTree, type RecordedSpan } from '../support/recording-tracer.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const ENGINE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ENGINE_SPAN = '00f067aa0ba902b7';
const ENGINE = { traceparent: `00-${ENGINE_TRACE}-${ENGINE_SPAN}-01` };

/** The destination's core behind the PeerAgents port: what agent/peers and agent/rpc do, minus gRPC. */
function bridgeTo(destination: IncomingMigrations): PeerAgents {
  return {
    prepareIncoming: (_dst, args) => destination.prepare(args),
    prepareRecovery: (_dst, args) => destination.prepareRecovery(args),
    checkIncoming: (_dst, args) => destination.check(args),
    finishIncoming: async (_dst, args) => void (await destination.finish(args)),
  };
}

function twoHosts() {
  const spans: RecordedSpan[] = [];
  const destination = incomingMigrations({ tracer: new RecordingTracer('lab2', spans) });
  const hypervisor = new FakeHypervisor();
  hypervisor.addVm(VM);
  const source = outgoingMigrations({ hypervisor, peers: bridgeTo(destination), tracer: new RecordingTracer('lab1', spans) });
  return { spans, hypervisor, source };
}

const named = (spans: RecordedSpan[], host: string, name: string) => {
  const found = spans.filter((s) => s.host === host && s.name === name);
  assert.equal(found.length, 1, `one ${host} span ${name}: ${spanTree(spans).join('; ')}`);
  return found[0]!;
};

function assertOneTrace(spans: RecordedSpan[], traceId: string): void {
  assert.deepEqual([...new Set(spans.map((s) => s.traceId))], [traceId], 'every span of both hosts in the one trace');
  const unended = spans.filter((s) => !s.ended).map((s) => `${s.host} ${s.name}`);
  assert.deepEqual(unended, [], 'every span ended');
}

test("a successful migration is one trace under the engine's traceparent, with spans from both hosts and the right parents", async () => {
  const { spans, hypervisor, source } = twoHosts();
  const { jobId } = await source.migrate(remoteRequest(VM, { trace: ENGINE }));
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  assert.equal((await finalOf(source, jobId)).phase, 'completed');
  await until('the destination told, and its answer heard', () =>
    ['lab1', 'lab2'].every((host) => spans.some((s) => s.host === host && s.name === 'FinishIncoming' && s.ended)),
  );

  const tree = spanTree(spans);
  for (const line of [
    'lab1 Migrate <- (remote)',
    'lab1 checks <- Migrate',
    'lab1 CheckIncoming <- checks',
    'lab2 CheckIncoming <- CheckIncoming',
    'lab1 migration <- Migrate',
    'lab1 prepare <- migration',
    'lab1 PrepareIncoming <- prepare',
    'lab2 PrepareIncoming <- PrepareIncoming',
    'lab2 pinhole open <- PrepareIncoming',
    'lab1 perform <- migration',
    'lab1 switch-over <- migration',
    'lab1 FinishIncoming <- migration',
    'lab2 FinishIncoming <- FinishIncoming',
    'lab2 pinhole close <- FinishIncoming',
  ]) {
    assert.ok(tree.includes(line), `${line} in ${tree.join('; ')}`);
  }
  assert.ok(!tree.some((l) => l.includes('cleanup')), 'no cleanup after a success');
  assertOneTrace(spans, ENGINE_TRACE);
  assert.equal(named(spans, 'lab1', 'Migrate').parentId, ENGINE_SPAN);
  assert.equal(named(spans, 'lab1', 'Migrate').kind, 'server');
  assert.equal(named(spans, 'lab1', 'PrepareIncoming').kind, 'client');
  assert.equal(named(spans, 'lab2', 'PrepareIncoming').kind, 'server');
  const job = named(spans, 'lab1', 'migration');
  assert.equal(job.attributes['ferry.job_id'], jobId);
  assert.equal(job.attributes['ferry.migration.phase'], 'COMPLETED');
  assert.deepEqual(
    spans.flatMap((s) => s.errors),
    [],
  );
});

test('a failed perform is one trace too: perform and the job carry the error, cleanup tells the destination, which closes its hole', async () => {
  const { spans, hypervisor, source } = twoHosts();
  const { jobId } = await source.migrate(remoteRequest(VM));
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.failMigration(VM, new FerryError('INTERNAL', 'operation failed: job migration out: unexpectedly failed', { libvirtCode: 1 }));
  assert.equal((await finalOf(source, jobId)).phase, 'failed');
  await until('the destination told, and its answer heard', () =>
    ['lab1', 'lab2'].every((host) => spans.some((s) => s.host === host && s.name === 'FinishIncoming' && s.ended)),
  );

  const tree = spanTree(spans);
  for (const line of [
    'lab1 Migrate <- (root)',
    'lab1 perform <- migration',
    'lab1 cleanup <- migration',
    'lab1 FinishIncoming <- cleanup',
    'lab2 FinishIncoming <- FinishIncoming',
    'lab2 pinhole close <- FinishIncoming',
  ]) {
    assert.ok(tree.includes(line), `${line} in ${tree.join('; ')}`);
  }
  assert.ok(!tree.some((l) => l.includes('switch-over')));
  assertOneTrace(spans, named(spans, 'lab1', 'Migrate').traceId);
  assert.deepEqual(named(spans, 'lab1', 'perform').errors, ['operation failed: job migration out: unexpectedly failed']);
  const job = named(spans, 'lab1', 'migration');
  assert.equal(job.attributes['ferry.migration.phase'], 'FAILED');
  assert.equal(job.attributes['ferry.migration.failed_step'], 'perform');
  assert.equal(job.errors.length, 1);
  assert.equal(named(spans, 'lab2', 'FinishIncoming').attributes['ferry.success'], false);
});

test('a refused Migrate records the error on its span; the job that never ran ends with it', async () => {
  const spans: RecordedSpan[] = [];
  const hypervisor = new FakeHypervisor();
  hypervisor.addVm(VM);
  const refusing: PeerAgents = {
    checkIncoming: async () => ({ blocking: [], warnings: [], displayAddress: '' }),
    prepareIncoming: async () => {
      throw new FerryError('INVALID_ARGUMENT', 'dstqemu: 198.19.0.9 is not an address of the destination host');
    },
    prepareRecovery: async () => {
      throw new FerryError('FAILED_PRECONDITION', 'not in this test');
    },
    finishIncoming: async () => {},
  };
  const source = outgoingMigrations({ hypervisor, peers: refusing, tracer: new RecordingTracer('lab1', spans) });
  await assert.rejects(source.migrate(remoteRequest(VM, { trace: ENGINE })), (e) => isFerryError(e, 'INVALID_ARGUMENT'));
  assertOneTrace(spans, ENGINE_TRACE);
  const message = 'dstqemu: 198.19.0.9 is not an address of the destination host';
  assert.deepEqual(named(spans, 'lab1', 'Migrate').errors, [message]);
  assert.deepEqual(named(spans, 'lab1', 'migration').errors, [message]);
  assert.deepEqual(named(spans, 'lab1', 'PrepareIncoming').errors, [message]);
});

test('each convergence action is a span of the job, with its reason', async () => {
  const { spans, hypervisor, source } = twoHosts();
  const { jobId } = await source.migrate(remoteRequest(VM, { policy: { schedule: [afterPasses(1, 'set-downtime', 300)] } }));
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.current = stats(100, 300, { iteration: 2 });
  await until('the downtime raised', () => source.status({ jobId }).convergence.length > 0);
  hypervisor.complete(VM);
  await finalOf(source, jobId);
  const action = named(spans, 'lab1', 'convergence set-downtime');
  assert.equal(spans.find((s) => s.spanId === action.parentId)?.name, 'migration');
  assert.equal(action.attributes['ferry.convergence.action'], 'set-downtime');
  assert.equal(typeof action.attributes['ferry.convergence.reason'], 'string');
  assert.ok(action.ended);
});

test("a retry under another traceparent is the same request (the trace is not part of the request's identity)", async () => {
  const { hypervisor, source } = twoHosts();
  const first = await source.migrate(remoteRequest(VM, { requestId: 'r-1', trace: ENGINE }));
  const other = { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01` };
  const retry = await source.migrate(remoteRequest(VM, { requestId: 'r-1', trace: other }));
  assert.equal(retry.jobId, first.jobId);
  await until('perform', () => hypervisor.isMigrating(VM));
  hypervisor.complete(VM);
  await finalOf(source, first.jobId);
});

// Tracing on the lab: lab1's and lab2's ferryd restarted with OTEL_* set,
// exporting to an OTLP/HTTP receiver in this process on the engine's address
// (198.18.0.254, which every host's management network reaches). One
// successful migration lab1 → lab2 and one cancelled one: each is exactly one
// trace, the engine's (its traceparent sent with Migrate), with spans from
// both hosts (told apart by the resource's host.name) whose parents link the
// source's calls to the destination's answers. The agents get their normal
// environment back at the end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, ferryd, waitForStatus, watchToEnd } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, readLabState } from '../support/lab.js';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../support/otlp-receiver.js';
import { until } from '../support/wait.js';

const VM = 'e2e-tracing';
const HOSTS = ['lab1', 'lab2'];
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

let receiver: OtlpReceiver;

before(async () => {
  await ensureLab(2);
  // The engine's address on the management bridge (198.18.0.254): every host's ferryd reaches it.
  receiver = await startOtlpReceiver(readLabState().engineIp);
  const env = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=ferry-lab',
  };
  for (const host of HOSTS) await ferryd('restart', host, env);
});

after(async () => {
  await destroyVm('lab1', VM);
  // Back to the lab's normal environment: tracing off.
  for (const host of HOSTS) await ferryd('restart', host);
  closeAgents();
  await receiver?.close();
});

/** An engine's traceparent: a new trace id and the engine's span id. */
function engineContext() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  const metadata = new grpc.Metadata();
  metadata.set('traceparent', `00-${traceId}-${spanId}-01`);
  return { traceId, spanId, metadata };
}

function spansOf(traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId);
}

function one(spans: ReceivedSpan[], host: string, name: string, kind?: number): ReceivedSpan {
  const found = spans.filter((s) => s.resource['host.name'] === host && s.name === name && (kind === undefined || s.kind === kind));
  assert.equal(found.length, 1, `one ${host} span ${name}, among ${describe(spans)}`);
  return found[0]!;
}

function describe(spans: ReceivedSpan[]): string {
  return spans.map((s) => `${s.resource['host.name']}:${s.name}`).join(', ');
}

/** Every span of the job is in the engine's trace, every parent is a span of it (or the engine's), and both hosts sent spans. */
function assertOneTrace(jobId: string, traceId: string, engineSpanId: string): ReceivedSpan[] {
  const ofJob = receiver.spans.filter((s) => s.attributes['ferry.job_id'] === jobId);
  assert.ok(ofJob.length > 0, 'spans name the job');
  assert.deepEqual([...new Set(ofJob.map((s) => s.traceId))], [traceId], 'one trace per migration');
  const spans = spansOf(traceId);
  const ids = new Set(spans.map((s) => s.spanId));
  for (const s of spans) {
    assert.ok(s.parentSpanId === engineSpanId || ids.has(s.parentSpanId), `${s.resource['host.name']}:${s.name} has a parent in the trace`);
  }
  assert.deepEqual([...new Set(spans.map((s) => String(s.resource['host.name'])))].sort(), HOSTS, 'spans from both hosts');
  for (const s of spans) {
    assert.equal(s.resource['service.name'], 'ferryd');
    assert.equal(s.resource['deployment.environment'], 'ferry-lab');
  }
  return spans;
}

/** A job's last spans leave each agent after it ends: the destination's pinhole close, the source's job span and FinishIncoming. */
async function lastSpansExported(traceId: string): Promise<void> {
  await until('the destination closed its pinhole (its span exported)', () => spansOf(traceId).some((s) => s.name === 'pinhole close'), {
    timeoutMs: 15_000,
    detail: () => describe(spansOf(traceId)),
  });
  await until(
    'the job span and the source side of FinishIncoming exported',
    () =>
      ['migration', 'FinishIncoming'].every((name) => spansOf(traceId).some((s) => s.resource['host.name'] === 'lab1' && s.name === name)),
    { timeoutMs: 5000, detail: () => describe(spansOf(traceId)) },
  );
}

function assertChild(child: ReceivedSpan, parent: ReceivedSpan): void {
  assert.equal(
    child.parentSpanId,
    parent.spanId,
    `${child.resource['host.name']}:${child.name} is a child of ${parent.resource['host.name']}:${parent.name}`,
  );
}

test("a successful migration lab1 → lab2 is one trace, the engine's, with both hosts' spans linked call to answer", async () => {
  const { uuid } = await createVm('lab1', VM, { memMiB: 128 });
  const engine = engineContext();
  const accepted = await unary(
    agent('lab1').migration,
    'Migrate',
    { vmId: uuid, dst: '198.18.0.2', dstqemu: '198.19.0.2' },
    { metadata: engine.metadata },
  );
  const progress = await watchToEnd('lab1', accepted.jobId);
  assert.equal(progress.at(-1)?.phase, 'MIGRATION_PHASE_COMPLETED');
  await lastSpansExported(engine.traceId);

  const spans = assertOneTrace(accepted.jobId, engine.traceId, engine.spanId);
  const migrate = one(spans, 'lab1', 'Migrate', SERVER);
  assert.equal(migrate.parentSpanId, engine.spanId, "Migrate continues the engine's span");
  const job = one(spans, 'lab1', 'migration');
  assertChild(job, migrate);
  assertChild(one(spans, 'lab1', 'checks'), migrate);
  for (const call of ['CheckIncoming', 'PrepareIncoming', 'FinishIncoming']) {
    assertChild(one(spans, 'lab2', call, SERVER), one(spans, 'lab1', call, CLIENT));
  }
  assertChild(one(spans, 'lab2', 'pinhole open'), one(spans, 'lab2', 'PrepareIncoming', SERVER));
  assertChild(one(spans, 'lab2', 'pinhole close'), one(spans, 'lab2', 'FinishIncoming', SERVER));
  for (const step of ['prepare', 'perform', 'switch-over']) assertChild(one(spans, 'lab1', step), job);
  assert.equal(job.attributes['ferry.migration.phase'], 'COMPLETED');

  // The log: lab1's job lines carry the job span's ids, lab2's rpc lines the trace id.
  const lines = async (host: string) => {
    const dir = readLabState().hosts.find((h) => h.name === host)!.dir;
    const text = await readFile(join(dir, 'ferryd.log'), 'utf8');
    return text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  const jobLines = (await lines('lab1')).filter((l) => l.message === 'job' && l.jobId === accepted.jobId);
  assert.ok(jobLines.length > 0);
  for (const line of jobLines) {
    assert.equal(line.traceId, engine.traceId);
    assert.equal(line.spanId, job.spanId);
  }
  const prepared = (await lines('lab2')).find(
    (l) => l.message === 'rpc' && String(l.method).endsWith('/PrepareIncoming') && l.traceId === engine.traceId,
  );
  assert.ok(prepared, "lab2's PrepareIncoming rpc line carries the trace id");
  assert.deepEqual(
    spans.filter((s) => s.statusCode === ERROR).map((s) => s.name),
    [],
    'no span failed',
  );
});

test('a cancelled migration is one trace too: the cancel, the failed perform and the cleanup on lab1, the hole closed on lab2', async () => {
  await destroyVm('lab1', VM);
  // A guest that dirties memory under a bandwidth cap: the copy lasts long enough to cancel.
  const { uuid } = await createVm('lab1', VM, { memMiB: 256, dirtyMbps: 5 });
  const engine = engineContext();
  const accepted = await unary(
    agent('lab1').migration,
    'Migrate',
    { vmId: uuid, dst: '198.18.0.2', dstqemu: '198.19.0.2', policy: { maxBandwidthMibps: 5 } },
    { metadata: engine.metadata },
  );
  await waitForStatus('lab1', accepted.jobId, (s) => s.phase === 'MIGRATION_PHASE_MIGRATING');
  const { status } = await unary(agent('lab1').migration, 'CancelMigration', { job: { jobId: accepted.jobId } });
  assert.equal(status?.phase, 'MIGRATION_PHASE_CANCELLED');
  await lastSpansExported(engine.traceId);

  const spans = assertOneTrace(accepted.jobId, engine.traceId, engine.spanId);
  const job = one(spans, 'lab1', 'migration');
  assert.equal(job.attributes['ferry.migration.phase'], 'CANCELLED');
  assert.equal(job.statusCode, ERROR, 'the job span carries the error');
  assert.ok(job.events.includes('exception'));
  assertChild(one(spans, 'lab1', 'cancel'), job);
  assert.equal(one(spans, 'lab1', 'perform').statusCode, ERROR);
  const cleanup = one(spans, 'lab1', 'cleanup');
  assertChild(cleanup, job);
  const finish = one(spans, 'lab1', 'FinishIncoming', CLIENT);
  assertChild(finish, cleanup);
  const answered = one(spans, 'lab2', 'FinishIncoming', SERVER);
  assertChild(answered, finish);
  assert.equal(answered.attributes['ferry.success'], false);
  assertChild(one(spans, 'lab2', 'pinhole close'), answered);
});

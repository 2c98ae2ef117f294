// W3C Trace Context across real gRPC on 127.0.0.1: an "engine" calls Migrate
// with a traceparent on a source agent's Migration service, whose core calls
// the destination's Peer service through the peers adapter (agent/peers).
// Each agent has its own OpenTelemetry tracer (read back from an in-memory
// exporter): the migration is one trace, the engine's, with the destination's
// server spans children of the source's client spans, for a success and a
// failure; the destination's rpc log lines carry the trace id. No root, no lab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { createLogger } from '../../agent/log.js';
import { GrpcPeers } from '../../agent/peers/grpc-peers.js';
import { rpcLogInterceptor } from '../../agent/rpc/logging.js';
import { migrationService } from '../../agent/rpc/migration-service.js';
import { peerService } from '../../agent/rpc/peer-service.js';
import { tracingWith, type Tracing } from '../../agent/telemetry/tracing/index.js';
import { connectAgent, unary } from '../../shared/client.js';
import { FerryError } from '../../shared/errors.js';
import { loadFerryProto } from '../../shared/proto.js';
import { FakeHypervisor } from '../support/fake-ports.js';
import { finalOf, incomingMigrations, outgoingMigrations } from '../support/migration-fixtures.js';
import { until } from '../support/wait.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';
const ENGINE_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const ENGINE_SPAN = '00f067aa0ba902b7';

function tracingFor(host: string): { tracing: Tracing; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const tracing = tracingWith(
    new SimpleSpanProcessor({ exporter }),
    { serviceName: 'ferryd', resourceAttributes: {}, sampler: { kind: 'parentbased_always_on' } },
    { hostName: host, version: 'test' },
  );
  return { tracing, exporter };
}

async function serve(services: Record<string, grpc.UntypedServiceImplementation>, interceptors: grpc.ServerInterceptor[] = []) {
  const v1 = loadFerryProto().grpcObject.ferry.v1;
  const server = new grpc.Server({ interceptors });
  if (services.migration) server.addService(v1.MigrationService.service, services.migration);
  if (services.peer) server.addService(v1.PeerService.service, services.peer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

async function twoAgents() {
  const lab1 = tracingFor('lab1');
  const lab2 = tracingFor('lab2');
  const logLines: string[] = [];
  const logStream = new PassThrough();
  logStream.on('data', (chunk: Buffer) => logLines.push(...chunk.toString().split('\n').filter(Boolean)));
  const destination = await serve(
    { peer: peerService(incomingMigrations({ tracer: lab2.tracing.tracer })) as grpc.UntypedServiceImplementation },
    [rpcLogInterceptor(createLogger({ stream: logStream, human: false }))],
  );
  const hypervisor = new FakeHypervisor();
  hypervisor.addVm(VM);
  const insecure = grpc.credentials.createInsecure();
  const peers = new GrpcPeers(() => insecure, 5000);
  const migrations = outgoingMigrations({ hypervisor, peers, tracer: lab1.tracing.tracer });
  const source = await serve({ migration: migrationService({ migrations }) as grpc.UntypedServiceImplementation });
  const engine = connectAgent(source.address, insecure);
  const close = () => {
    engine.close();
    peers.close();
    source.stop();
    destination.stop();
  };
  /** Migrate as an engine calls it, with its traceparent in the metadata. */
  const migrate = () => {
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', `00-${ENGINE_TRACE}-${ENGINE_SPAN}-01`);
    return unary(
      engine.migration,
      'Migrate',
      { vmId: VM, mode: 'MIGRATION_MODE_REMOTE', dst: destination.address, dstqemu: '198.19.0.2' },
      { metadata, timeoutMs: 10_000 },
    );
  };
  return { lab1, lab2, hypervisor, migrations, migrate, close, logLines };
}

const one = (spans: ReadableSpan[], name: string, kind?: SpanKind) => {
  const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
  assert.equal(found.length, 1, `one span ${name} among ${spans.map((s) => s.name).join(', ')}`);
  return found[0]!;
};

function assertChild(child: ReadableSpan, parent: ReadableSpan): void {
  assert.equal(child.spanContext().traceId, parent.spanContext().traceId, `${child.name} in ${parent.name}'s trace`);
  assert.equal(child.parentSpanContext?.spanId, parent.spanContext().spanId, `${child.name} a child of ${parent.name}`);
}

/** FinishIncoming ended on both sides: the destination answered, and the source heard it. */
async function bothHostsDone(lab1: InMemorySpanExporter, lab2: InMemorySpanExporter): Promise<void> {
  const finished = (exporter: InMemorySpanExporter) => exporter.getFinishedSpans().some((s) => s.name === 'FinishIncoming');
  await until('FinishIncoming answered and heard', () => finished(lab2) && finished(lab1));
}

test("a migration over gRPC is one trace, the engine's: the destination's spans are children of the source's calls", async () => {
  const { lab1, lab2, hypervisor, migrations, migrate, close, logLines } = await twoAgents();
  try {
    const { jobId } = await migrate();
    await until('perform', () => hypervisor.isMigrating(VM));
    hypervisor.complete(VM);
    assert.equal((await finalOf(migrations, jobId)).phase, 'completed');
    await bothHostsDone(lab1.exporter, lab2.exporter);
    const source = lab1.exporter.getFinishedSpans();
    const destination = lab2.exporter.getFinishedSpans();

    const migrateSpan = one(source, 'Migrate');
    assert.equal(migrateSpan.spanContext().traceId, ENGINE_TRACE, "the engine's trace");
    assert.equal(migrateSpan.parentSpanContext?.spanId, ENGINE_SPAN);
    for (const call of ['CheckIncoming', 'PrepareIncoming', 'FinishIncoming']) {
      const client = one(source, call, SpanKind.CLIENT);
      const server = one(destination, call, SpanKind.SERVER);
      assertChild(server, client);
      assert.equal(server.parentSpanContext?.isRemote, true);
    }
    assertChild(one(destination, 'pinhole open'), one(destination, 'PrepareIncoming'));
    assertChild(one(destination, 'pinhole close'), one(destination, 'FinishIncoming'));
    assertChild(one(source, 'perform'), one(source, 'migration'));
    assert.deepEqual(new Set([...source, ...destination].map((s) => s.spanContext().traceId)), new Set([ENGINE_TRACE]));
    assert.equal(source[0]?.resource.attributes['host.name'], 'lab1');
    assert.equal(destination[0]?.resource.attributes['host.name'], 'lab2');

    const prepareLine = logLines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => String(l.method).endsWith('/PrepareIncoming'));
    assert.equal(prepareLine?.traceId, ENGINE_TRACE, "the destination's rpc log line carries the trace id");
  } finally {
    close();
    await Promise.all([lab1.tracing.shutdown(), lab2.tracing.shutdown()]);
  }
});

test('a failed migration is one trace too, with the error on the source and the outcome on the destination', async () => {
  const { lab1, lab2, hypervisor, migrations, migrate, close } = await twoAgents();
  try {
    const { jobId } = await migrate();
    await until('perform', () => hypervisor.isMigrating(VM));
    hypervisor.failMigration(VM, new FerryError('INTERNAL', 'operation failed: job migration out: unexpectedly failed'));
    assert.equal((await finalOf(migrations, jobId)).phase, 'failed');
    await bothHostsDone(lab1.exporter, lab2.exporter);
    const source = lab1.exporter.getFinishedSpans();
    const destination = lab2.exporter.getFinishedSpans();
    const job = one(source, 'migration');
    assert.equal(job.status.code, SpanStatusCode.ERROR);
    assert.equal(job.attributes['ferry.migration.phase'], 'FAILED');
    assert.equal(one(source, 'perform').status.code, SpanStatusCode.ERROR);
    assertChild(one(source, 'cleanup'), job);
    assertChild(one(source, 'FinishIncoming', SpanKind.CLIENT), one(source, 'cleanup'));
    const finish = one(destination, 'FinishIncoming', SpanKind.SERVER);
    assertChild(finish, one(source, 'FinishIncoming', SpanKind.CLIENT));
    assert.equal(finish.attributes['ferry.success'], false);
    assert.deepEqual(new Set([...source, ...destination].map((s) => s.spanContext().traceId)), new Set([ENGINE_TRACE]));
  } finally {
    close();
    await Promise.all([lab1.tracing.shutdown(), lab2.tracing.shutdown()]);
  }
});

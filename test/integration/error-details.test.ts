// An independent client reads Ferry's errors: Python grpcio with stubs that
// Debian's protoc compiles from proto/ferry/v1 and from Google's
// google/rpc/*.proto (the google-proto-files package), against an in-process
// ferryd gRPC server. It checks ErrorInfo reasons, BadRequest fields,
// PreconditionFailure and RetryInfo for ten different failures
// (test/integration/python/read_errors.py). Needs python3-grpcio,
// python3-protobuf and protobuf-compiler (scripts/setup installs them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { startGrpcServer, type RunningServer } from '../../agent/rpc/server.js';
import { migrationService } from '../../agent/rpc/migration-service.js';
import { HostLimits, type OutgoingMigrations } from '../../agent/migration/index.js';
import { REPO_ROOT } from '../support/lab.js';
import { FakeHypervisor } from '../support/fake-ports.js';
import { outgoingMigrations } from '../support/migration-fixtures.js';
import { compilePythonStubs } from '../support/python-stubs.js';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const GOOGLE_PROTOS = path.dirname(require.resolve('google-proto-files/package.json'));
const SCRIPT = path.join(REPO_ROOT, 'test/integration/python/read_errors.py');
const SHUTOFF_VM = '0b1c2d3e-4f50-4c1e-8f7a-6f1c2a3e9d4b';

let running: RunningServer;
let migrations: OutgoingMigrations;
let stubs: string;

before(async () => {
  stubs = mkdtempSync(path.join(tmpdir(), 'ferry-py-errors-'));
  compilePythonStubs(stubs);
  // Google's messages, as any client of the google.rpc error model has them.
  await run('protoc', [
    '-I/usr/include',
    `-I${GOOGLE_PROTOS}`,
    `--python_out=${stubs}`,
    'google/rpc/status.proto',
    'google/rpc/error_details.proto',
  ]);

  // The core behind the real Migration service; its ports are the unit tests'
  // fakes: what is under test here is the wire, not libvirt.
  const hypervisor = new FakeHypervisor();
  hypervisor.addVm(SHUTOFF_VM, 'shutoff');
  migrations = outgoingMigrations({ hypervisor });
  running = await startGrpcServer({
    address: '127.0.0.1:0',
    credentials: grpc.ServerCredentials.createInsecure(),
    services: {
      migration: migrationService({ migrations, limits: new HostLimits({ maxOutgoing: 2, maxIncoming: 2 }) }),
      peer: {},
      host: {},
    },
  });
});

after(async () => {
  await running?.shutdown(1000);
  if (stubs) rmSync(stubs, { recursive: true, force: true });
});

async function readErrors(phase: 'open' | 'closing'): Promise<Array<{ failure: string; reason: string; field: string }>> {
  const target = `127.0.0.1:${running.port}`;
  const result = await run('/usr/bin/python3', [SCRIPT, stubs, target, phase], { timeout: 60_000 }).catch(
    (err: { stdout?: string; stderr?: string; message: string }) => {
      assert.fail(`read_errors.py ${phase} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    },
  );
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { failure: string; reason: string; field: string });
}

test('a Python grpcio client reads the reason and the field of nine failures from google.rpc.Status', async () => {
  const read = await readErrors('open');
  assert.deepEqual(
    read.map((r) => `${r.reason} ${r.field}`),
    [
      'INVALID_FIELD vm_id',
      'FIELD_REQUIRED vm_id',
      'INVALID_FIELD dst',
      'VM_NOT_FOUND ',
      'VM_NOT_RUNNING vm_id',
      'JOB_NOT_FOUND job.job_id',
      'JOB_NOT_FOUND job.job_id',
      'FIELD_REQUIRED job',
      'INVALID_FIELD max_outgoing',
    ],
  );
});

test('and RetryInfo from an agent that is shutting down', async () => {
  migrations.stopAccepting();
  const read = await readErrors('closing');
  assert.deepEqual(
    read.map((r) => r.reason),
    ['AGENT_SHUTTING_DOWN'],
  );
});

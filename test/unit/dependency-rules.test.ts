// The dependency rule of the agent (README, "Code layout"), checked over the real
// tree and over small trees written here, one per way of breaking it, so that
// each rule is seen to go red with the file, line, import and rule in its message.
//
// The small trees are written to a temporary directory by the tests themselves
// rather than kept as .ts files under test/: tsc would compile those (their imports
// do not resolve), and each bad import sits next to the assertion it proves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ADAPTER_FOLDERS, checkImportRules, listImports, type RuleName, type Violation } from '../support/import-rules.js';
import { REPO_ROOT } from '../support/lab.js';

function checkTree(files: Record<string, string>): Violation[] {
  const root = mkdtempSync(join(tmpdir(), 'ferry-import-rules-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return checkImportRules(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const brief = (v: Violation) => `${v.file}:${v.line} ${v.specifier} ${v.rule}`;

function assertKept(rule: RuleName, violations: Violation[]): void {
  const broken = violations.filter((v) => v.rule === rule);
  if (broken.length > 0) assert.fail(`${broken.length} import(s) break ${rule}:\n${broken.map((v) => v.message).join('\n')}`);
}

// --- The real tree -----------------------------------------------------------

let realTree: Violation[] | undefined;
const real = (): Violation[] => (realTree ??= checkImportRules(REPO_ROOT));

test('real tree: agent/libvirt/ imports only node: modules and itself', () => {
  assertKept('libvirt-self-contained', real());
});

test('real tree: the migration core imports no node:fs, node:child_process, @grpc/* or adapter', () => {
  assertKept('core-knows-ports-only', real());
});

test('real tree: adapters reach the migration core only through agent/migration/index.ts', () => {
  assertKept('core-through-its-entry', real());
});

test("real tree: the checker reads it (the libvirt client, the core and the adapters' imports of it are there)", () => {
  // A checker looking at the wrong root would find nothing and pass every rule above.
  const imports = listImports(REPO_ROOT);
  assert.ok(
    imports.some((i) => i.file.startsWith('agent/libvirt/') && i.specifier.startsWith('node:')),
    'no node: import in agent/libvirt/',
  );
  assert.ok(
    imports.some((i) => i.file.startsWith('agent/migration/')),
    'no import in agent/migration/',
  );
  assert.ok(
    imports.some((i) => i.file.startsWith('agent/rpc/') && i.specifier.includes('/migration/')),
    'agent/rpc/ does not import the core',
  );
});

// --- A tree that keeps every rule ------------------------------------------------

test('a tree keeping every rule has no violations, whatever the import form', () => {
  assert.deepEqual(
    checkTree({
      'agent/libvirt/client.ts': [
        "import { Socket } from 'node:net';",
        "import type { Buffer } from 'node:buffer';",
        "import { encode } from './xdr.js';",
        "export { decode } from './codec/decode.js';",
        "const fs = await import('node:fs');",
      ].join('\n'),
      'agent/libvirt/codec/decode.ts': "import { encode } from '../xdr.js';\n",
      'agent/migration/migrations.ts': [
        "import type { Hypervisor } from './ports.js';",
        "import { EventEmitter } from 'node:events';",
        "import { randomUUID } from 'node:crypto';",
        "import { parse } from '../../shared/duration.js';",
        "import { log } from '../log.js';",
      ].join('\n'),
      'agent/migration/index.ts': "export { Migrations } from './migrations.js';\nexport type { Hypervisor } from './ports.js';\n",
      'agent/rpc/migration-service.ts':
        "import { Migrations, type Hypervisor } from '../migration/index.js';\nimport * as grpc from '@grpc/grpc-js';\n",
      'agent/main.ts': "import { Migrations } from './migration/index.js';\nimport { readFileSync } from 'node:fs';\n",
      'agent/hypervisor/libvirt-hypervisor.ts':
        "import type { Hypervisor } from '../migration/index.js';\nimport { LibvirtClient } from '../libvirt/client.js';\n",
    }),
    [],
  );
});

// --- agent/libvirt/ -------------------------------------------------------------

test('agent/libvirt/ importing a package, shared/, another agent folder or a bare node module is a violation', () => {
  const found = checkTree({
    'agent/libvirt/client.ts': [
      "import { Socket } from 'node:net';", // allowed
      "import YAML from 'yaml';",
      "import type { Logger } from '../log.js';",
      "export { parse } from '../../shared/duration.js';",
      "const m = await import('../migration/index.js');",
      "import { readFileSync } from 'fs';", // node: modules only, spelled as such
      "import dgram = require('unix-dgram');",
      "const yaml = require('yaml') as typeof import('yaml');",
    ].join('\n'),
  });
  assert.deepEqual(found.map(brief), [
    'agent/libvirt/client.ts:2 yaml libvirt-self-contained',
    'agent/libvirt/client.ts:3 ../log.js libvirt-self-contained',
    'agent/libvirt/client.ts:4 ../../shared/duration.js libvirt-self-contained',
    'agent/libvirt/client.ts:5 ../migration/index.js libvirt-self-contained',
    'agent/libvirt/client.ts:6 fs libvirt-self-contained',
    'agent/libvirt/client.ts:7 unix-dgram libvirt-self-contained',
    'agent/libvirt/client.ts:8 yaml libvirt-self-contained',
    'agent/libvirt/client.ts:8 yaml libvirt-self-contained',
  ]);
  assert.equal(
    found[0]?.message,
    "agent/libvirt/client.ts:2: imports 'yaml': agent/libvirt/ may import only node: modules and files inside agent/libvirt/",
  );
});

// --- agent/migration/ -----------------------------------------------------------

test('the migration core importing node:fs or node:child_process in any spelling is a violation', () => {
  const forms = ['fs', 'node:fs', 'node:fs/promises', 'fs/promises', 'child_process', 'node:child_process'];
  const found = checkTree({
    'agent/migration/job-journal.ts': forms.map((f, i) => `import * as m${i} from '${f}';`).join('\n'),
  });
  assert.deepEqual(
    found.map(brief),
    forms.map((f, i) => `agent/migration/job-journal.ts:${i + 1} ${f} core-knows-ports-only`),
  );
  assert.match(found[0]?.message ?? '', /^agent\/migration\/job-journal\.ts:1: imports 'fs': agent\/migration\/ may not import node:fs/);
});

test('the migration core importing @grpc/* is a violation, type-only and re-exports included', () => {
  const found = checkTree({
    'agent/migration/deep/outgoing.ts': [
      "import type { ServiceError } from '@grpc/grpc-js';",
      "export { loadSync } from '@grpc/proto-loader';",
      "type Status = import('@grpc/grpc-js').status;",
      "import { readFile } from 'node:fs/promises';",
    ].join('\n'),
  });
  assert.deepEqual(found.map(brief), [
    'agent/migration/deep/outgoing.ts:1 @grpc/grpc-js core-knows-ports-only',
    'agent/migration/deep/outgoing.ts:2 @grpc/proto-loader core-knows-ports-only',
    'agent/migration/deep/outgoing.ts:3 @grpc/grpc-js core-knows-ports-only',
    'agent/migration/deep/outgoing.ts:4 node:fs/promises core-knows-ports-only',
  ]);
});

test('the migration core importing prom-client is a violation: metrics observe it from agent/telemetry', () => {
  const found = checkTree({
    'agent/migration/outgoing/live-migration.ts': "import { Counter } from 'prom-client';",
    'agent/telemetry/metrics/registry.ts':
      "import { Counter } from 'prom-client';\nimport type { MigrationStatus } from '../../migration/index.js';",
  });
  assert.deepEqual(found.map(brief), ['agent/migration/outgoing/live-migration.ts:1 prom-client core-knows-ports-only']);
});

test('the migration core importing any adapter folder (or main.ts) is a violation', () => {
  const adapters = [...ADAPTER_FOLDERS.map((f) => `../${f.slice('agent/'.length)}/x.js`), '../main.js'];
  const found = checkTree({
    'agent/migration/migrations.ts': adapters.map((a, i) => `import type { T${i} } from '${a}';`).join('\n'),
  });
  assert.equal(ADAPTER_FOLDERS.length, 16);
  assert.deepEqual(
    found.map(brief),
    adapters.map((a, i) => `agent/migration/migrations.ts:${i + 1} ${a} core-knows-ports-only`),
  );
});

test('the migration core importing @opentelemetry/* is a violation: it traces through its Tracer port', () => {
  const found = checkTree({
    'agent/migration/outgoing/live-migration.ts': [
      "import { trace } from '@opentelemetry/api';",
      "import type { Tracer } from '../tracing.js';", // allowed: the port
    ].join('\n'),
    'agent/telemetry/tracing/otel-tracer.ts': [
      "import { trace } from '@opentelemetry/api';", // allowed: the adapter
      "import type { Tracer } from '../../migration/tracing.js';",
    ].join('\n'),
  });
  assert.deepEqual(found.map(brief), [
    'agent/migration/outgoing/live-migration.ts:1 @opentelemetry/api core-knows-ports-only',
    'agent/telemetry/tracing/otel-tracer.ts:2 ../../migration/tracing.js core-through-its-entry',
  ]);
});

// --- agent/maintenance/, the second core ------------------------------------------------

test("the maintenance core keeps the cores' rules: no node:fs, @grpc/* or adapter; the migration core only through its entry, and itself only through its own", () => {
  const found = checkTree({
    'agent/maintenance/drain.ts': [
      "import type { MigrationStatus } from '../migration/index.js';", // allowed
      "import { Findings } from '../migration/checks/findings.js';",
      "import { readFileSync } from 'node:fs';",
      "import type { ServiceError } from '@grpc/grpc-js';",
      "import { GrpcPeers } from '../peers/grpc-peers.js';",
      "import { moveVm } from './vm-mover.js';", // allowed: its own files
    ].join('\n'),
    'agent/rpc/host-service.ts': [
      "import type { MaintenanceMode } from '../maintenance/index.js';", // allowed
      "import { Drain } from '../maintenance/drain.js';",
    ].join('\n'),
  });
  assert.deepEqual(found.map(brief), [
    'agent/maintenance/drain.ts:2 ../migration/checks/findings.js core-through-its-entry',
    'agent/maintenance/drain.ts:3 node:fs core-knows-ports-only',
    'agent/maintenance/drain.ts:4 @grpc/grpc-js core-knows-ports-only',
    'agent/maintenance/drain.ts:5 ../peers/grpc-peers.js core-knows-ports-only',
    'agent/rpc/host-service.ts:2 ../maintenance/drain.js core-through-its-entry',
  ]);
  assert.equal(
    found[4]?.message,
    "agent/rpc/host-service.ts:2: imports '../maintenance/drain.js': adapters may import agent/maintenance/ only through its public entry, agent/maintenance/index.ts",
  );
});

test('real tree: the checker reads the maintenance core too', () => {
  assert.ok(listImports(REPO_ROOT).some((i) => i.file.startsWith('agent/maintenance/') && i.specifier === '../migration/index.js'));
});

// --- Adapters and the core's entry ---------------------------------------------------

test('an adapter importing the core other than through agent/migration/index.ts is a violation', () => {
  const found = checkTree({
    'agent/rpc/convert.ts': [
      "import { Migrations } from '../migration/index.js';", // allowed
      "import type { MigrationPolicy } from '../migration/types.js';",
      "export { MAX_STEPS } from '../migration/schedule.js';",
    ].join('\n'),
    'agent/main.ts': "import { Migrations } from './migration/migrations.js';\n",
    'agent/hypervisor/nested/plan.ts': "type Plan = import('../../migration/ports.js').LiveMigrationPlan;\n",
    'agent/storage/images.ts': "const core = await import('../migration/policy.js');\n",
  });
  assert.deepEqual(found.map(brief), [
    'agent/hypervisor/nested/plan.ts:1 ../../migration/ports.js core-through-its-entry',
    'agent/main.ts:1 ./migration/migrations.js core-through-its-entry',
    'agent/rpc/convert.ts:2 ../migration/types.js core-through-its-entry',
    'agent/rpc/convert.ts:3 ../migration/schedule.js core-through-its-entry',
    'agent/storage/images.ts:1 ../migration/policy.js core-through-its-entry',
  ]);
  assert.equal(
    found[2]?.message,
    "agent/rpc/convert.ts:2: imports '../migration/types.js': adapters may import agent/migration/ only through its public entry, agent/migration/index.ts",
  );
});

test('files inside the core may import each other freely', () => {
  assert.deepEqual(
    checkTree({
      'agent/migration/outgoing.ts': "import { Backoff } from './backoff.js';\nimport type { Hypervisor } from './ports.js';\n",
    }),
    [],
  );
});

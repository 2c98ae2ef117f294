// The gRPC contract compiles with an independent compiler (Debian's protoc and
// the gRPC plugin), loads with proto-loader, and documents every field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import { PROTO_FILES, PROTO_ROOT, loadFerryProto } from '../../shared/proto.js';
import { compilePythonStubs } from '../support/python-stubs.js';

test('protoc 3.21 with the gRPC plugin compiles the contract', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'ferry-protoc-'));
  try {
    compilePythonStubs(out);
    const generated = readdirSync(path.join(out, 'ferry/v1')).sort();
    assert.deepEqual(generated, [
      'errors_pb2.py',
      'errors_pb2_grpc.py',
      'host_pb2.py',
      'host_pb2_grpc.py',
      'migration_pb2.py',
      'migration_pb2_grpc.py',
      'peer_pb2.py',
      'peer_pb2_grpc.py',
    ]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('proto-loader loads the three services with their methods', () => {
  const v1 = loadFerryProto().grpcObject.ferry.v1;
  assert.deepEqual(Object.keys(v1.MigrationService.service).sort(), [
    'CancelMigration',
    'ChangeMigrationParams',
    'CheckMigration',
    'GetMigrationStatus',
    'ListMigrations',
    'Migrate',
    'RecoverMigration',
    'Restore',
    'SetMigrationLimits',
    'WatchMigration',
  ]);
  assert.deepEqual(Object.keys(v1.PeerService.service).sort(), ['CheckIncoming', 'FinishIncoming', 'PrepareIncoming', 'PrepareRecovery']);
  assert.deepEqual(Object.keys(v1.HostService.service).sort(), [
    'EnterMaintenance',
    'ExitMaintenance',
    'GetCapabilities',
    'GetMaintenance',
    'GetStats',
    'ListVms',
    'WatchHost',
    'WatchMaintenance',
  ]);
  assert.equal(v1.MigrationService.service.WatchMigration.responseStream, true);
});

test('every message, field, enum value and method has a comment', () => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/') || path.isAbsolute(target) ? target : path.join(PROTO_ROOT, target);
  root.loadSync(
    PROTO_FILES.map((f) => path.join(PROTO_ROOT, f)),
    { alternateCommentMode: true },
  );
  const undocumented: string[] = [];
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj.fullName.startsWith('.google')) continue;
      if (obj instanceof protobuf.Type) {
        // Request messages that carry nothing need no comment.
        if (obj.fieldsArray.length > 0 && !obj.comment && !obj.name.endsWith('Request') && !obj.name.endsWith('Response')) {
          undocumented.push(obj.fullName);
        }
        for (const f of obj.fieldsArray) if (!f.comment) undocumented.push(f.fullName);
      } else if (obj instanceof protobuf.Enum) {
        for (const [name] of Object.entries(obj.values)) {
          if (!obj.comments[name] && !name.endsWith('_UNSPECIFIED') && !obj.comment) undocumented.push(`${obj.fullName}.${name}`);
        }
      } else if (obj instanceof protobuf.Service) {
        for (const m of obj.methodsArray) if (!m.comment) undocumented.push(m.fullName);
      }
      if (obj instanceof protobuf.Namespace) visit(obj);
    }
  };
  visit(root);
  assert.deepEqual(undocumented, []);
});

// Fuzzed input against a real agent: hundreds of malformed or random requests
// to every RPC — garbage bytes, wrong wire types, huge strings, unknown enum
// values, empty messages, invalid UTF-8 — each answered with a gRPC status,
// and afterwards the agent still serves, its host's firewall and libvirt
// domains are as they were, no job was recorded and the host is not in
// maintenance.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { unary } from '../../shared/client.js';
import { PROTO_FILES, PROTO_ROOT } from '../../shared/proto.js';
import { ensureLab, labExec } from '../support/lab.js';
import { agent, closeAgents, firewallSnapshot } from '../support/ferry.js';

const HOST = 'lab2';
const PER_METHOD = 40;

// Every method with its request type; those named Watch* are server streams.
const METHODS: Array<[string, string]> = [
  ['/ferry.v1.MigrationService/Migrate', 'MigrateRequest'],
  ['/ferry.v1.MigrationService/CheckMigration', 'CheckMigrationRequest'],
  ['/ferry.v1.MigrationService/WatchMigration', 'WatchMigrationRequest'],
  ['/ferry.v1.MigrationService/GetMigrationStatus', 'GetMigrationStatusRequest'],
  ['/ferry.v1.MigrationService/ListMigrations', 'ListMigrationsRequest'],
  ['/ferry.v1.MigrationService/CancelMigration', 'CancelMigrationRequest'],
  ['/ferry.v1.MigrationService/ChangeMigrationParams', 'ChangeMigrationParamsRequest'],
  ['/ferry.v1.MigrationService/Restore', 'RestoreRequest'],
  ['/ferry.v1.PeerService/PrepareIncoming', 'PrepareIncomingRequest'],
  ['/ferry.v1.PeerService/FinishIncoming', 'FinishIncomingRequest'],
  ['/ferry.v1.PeerService/CheckIncoming', 'CheckIncomingRequest'],
  ['/ferry.v1.HostService/GetCapabilities', 'GetCapabilitiesRequest'],
  ['/ferry.v1.HostService/GetStats', 'GetStatsRequest'],
  ['/ferry.v1.HostService/ListVms', 'ListVmsRequest'],
  ['/ferry.v1.HostService/WatchHost', 'WatchHostRequest'],
  ['/ferry.v1.HostService/EnterMaintenance', 'EnterMaintenanceRequest'],
  ['/ferry.v1.HostService/GetMaintenance', 'GetMaintenanceRequest'],
  ['/ferry.v1.HostService/WatchMaintenance', 'WatchMaintenanceRequest'],
  ['/ferry.v1.HostService/ExitMaintenance', 'ExitMaintenanceRequest'],
];

let root: protobuf.Root;
let raw: grpc.Client;

before(async () => {
  await ensureLab(2);
  root = new protobuf.Root();
  root.resolvePath = (_o, t) => (t.startsWith('google/') || path.isAbsolute(t) ? t : path.join(PROTO_ROOT, t));
  root.loadSync(PROTO_FILES.map((f) => path.join(PROTO_ROOT, f)));
  // A client that sends bytes as they are, over the engine's channel (and credentials).
  raw = new grpc.Client('unused', grpc.credentials.createInsecure(), { channelOverride: agent(HOST).migration.getChannel() });
});

after(() => closeAgents());

/** One malformed or random request body for a message type. */
function mutant(type: protobuf.Type, i: number): Buffer {
  const fields = type.fieldsArray;
  const field = fields.length ? fields[i % fields.length]! : undefined;
  const tag = (id: number, wire: number) => Buffer.from([(id << 3) | wire]);
  switch (i % 8) {
    case 0: // garbage
      return randomBytes(1 + (i % 64));
    case 1: // empty message
      return Buffer.alloc(0);
    case 2: // a huge string (or bytes) in a field
      return field ? Buffer.concat([tag(field.id, 2), varint(200_000), Buffer.alloc(200_000, 0x41)]) : randomBytes(8);
    case 3: // invalid UTF-8 where a string is expected
      return field ? Buffer.concat([tag(field.id, 2), varint(4), Buffer.from([0xff, 0xfe, 0xc3, 0x28])]) : randomBytes(4);
    case 4: // a wrong wire type: a varint where a string or message is expected, or the reverse
      return field
        ? Buffer.concat([tag(field.id, field.type === 'string' ? 0 : 2), field.type === 'string' ? varint(7) : Buffer.from([3, 1, 2, 3])])
        : randomBytes(4);
    case 5: {
      // unknown enum values and out-of-range numbers, encoded properly
      const object: Record<string, unknown> = {};
      for (const f of fields) {
        let value: unknown;
        if (f.resolvedType instanceof protobuf.Enum) value = 1000 + i;
        else if (f.type === 'uint32' || f.type === 'uint64') value = 0xffffffff;
        else if (f.type === 'string') value = `${'x'.repeat(i % 300)}\u0000\u202e`;
        // A repeated field (e.g. ListMigrations' phases) takes a list of such values.
        if (value !== undefined) object[f.name] = f.repeated ? [value, value] : value;
      }
      return Buffer.from(type.encode(type.fromObject(object)).finish());
    }
    case 6: // truncated valid-looking message
      return Buffer.concat([tag(field?.id ?? 1, 2), varint(50), Buffer.from('short')]);
    default: // an unknown field number
      return Buffer.concat([tag(15, 2), varint(3), Buffer.from('abc'), randomBytes(i % 16)]);
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** The status of the call; a stream that sends a message was accepted (OK), and is cancelled then. */
function call(method: string, body: Buffer, stream: boolean): Promise<number> {
  const deadline = new Date(Date.now() + 10_000);
  return new Promise((resolve) => {
    if (stream) {
      const s = raw.makeServerStreamRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline },
      );
      s.on('data', () => {
        resolve(grpc.status.OK);
        s.cancel();
      });
      s.on('status', (st: grpc.StatusObject) => resolve(st.code));
      s.on('error', () => {});
    } else {
      raw.makeUnaryRequest(
        method,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new grpc.Metadata(),
        { deadline },
        (err) => resolve(err ? err.code : grpc.status.OK),
      );
    }
  });
}

test(`${METHODS.length * PER_METHOD} fuzzed requests: every one answered, nothing changed`, { timeout: 600_000 }, async () => {
  const firewallBefore = await firewallSnapshot(HOST);
  const domainsBefore = (await labExec(HOST, ['virsh', '-c', 'qemu:///system', 'list', '--all', '--uuid'])).stdout;
  const jobsBefore = (await unary(agent(HOST).migration, 'ListMigrations', { pageSize: 500 })).jobs.length;
  const codes = new Map<string, number>();
  let sent = 0;
  for (const [method, typeName] of METHODS) {
    const type = root.lookupType(`ferry.v1.${typeName}`);
    for (let i = 0; i < PER_METHOD; i++) {
      const code = await call(method, mutant(type, i), method.includes('/Watch'));
      sent++;
      assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED, `${method} #${i} got no answer within 10 s`);
      assert.notEqual(code, grpc.status.UNAVAILABLE, `${method} #${i}: the agent went away`);
      const key = `${method.split('/')[2]} ${grpc.status[code]}`;
      codes.set(key, (codes.get(key) ?? 0) + 1);
      // Requests that change things never succeed with garbage.
      if (/Migrate$|Cancel|Change|Restore|PrepareIncoming|EnterMaintenance/.test(method)) {
        assert.notEqual(code, grpc.status.OK, `${method} #${i} accepted a fuzzed request`);
      }
    }
  }
  assert.equal(sent, METHODS.length * PER_METHOD);
  const health = await unary(agent(HOST).host, 'GetCapabilities', {});
  assert.ok(health.hostname, 'the agent answers afterwards');
  assert.equal(await firewallSnapshot(HOST), firewallBefore);
  assert.equal((await labExec(HOST, ['virsh', '-c', 'qemu:///system', 'list', '--all', '--uuid'])).stdout, domainsBefore);
  assert.equal((await unary(agent(HOST).migration, 'ListMigrations', { pageSize: 500 })).jobs.length, jobsBefore);
  const { maintenance } = await unary(agent(HOST).host, 'GetMaintenance', {});
  assert.equal(maintenance?.phase, 'MAINTENANCE_PHASE_OFF', 'the host never went into maintenance');
  console.log([...codes.entries()].map(([k, n]) => `${k}: ${n}`).join('\n'));
});

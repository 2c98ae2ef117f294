// A cold migration's PrepareIncoming at the edges: the destination's service
// checks the volumes' shape before its core sees them (each refusal names
// the field), and over loopback gRPC the source's peers adapter sends
// `cold` and reads `transfer` back exactly (the token as bytes), while a live
// migration's PrepareIncoming carries neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { servePeer } from '../support/peer-server.js';
import { GrpcPeers } from '../../agent/peers/grpc-peers.js';
import { MAX_COLD_VOLUMES } from '../../agent/rpc/convert-cold-incoming.js';
import { peerService, prepareArgsFromProto } from '../../agent/rpc/peer-service.js';
import type { ColdIncoming, ColdVolume, IncomingMigrations, IncomingOffer, PrepareIncomingArgs } from '../../agent/migration/index.js';
import { type FerryError, isFerryError } from '../../shared/errors.js';
import type { PrepareIncomingRequest__Output } from '../../shared/generated/ferry/v1/PrepareIncomingRequest.js';
import { prepareArgs } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50';

const refusedOn = (field: string, pattern: RegExp) => (e: unknown) =>
  isFerryError(e, 'INVALID_ARGUMENT') && (e as FerryError).details.field === field && pattern.test((e as Error).message);

const VDA: ColdVolume = {
  id: 'vda',
  path: '/var/lib/libvirt/images/web1.qcow2',
  format: 'qcow2',
  capacityBytes: 10 * 2 ** 30,
  streamBytes: 1_300_000_000,
  allocationBytes: 1_234_567_890,
};
const SAVED_STATE: ColdVolume = {
  id: 'saved-state',
  path: '/var/lib/ferry/web1.save',
  format: 'raw',
  capacityBytes: 300_000_000,
  streamBytes: 300_000_000,
  allocationBytes: 0,
};
const COLD: ColdIncoming = {
  volumes: [VDA, SAVED_STATE],
  hibernation: { path: '/var/lib/ferry/web1.json', content: '{"domain":"<domain/>"}' },
};

/** PrepareIncoming on the wire with a cold part, as proto-loader delivers it (absent fields filled in). */
function prepare(cold: Record<string, unknown> | null): PrepareIncomingRequest__Output {
  return { ...prepareArgs({ vmId: VM }), disks: [], cold } as unknown as PrepareIncomingRequest__Output;
}

const withSecondVolume = (change: Partial<ColdVolume>) => prepare({ volumes: [VDA, { ...SAVED_STATE, ...change }], hibernation: null });

test('PrepareIncoming: a cold part reaches the core as sent; a live one has none', () => {
  assert.deepEqual(prepareArgsFromProto(prepare(COLD as unknown as Record<string, unknown>)).cold, COLD);
  assert.deepEqual(prepareArgsFromProto(prepare({ volumes: [VDA], hibernation: null })).cold, { volumes: [VDA] });
  assert.ok(!('cold' in prepareArgsFromProto(prepare(null))), 'no cold key for a live migration');
  // A VM without local volumes still moves its definition.
  assert.deepEqual(prepareArgsFromProto(prepare({ volumes: [], hibernation: null })).cold, { volumes: [] });
});

test('PrepareIncoming: each malformed volume is refused naming its field, before the core', () => {
  const cases: Array<[PrepareIncomingRequest__Output, string, RegExp]> = [
    [withSecondVolume({ id: '' }), 'cold.volumes[1].id', /is required/],
    [withSecondVolume({ id: 'vda' }), 'cold.volumes[1].id', /"vda" is given twice/],
    [withSecondVolume({ path: VDA.path }), 'cold.volumes[1].path', /given twice/],
    [withSecondVolume({ path: 'web1.save' }), 'cold.volumes[1].path', /must be an absolute path/],
    [withSecondVolume({ path: '' }), 'cold.volumes[1].path', /is required/],
    [withSecondVolume({ format: 'vmdk' }), 'cold.volumes[1].format', /"vmdk" is not one of qcow2, raw/],
    [withSecondVolume({ format: '' }), 'cold.volumes[1].format', /is required/],
    [withSecondVolume({ capacityBytes: 0 }), 'cold.volumes[1].capacity_bytes', /greater than 0/],
    [withSecondVolume({ streamBytes: 0 }), 'cold.volumes[1].stream_bytes', /greater than 0/],
    [prepare({ volumes: [VDA], hibernation: { path: 'web1.json', content: '{}' } }), 'cold.hibernation.path', /absolute path/],
    [
      prepare({ volumes: [VDA], hibernation: { path: '/var/lib/ferry/web1.json', content: '' } }),
      'cold.hibernation.content',
      /is required/,
    ],
  ];
  for (const [request, field, pattern] of cases) assert.throws(() => prepareArgsFromProto(request), refusedOn(field, pattern), field);
});

test(`PrepareIncoming: at most ${MAX_COLD_VOLUMES} volumes`, () => {
  const volumes = (n: number) => Array.from({ length: n }, (_, i) => ({ ...VDA, id: `vd${i}`, path: `/srv/images/vd${i}.qcow2` }));
  assert.equal(prepareArgsFromProto(prepare({ volumes: volumes(MAX_COLD_VOLUMES), hibernation: null })).cold?.volumes.length, 64);
  assert.throws(
    () => prepareArgsFromProto(prepare({ volumes: volumes(MAX_COLD_VOLUMES + 1), hibernation: null })),
    refusedOn('cold.volumes', /has 65 volumes; at most 64/),
  );
});

const OFFER: IncomingOffer = {
  migrateUri: '',
  listenAddress: '198.19.0.2',
  port: 49160,
  disksPort: 0,
  pinholeExpiresAt: Date.UTC(2026, 11, 5, 9, 0, 0),
  dconnuri: 'qemu+tls://lab2/system',
  network: 'migration',
  displayAddress: '',
};

test("PrepareIncoming from the source's peers adapter to the destination's service and back: cold sent, transfer read", async () => {
  const received: PrepareIncomingArgs[] = [];
  let answer: IncomingOffer = OFFER;
  const destinationCore = {
    async prepare(args: PrepareIncomingArgs) {
      received.push(args);
      return answer;
    },
  };
  const destination = await servePeer(peerService(destinationCore as unknown as IncomingMigrations) as grpc.UntypedServiceImplementation);
  const insecure = grpc.credentials.createInsecure();
  const peers = new GrpcPeers(() => insecure, 5_000);
  try {
    // Bytes that are not text: the token must arrive bit for bit.
    const token = Buffer.from([0, 255, 1, 128, 10, 13, 0, 42]);
    const transfer = {
      token,
      placements: [
        { id: 'vda', sourcePath: VDA.path, path: VDA.path },
        { id: 'saved-state', sourcePath: SAVED_STATE.path, path: '/srv/ferry/images/web1.save' },
      ],
      definitionPath: '/var/lib/ferry/web1.json',
    };
    answer = { ...OFFER, transfer };
    const args = prepareArgs({ vmId: VM, cold: COLD });
    const offer = await peers.prepareIncoming(destination.address, args);
    assert.deepEqual(received[0]?.cold, COLD, 'the destination core got the cold part as the source sent it');
    assert.deepEqual(offer, { ...OFFER, transfer });
    assert.ok(Buffer.isBuffer(offer.transfer?.token), 'the token is a Buffer');

    // A live migration: no cold part sent, no transfer answered.
    answer = OFFER;
    const live = await peers.prepareIncoming(destination.address, prepareArgs({ vmId: VM }));
    assert.ok(!('cold' in (received[1] ?? {})), 'no cold part on the destination');
    assert.deepEqual(live, OFFER);
    assert.ok(!('transfer' in live), 'no transfer key in a live offer');

    // A malformed cold part is refused by the destination's service, not its core.
    await assert.rejects(
      peers.prepareIncoming(destination.address, prepareArgs({ vmId: VM, cold: { volumes: [{ ...VDA, format: 'vmdk' }] } })),
      refusedOn('cold.volumes[0].format', /not one of qcow2, raw/),
    );
    assert.equal(received.length, 2);
  } finally {
    peers.close();
    destination.stop();
  }
});

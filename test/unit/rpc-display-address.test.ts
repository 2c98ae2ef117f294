// The destination's display address across the PeerService: the peers
// adapter on the source and the service on the destination, over a loopback
// gRPC channel, for PrepareIncoming and CheckIncoming; and an agent that does
// not send the field (an older ferryd) reads as one without a display address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { servePeer } from '../support/peer-server.js';
import { GrpcPeers } from '../../agent/peers/grpc-peers.js';
import { peerService } from '../../agent/rpc/peer-service.js';
import type { IncomingCheckAnswer, IncomingMigrations, IncomingOffer } from '../../agent/migration/index.js';
import { FakeHypervisor, FakePeers } from '../support/fake-ports.js';
import { outgoingMigrations, prepareArgs, remoteRequest } from '../support/migration-fixtures.js';

const VM = '6f1c2a3e-0000-4000-8000-000000000001';

/** CheckIncoming's arguments as a source sends them for a plain guest. */
async function sentCheckArgs() {
  const source = new FakeHypervisor();
  source.addVm(VM);
  const peers = new FakePeers();
  await outgoingMigrations({ hypervisor: source, peers }).check(remoteRequest(VM));
  return peers.checked[0]!;
}

const OFFER: IncomingOffer = {
  migrateUri: 'tcp://198.19.0.2:49152',
  listenAddress: '198.19.0.2',
  port: 49152,
  disksPort: 0,
  pinholeExpiresAt: Date.UTC(2026, 11, 4, 10, 0, 0, 0),
  dconnuri: 'qemu+tls://lab2/system',
  network: 'migration',
  displayAddress: '198.18.0.2',
};

test("PrepareIncoming and CheckIncoming carry the destination's display address; an agent without the field answers none", async () => {
  const answer: IncomingCheckAnswer = { blocking: [], warnings: [], displayAddress: '198.18.0.2' };
  const core = { prepare: async () => OFFER, check: async () => answer };
  const destination = await servePeer(peerService(core as unknown as IncomingMigrations) as grpc.UntypedServiceImplementation);
  // An older agent's service: the same answers without display_address.
  const older = await servePeer({
    PrepareIncoming: (_call: unknown, done: grpc.sendUnaryData<unknown>) =>
      done(null, {
        ...OFFER,
        pinholeExpiresAt: { seconds: OFFER.pinholeExpiresAt / 1000 },
        network: 'NETWORK_ROLE_MIGRATION',
        displayAddress: undefined,
      }),
    CheckIncoming: (_call: unknown, done: grpc.sendUnaryData<unknown>) => done(null, { blocking: [], warnings: [] }),
  });
  const peers = new GrpcPeers(() => grpc.credentials.createInsecure(), 5_000);
  try {
    const args = prepareArgs({ vmId: VM });
    const checkArgs = await sentCheckArgs();
    assert.deepEqual(await peers.prepareIncoming(destination.address, args), OFFER);
    assert.deepEqual(await peers.checkIncoming(destination.address, checkArgs), answer);
    assert.equal((await peers.prepareIncoming(older.address, args)).displayAddress, '');
    assert.equal((await peers.checkIncoming(older.address, checkArgs)).displayAddress, '');
  } finally {
    peers.close();
    destination.stop();
    older.stop();
  }
});

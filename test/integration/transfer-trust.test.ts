// Who may connect to a transfer (agent/transfer/), over real TLS on loopback with certificates
// from scripts/pki: only the source host's certificate with role peer, from the address the
// pinhole admits and the certificate lists, with the token; one connection, before the deadline.
// The source, for its part, sends only to a peer whose certificate names the address it dialled.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  createTransferToken,
  isTransferError,
  receiveVolumes,
  sendVolumes,
  type IncomingTransfer,
  type ReceiveOptions,
  type SendOptions,
  type TransferRefusal,
} from '../../agent/transfer/index.js';
import { ScratchPki, type IssuedCert } from '../support/pki.js';
import { DESTINATION_ADDRESS, SOURCE_ADDRESS, SOURCE_HOST, transferPeers, type TransferPeers } from '../support/transfer-peers.js';
import { SparseFileSink, volumeSource, type Extent } from '../support/transfer-volumes.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '../support/wait.js';

const LAYOUT: Extent[] = [{ data: 100_000 }, { hole: 1 << 20 }, { data: 5 }];
const SIZE = 100_005 + (1 << 20);

let peers: TransferPeers;
let otherCa: ScratchPki;
let strangerFromOtherCa: IssuedCert;
let sourceWithoutPeerRole: IssuedCert;
let sourceListingAnotherAddress: IssuedCert;
let thirdHost: IssuedCert;
let engine: IssuedCert;
let destinationNamingAnotherAddress: IssuedCert;
let destinationWithoutPeerRole: IssuedCert;
let scratch: string;

before(async () => {
  peers = await transferPeers();
  otherCa = await ScratchPki.create();
  strangerFromOtherCa = await otherCa.host(SOURCE_HOST, [SOURCE_ADDRESS]);
  sourceWithoutPeerRole = await peers.ca.host('src-norole', [SOURCE_ADDRESS], ['--role', 'monitoring']);
  sourceListingAnotherAddress = await peers.ca.host('src-other-ip', ['127.0.0.9']);
  thirdHost = await peers.ca.host('third', ['127.0.0.3']);
  engine = await peers.ca.engine('engine');
  destinationNamingAnotherAddress = await peers.ca.host('dst-elsewhere', ['127.0.0.5']);
  destinationWithoutPeerRole = await peers.ca.host('dst-norole', [DESTINATION_ADDRESS], ['--role', 'monitoring']);
  scratch = mkdtempSync(join(tmpdir(), 'ferry-transfer-trust-'));
});

after(() => {
  peers.dispose();
  otherCa.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

interface Listening {
  transfer: IncomingTransfer;
  refusals: TransferRefusal[];
  token: Buffer;
  cancel: AbortController;
}

async function listen(overrides: Partial<ReceiveOptions> = {}): Promise<Listening> {
  const refusals: TransferRefusal[] = [];
  const token = createTransferToken();
  const cancel = new AbortController();
  const transfer = await receiveVolumes({
    address: DESTINATION_ADDRESS,
    port: 0,
    source: { address: SOURCE_ADDRESS, host: SOURCE_HOST },
    token,
    tls: peers.tls(peers.destination),
    volumes: [{ id: 'vda', size: SIZE }],
    openSink: () => new SparseFileSink(join(scratch, `vda-${Math.random()}`)),
    arrivalTimeoutMs: 10_000,
    onRefused: (r) => refusals.push(r),
    signal: cancel.signal,
    ...overrides,
  });
  return { transfer, refusals, token, cancel };
}

function send(listening: Listening, overrides: Partial<SendOptions> = {}) {
  return sendVolumes({
    address: DESTINATION_ADDRESS,
    port: listening.transfer.port,
    localAddress: SOURCE_ADDRESS,
    token: listening.token,
    tls: peers.tls(peers.source),
    volumes: [{ id: 'vda', size: SIZE, open: () => volumeSource(LAYOUT) }],
    ...overrides,
  });
}

/** The refusal ends neither side's wait for the right source: it still gets through. */
async function rightSourceStillGetsThrough(listening: Listening): Promise<void> {
  const [sent] = await send(listening);
  const [received] = await listening.transfer.done;
  assert.deepEqual(received?.sha256, sent?.sha256);
}

async function assertRefused(listening: Listening, attempt: Promise<unknown>, reason: RegExp): Promise<void> {
  await assert.rejects(attempt, (err) => isTransferError(err, 'refused') && reason.test(err.message));
  await until('the destination to report the refusal', () => listening.refusals.length > 0);
  assert.match(listening.refusals[0]?.reason ?? '', reason);
}

describe('transfer trust: the destination admits only its source', () => {
  it('admits the source host with the token, and moves the volume', async () => {
    const listening = await listen();
    await rightSourceStillGetsThrough(listening);
    assert.deepEqual(listening.refusals, []);
  });

  it('refuses a certificate from another CA', async () => {
    const listening = await listen();
    await assertRefused(
      listening,
      send(listening, { tls: peers.tls(strangerFromOtherCa, peers.ca.caFile) }),
      /not signed by the cluster CA/,
    );
    await rightSourceStillGetsThrough(listening);
  });

  it('refuses a certificate without role peer (a host cert with another role, an engine)', async () => {
    const listening = await listen();
    await assertRefused(listening, send(listening, { tls: peers.tls(sourceWithoutPeerRole) }), /lacks role peer/);
    await assert.rejects(
      send(listening, { tls: peers.tls(engine) }),
      (err) => isTransferError(err, 'refused') && /lacks role peer/.test(err.message),
    );
    await rightSourceStillGetsThrough(listening);
  });

  it('refuses a certificate that does not list the address it connects from', async () => {
    const listening = await listen();
    await assertRefused(listening, send(listening, { tls: peers.tls(sourceListingAnotherAddress) }), /does not list 127\.0\.0\.2/);
    await rightSourceStillGetsThrough(listening);
  });

  it('refuses another host, from an address other than the source migration address', async () => {
    const listening = await listen();
    await assertRefused(
      listening,
      send(listening, { tls: peers.tls(thirdHost), localAddress: '127.0.0.3' }),
      /from 127\.0\.0\.3, but this transfer admits 127\.0\.0\.2 only/,
    );
    await rightSourceStillGetsThrough(listening);
  });

  it('refuses a certificate that does not name the expected source host', async () => {
    const listening = await listen({ source: { address: SOURCE_ADDRESS, host: 'lab7' } });
    await assertRefused(listening, send(listening), /does not name lab7/);
    listening.cancel.abort();
  });

  it('refuses the right host with a wrong token, then admits it with the right one', async () => {
    const listening = await listen();
    await assertRefused(listening, send(listening, { token: createTransferToken() }), /wrong transfer token/);
    await rightSourceStillGetsThrough(listening);
  });

  it('refuses a connection that sends no HELLO in time', async () => {
    const listening = await listen({ helloTimeoutMs: 300 });
    const tls = peers.tls(peers.source);
    // tls.connect passes localAddress on to net.connect; Node's typings leave it out.
    const silent = tlsConnect({ host: DESTINATION_ADDRESS, port: listening.transfer.port, ...tls, ...{ localAddress: SOURCE_ADDRESS } });
    silent.on('error', () => undefined);
    await until('the silent connection to be refused', () => listening.refusals.length > 0, { timeoutMs: 5000 });
    assert.match(listening.refusals[0]?.reason ?? '', /no HELLO: nothing moved on the transfer connection for 0\.3 s/);
    await until('the silent connection to be closed', () => silent.destroyed || silent.readableEnded);
    await rightSourceStillGetsThrough(listening);
  });

  it('admits one connection only: once the source is in, the port is closed', async () => {
    const listening = await listen();
    const slow = send(listening, { volumes: [{ id: 'vda', size: SIZE, open: () => volumeSource(LAYOUT, { chunk: 1000, delayMs: 5 }) }] });
    await until('the source to be admitted', async () => {
      const closed = await new Promise<boolean>((resolve) => {
        const probe = netConnect({ host: DESTINATION_ADDRESS, port: listening.transfer.port });
        probe.once('connect', () => {
          probe.destroy();
          resolve(false);
        });
        probe.once('error', () => resolve(true));
      });
      return closed;
    });
    await assert.rejects(send(listening), (err) => isTransferError(err, 'connection') && /ECONNREFUSED/.test(err.message));
    listening.cancel.abort(new Error('test over'));
    await assert.rejects(slow, (err) => isTransferError(err, 'peer-aborted') && /test over/.test(err.message));
  });

  it('gives up when no connection comes before the deadline, and stops listening', async () => {
    const started = Date.now();
    const listening = await listen({ arrivalTimeoutMs: 300 });
    await assert.rejects(
      listening.transfer.done,
      (err) => isTransferError(err, 'deadline') && /no transfer connection from 127\.0\.0\.2 within 0\.3 s/.test(err.message),
    );
    const waited = Date.now() - started;
    assert.ok(waited >= 290 && waited < 3000, `gave up after ${waited} ms`);
    await assert.rejects(send(listening), (err) => isTransferError(err, 'connection') && /ECONNREFUSED/.test(err.message));
  });

  it('gives up at once on its signal before the connection', async () => {
    const listening = await listen();
    listening.cancel.abort(new Error('the migration was cancelled'));
    await assert.rejects(
      listening.transfer.done,
      (err) => isTransferError(err, 'cancelled') && /the migration was cancelled/.test(err.message),
    );
  });
});

describe('transfer trust: the source sends only to a destination peer', () => {
  it('refuses a destination whose certificate does not name the address dialled', async () => {
    const listening = await listen({ tls: peers.tls(destinationNamingAnotherAddress) });
    await assert.rejects(
      send(listening),
      (err) => isTransferError(err, 'refused') && /IP: 127\.0\.0\.1 is not in the cert's list/.test(err.message),
    );
    listening.cancel.abort();
  });

  it('refuses a destination without role peer', async () => {
    const listening = await listen({ tls: peers.tls(destinationWithoutPeerRole) });
    await assert.rejects(send(listening), (err) => isTransferError(err, 'refused') && /dst-norole .*lacks role peer/.test(err.message));
    listening.cancel.abort();
  });

  it('refuses a destination from another CA', async () => {
    const stranger = await otherCa.host('dst', [DESTINATION_ADDRESS]);
    const listening = await listen({ tls: peers.tls(stranger, otherCa.caFile) });
    await assert.rejects(
      send(listening),
      (err) => isTransferError(err, 'refused') && /self-signed certificate in certificate chain|unable to verify/i.test(err.message),
    );
    listening.cancel.abort();
  });
});

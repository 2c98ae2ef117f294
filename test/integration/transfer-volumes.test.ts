// Moving volumes with agent/transfer/ over real TLS on loopback: sparse files arrive with the same
// content and their holes kept, a volume that does not verify fails on both sides, either side's
// cancellation or failure reaches the other with its reason, and a slow sink holds back a fast
// source (bounded bytes in flight and memory).
import assert from 'node:assert/strict';
import { QUEUED_LIMIT } from '../../agent/transfer/frame-reader.js';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  createTransferToken,
  isTransferError,
  receiveVolumes,
  sendVolumes,
  type IncomingVolume,
  type OutgoingVolume,
  type ReceiveOptions,
  type SendOptions,
} from '../../agent/transfer/index.js';
import { DESTINATION_ADDRESS, SOURCE_ADDRESS, SOURCE_HOST, transferPeers, type TransferPeers } from '../support/transfer-peers.js';
import {
  SparseFileSink,
  dataBytesOf,
  denseChecksum,
  failingSink,
  fileChecksum,
  flipByteAt,
  layoutSize,
  slowSink,
  volumeSource,
  type Extent,
  type SinkCounters,
  type SourceCounters,
} from '../support/transfer-volumes.js';
import { exposedGc } from '../support/exposed-gc.js';
import { until } from '../support/wait.js';

const MiB = 1024 * 1024;

let peers: TransferPeers;
let scratch: string;

before(async () => {
  peers = await transferPeers();
  scratch = mkdtempSync(join(tmpdir(), 'ferry-transfer-volumes-'));
});

after(() => {
  peers.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

interface Pair {
  volumes: Array<{ id: string; layout: Extent[] }>;
  openSink: (volume: IncomingVolume) => Writable;
  openSource?: (volume: { id: string; layout: Extent[] }) => Readable;
  receive?: Partial<ReceiveOptions>;
  send?: Partial<SendOptions>;
}

/** A destination listening and a source sending to it; both outcomes, settled. */
async function transfer(pair: Pair) {
  const token = createTransferToken();
  const incoming = await receiveVolumes({
    address: DESTINATION_ADDRESS,
    port: 0,
    source: { address: SOURCE_ADDRESS, host: SOURCE_HOST },
    token,
    tls: peers.tls(peers.destination),
    volumes: pair.volumes.map((v) => ({ id: v.id, size: layoutSize(v.layout) })),
    openSink: pair.openSink,
    arrivalTimeoutMs: 10_000,
    ...pair.receive,
  });
  const outgoing: OutgoingVolume[] = pair.volumes.map((v) => ({
    id: v.id,
    size: layoutSize(v.layout),
    open: () => (pair.openSource ? pair.openSource(v) : volumeSource(v.layout)),
  }));
  const [sent, received] = await Promise.allSettled([
    sendVolumes({
      address: DESTINATION_ADDRESS,
      port: incoming.port,
      localAddress: SOURCE_ADDRESS,
      token,
      tls: peers.tls(peers.source),
      volumes: outgoing,
      ...pair.send,
    }),
    incoming.done,
  ]);
  return { sent, received };
}

function rejection(result: PromiseSettledResult<unknown>): Error {
  if (result.status === 'fulfilled') return assert.fail('expected a failure, got success');
  return result.reason as Error;
}

describe('transfer volumes: content', () => {
  it('moves three sparse volumes on one connection: same SHA-256 as the dense content, holes kept', async () => {
    const volumes = [
      { id: 'vda', layout: [{ data: 3 * MiB + 17 }, { hole: 8 * MiB }, { data: 1 }, { hole: 4096 }] satisfies Extent[] },
      { id: 'vdb', layout: [{ hole: 16 * MiB }] satisfies Extent[] },
      { id: 'cloud-init.iso', layout: [{ data: 700_000 }] satisfies Extent[] },
    ];
    const sinks = new Map<string, SparseFileSink>();
    const { sent, received } = await transfer({
      volumes,
      openSink: (v) => {
        const sink = new SparseFileSink(join(scratch, `content-${v.id}`));
        sinks.set(v.id, sink);
        return sink;
      },
    });
    assert.equal(sent.status, 'fulfilled', String((sent as PromiseRejectedResult).reason));
    assert.equal(received.status, 'fulfilled', String((received as PromiseRejectedResult).reason));
    for (const [i, v] of volumes.entries()) {
      const expected = denseChecksum(v.layout);
      const path = join(scratch, `content-${v.id}`);
      assert.equal(fileChecksum(path), expected, `${v.id}: the file's content`);
      assert.equal(statSync(path).size, layoutSize(v.layout));
      assert.equal(sent.value[i]?.sha256.toString('hex'), expected, `${v.id}: the source's checksum`);
      assert.equal(received.value[i]?.sha256.toString('hex'), expected, `${v.id}: the destination's checksum`);
      assert.equal(received.value[i]?.dataBytes, dataBytesOf(v.layout));
      assert.equal(received.value[i]?.holeBytes, layoutSize(v.layout) - dataBytesOf(v.layout));
    }
    // Holes arrive as holes: the sparse file holds only its data.
    assert.equal(sinks.get('vdb')?.holes, 1);
    assert.ok(statSync(join(scratch, 'content-vdb')).blocks * 512 < MiB, 'vdb stays sparse');
  });

  it('fails a volume on both sides when the sink changes a byte, and abandons that sink', async () => {
    const layout: Extent[] = [{ data: MiB }, { hole: MiB }, { data: MiB }];
    let inner: SparseFileSink | undefined;
    const { sent, received } = await transfer({
      volumes: [{ id: 'vda', layout }],
      openSink: () => {
        inner = new SparseFileSink(join(scratch, 'flipped'));
        return flipByteAt(inner, 2 * MiB + 12345);
      },
    });
    const atDestination = rejection(received);
    const atSource = rejection(sent);
    assert.ok(isTransferError(atDestination, 'checksum'), String(atDestination));
    assert.ok(isTransferError(atSource, 'checksum'), String(atSource));
    for (const err of [atDestination, atSource]) assert.match(err.message, /volume vda did not verify: SHA-256 differs/);
    assert.ok(inner?.destroyed, 'the sink is destroyed, not finished');
    assert.equal(inner?.writableFinished, false);
  });

  it('fails when the source gives fewer bytes than the volume size', async () => {
    const { sent, received } = await transfer({
      volumes: [{ id: 'vda', layout: [{ data: MiB }] }],
      openSink: () => new SparseFileSink(join(scratch, 'short')),
      openSource: () => volumeSource([{ data: MiB - 1 }]),
    });
    assert.match(rejection(sent).message, /volume vda: the source gave 1048575 bytes, but its size is 1048576/);
    const atDestination = rejection(received);
    assert.ok(isTransferError(atDestination, 'peer-aborted'), String(atDestination));
    assert.match(atDestination.message, /the source aborted the transfer: volume vda: the source gave 1048575 bytes/);
  });
});

describe('transfer volumes: failures and cancellation reach the other side', () => {
  const big: Extent[] = [{ data: 64 * MiB }];

  it('the source cancelled mid-transfer: the destination hears why and abandons its sink', async () => {
    const cancel = new AbortController();
    const sink = slowSink(16 * MiB);
    const counters: SourceCounters = { produced: 0 };
    const result = transfer({
      volumes: [{ id: 'vda', layout: big }],
      openSink: () => sink,
      openSource: (v) => volumeSource(v.layout, { counters }),
      send: { signal: cancel.signal },
    });
    await until('some data to move', () => counters.produced > 4 * MiB);
    cancel.abort(new Error('the operator cancelled the migration'));
    const { sent, received } = await result;
    assert.ok(isTransferError(rejection(sent), 'cancelled'));
    const atDestination = rejection(received);
    assert.ok(isTransferError(atDestination, 'peer-aborted'), String(atDestination));
    assert.match(
      atDestination.message,
      /the source aborted the transfer: the source cancelled the transfer: the operator cancelled the migration/,
    );
    assert.ok(sink.destroyed && !sink.writableFinished, 'the sink is abandoned');
  });

  it('the destination cancelled mid-transfer: the source hears why and stops reading its volume', async () => {
    const cancel = new AbortController();
    const counters: SinkCounters = { consumed: 0 };
    let source: Readable | undefined;
    const result = transfer({
      volumes: [{ id: 'vda', layout: big }],
      openSink: () => slowSink(16 * MiB, counters),
      openSource: (v) => {
        source = volumeSource(v.layout);
        return source;
      },
      receive: { signal: cancel.signal },
    });
    await until('some data to arrive', () => counters.consumed > 2 * MiB);
    cancel.abort(new Error('the destination host is entering maintenance'));
    const { sent, received } = await result;
    assert.ok(isTransferError(rejection(received), 'cancelled'));
    const atSource = rejection(sent);
    assert.ok(isTransferError(atSource, 'peer-aborted'), String(atSource));
    assert.match(
      atSource.message,
      /the destination aborted the transfer: the destination cancelled the transfer: the destination host is entering maintenance/,
    );
    assert.ok(source?.destroyed, 'the source stream is destroyed');
  });

  it('a sink that fails: the destination fails with it, the source hears why', async () => {
    const { sent, received } = await transfer({ volumes: [{ id: 'vda', layout: big }], openSink: () => failingSink(5 * MiB) });
    const atDestination = rejection(received);
    assert.ok(isTransferError(atDestination, 'sink'), String(atDestination));
    assert.match(atDestination.message, /writing volume vda failed: the test sink broke: disk full/);
    assert.match(rejection(sent).message, /the destination aborted the transfer: writing volume vda failed: the test sink broke/);
  });

  it('a source that fails: the source fails with it, the destination hears why', async () => {
    const { sent, received } = await transfer({
      volumes: [{ id: 'vda', layout: big }],
      openSink: () => slowSink(1024 * MiB),
      openSource: (v) => volumeSource(v.layout, { failAfter: 3 * MiB }),
    });
    const atSource = rejection(sent);
    assert.ok(isTransferError(atSource, 'source'), String(atSource));
    assert.match(rejection(received).message, /the source aborted the transfer: reading volume vda failed: the test source broke/);
  });

  it('a sink that cannot be opened fails the transfer with its reason', async () => {
    const { sent, received } = await transfer({
      volumes: [{ id: 'vda', layout: [{ data: 10 }] }],
      openSink: () => {
        throw new Error('no space in pool default');
      },
    });
    assert.match(rejection(received).message, /cannot open the sink of volume vda: no space in pool default/);
    assert.match(rejection(sent).message, /the destination aborted the transfer: cannot open the sink of volume vda/);
  });
});

describe('transfer volumes: a rate cap', () => {
  it('maxBytesPerSecond holds the data to the cap on average; holes cost nothing', async () => {
    const cap = 8 * MiB;
    // 6 MiB of data around 64 MiB of hole: at the cap, about 0.75 s (the first 0.1 s of it a burst);
    // uncapped, loopback moves it in a few tens of ms.
    const layout: Extent[] = [{ data: 3 * MiB }, { hole: 64 * MiB }, { data: 3 * MiB }];
    const started = performance.now();
    const { sent, received } = await transfer({
      volumes: [{ id: 'vda', layout }],
      openSink: () => new SparseFileSink(join(scratch, 'capped.img')),
      send: { maxBytesPerSecond: () => cap },
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(sent.status, 'fulfilled');
    assert.equal(received.status, 'fulfilled');
    assert.equal(fileChecksum(join(scratch, 'capped.img')), denseChecksum(layout));
    const burst = cap * 0.1;
    assert.ok(seconds >= (dataBytesOf(layout) - burst) / cap, `6 MiB at 8 MiB/s took ${seconds.toFixed(2)} s: faster than the cap allows`);
  });
});

describe('transfer volumes: back-pressure', () => {
  it('a slow sink holds back a fast source: bytes in flight and memory stay bounded', async (t) => {
    const layout: Extent[] = [{ data: 96 * MiB }];
    const produced: SourceCounters = { produced: 0 };
    const consumed: SinkCounters = { consumed: 0 };
    // Memory held, not garbage waiting for the collector: sampled right after a full collection.
    const collect = exposedGc();
    collect();
    const baseline = process.memoryUsage();
    let peakInFlight = 0;
    let peakRss = baseline.rss;
    let peakBuffers = baseline.arrayBuffers;
    const inFlight = setInterval(() => {
      peakInFlight = Math.max(peakInFlight, produced.produced - consumed.consumed);
    }, 5);
    const memory = setInterval(() => {
      collect();
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakBuffers = Math.max(peakBuffers, now.arrayBuffers);
    }, 100);
    const started = Date.now();
    const { sent, received } = await transfer({
      volumes: [{ id: 'vda', layout }],
      openSink: () => slowSink(48 * MiB, consumed),
      openSource: (v) => volumeSource(v.layout, { counters: produced }),
    });
    clearInterval(inFlight);
    clearInterval(memory);
    assert.equal(sent.status, 'fulfilled');
    assert.equal(received.status, 'fulfilled');
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(
      `96 MiB into a 48 MiB/s sink in ${seconds.toFixed(2)} s; peak in flight ${(peakInFlight / MiB).toFixed(1)} MiB; ` +
        `after each full GC: Buffers +${((peakBuffers - baseline.arrayBuffers) / MiB).toFixed(1)} MiB, RSS +${((peakRss - baseline.rss) / MiB).toFixed(1)} MiB`,
    );
    // In flight: the source's 16 chunks (4 MiB), the socket's buffer on each side, the
    // destination's unread frames (up to frame-reader.ts's QUEUED_LIMIT, 4 MiB), the kernel's
    // loopback buffers, and the sink's 16 chunks (4 MiB). Without back-pressure the fast source
    // would be tens of MiB ahead within the first second.
    // Buffers counts both ends (they share this process), so it holds more than what is in
    // flight: measured 24–28 MiB.
    const bound = 24 * MiB + QUEUED_LIMIT;
    assert.ok(peakInFlight < bound, `peak in flight ${(peakInFlight / MiB).toFixed(1)} MiB`);
    assert.ok(
      peakBuffers - baseline.arrayBuffers < bound + 3 * QUEUED_LIMIT,
      `Buffers held grew by ${((peakBuffers - baseline.arrayBuffers) / MiB).toFixed(1)} MiB`,
    );
  });
});

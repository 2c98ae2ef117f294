// A 256 MiB volume (64 MiB of data, the rest holes) from a source process to a destination
// process over agent/transfer/'s TLS on loopback, each end a process of its own as the two agents
// would be, against raw TCP moving the same 64 MiB of data between two processes on the same
// loopback. Reported: throughput, the ratio to raw TCP, each end's peak RSS, and each end's CPU
// and main-thread time per GiB of data (both ends share this machine's cores, so the ratio is
// bounded by their CPU together; the main thread's share bounds one connection where each end
// has cores of its own). The issue's
// goals: an agent's RSS under 150 MB during the transfer (asserted); throughput at least 0.8 of
// raw TCP (reported, and asserted only under FERRY_TRANSFER_ASSERT_THROUGHPUT=1: on a shared
// two-core machine the lab's load moves it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { createTransferToken } from '../../agent/transfer/index.js';
import { REPO_ROOT } from '../support/lab.js';
import type { EndpointResult, Role } from '../support/transfer-endpoint.js';
import { DESTINATION_ADDRESS, SOURCE_ADDRESS, transferPeers, type TransferPeers } from '../support/transfer-peers.js';
import { dataBytesOf, denseChecksum, layoutSize, type Extent } from '../support/transfer-volumes.js';

const MiB = 1024 * 1024;
const ENDPOINT = join(REPO_ROOT, 'dist', 'test', 'support', 'transfer-endpoint.js');
/** 64 runs of 1 MiB of data and 3 MiB of hole: 256 MiB, 64 MiB of it data. */
const LAYOUT: Extent[] = Array.from({ length: 64 }, () => [{ data: MiB }, { hole: 3 * MiB }] satisfies Extent[]).flat();
const RSS_GOAL = 150 * 1000 * 1000;

let peers: TransferPeers;

before(async () => {
  peers = await transferPeers();
});

after(() => peers.dispose());

interface Endpoint {
  /** The port it listens on (listening roles). */
  listening: Promise<number>;
  result: Promise<EndpointResult>;
}

function start(role: Role): Endpoint {
  const child = spawn(process.execPath, [ENDPOINT, JSON.stringify(role)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout });
  let onListening: (port: number) => void = () => undefined;
  let onResult: (result: EndpointResult) => void = () => undefined;
  const listening = new Promise<number>((resolve) => {
    onListening = resolve;
  });
  const result = new Promise<EndpointResult>((resolve, reject) => {
    onResult = resolve;
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${role.role} exited ${code}: ${stderr.trim()}`));
    });
  });
  lines.on('line', (line) => {
    const message = JSON.parse(line) as { listening?: number } & Partial<EndpointResult>;
    if (message.listening !== undefined) onListening(message.listening);
    else onResult(message as EndpointResult);
  });
  const listeningOrEnded = Promise.race([listening, result.then(() => assert.fail(`${role.role} ended without listening`))]);
  listeningOrEnded.catch(() => undefined); // awaited only for the roles that listen
  return { listening: listeningOrEnded, result };
}

const tlsFiles = (cert: { certFile: string; keyFile: string }) => ({ caFile: peers.ca.caFile, ...cert });
const rate = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
/** CPU and main-thread milliseconds per GiB of data, and the main thread's ceiling in MiB/s. */
const cost = (end: EndpointResult, bytes: number) =>
  `${((end.cpuMs * 1024 * MiB) / bytes).toFixed(0)} CPU-ms/GiB, main thread ${((end.mainThreadCpuMs * 1024 * MiB) / bytes).toFixed(0)} ms/GiB ` +
  `(alone: ${rate(bytes, end.mainThreadCpuMs).toFixed(0)} MiB/s)`;

it('moves 256 MiB (64 MiB of data) at a rate near raw TCP, each end under 150 MB RSS', async (t) => {
  const dataBytes = dataBytesOf(LAYOUT);

  const rawReceiver = start({ role: 'raw-receive', address: DESTINATION_ADDRESS, bytes: dataBytes });
  const rawSender = start({ role: 'raw-send', address: DESTINATION_ADDRESS, port: await rawReceiver.listening, bytes: dataBytes });
  const [rawSent, rawReceived] = await Promise.all([rawSender.result, rawReceiver.result]);

  const token = createTransferToken().toString('hex');
  const receiver = start({
    role: 'receive',
    address: DESTINATION_ADDRESS,
    sourceAddress: SOURCE_ADDRESS,
    token,
    tls: tlsFiles(peers.destination),
    layout: LAYOUT,
  });
  const sender = start({
    role: 'send',
    address: DESTINATION_ADDRESS,
    port: await receiver.listening,
    localAddress: SOURCE_ADDRESS,
    token,
    tls: tlsFiles(peers.source),
    layout: LAYOUT,
  });
  const [sent, received] = await Promise.all([sender.result, receiver.result]);

  const expected = denseChecksum(LAYOUT);
  assert.equal(sent.sha256, expected);
  assert.equal(received.sha256, expected);

  const ratio = rawSent.elapsedMs / sent.elapsedMs;
  t.diagnostic(
    `raw TCP: ${dataBytes / MiB} MiB in ${rawSent.elapsedMs.toFixed(0)} ms, ${rate(dataBytes, rawSent.elapsedMs).toFixed(0)} MiB/s`,
  );
  t.diagnostic(
    `transfer: ${layoutSize(LAYOUT) / MiB} MiB (${dataBytes / MiB} MiB data) in ${sent.elapsedMs.toFixed(0)} ms: ` +
      `${rate(dataBytes, sent.elapsedMs).toFixed(0)} MiB/s of data, ${rate(layoutSize(LAYOUT), sent.elapsedMs).toFixed(0)} MiB/s of volume; ` +
      `${ratio.toFixed(2)} × raw TCP`,
  );
  t.diagnostic(`peak RSS: source ${mb(sent.maxRss)}, destination ${mb(received.maxRss)} (raw TCP ends: ${mb(rawSent.maxRss)})`);
  t.diagnostic(`source: ${cost(sent, dataBytes)}; destination: ${cost(received, dataBytes)}`);
  t.diagnostic(`raw TCP sender: ${cost(rawSent, dataBytes)}; receiver: ${cost(rawReceived, dataBytes)}`);

  assert.ok(sent.maxRss < RSS_GOAL, `source peak RSS ${mb(sent.maxRss)}`);
  assert.ok(received.maxRss < RSS_GOAL, `destination peak RSS ${mb(received.maxRss)}`);
  if (process.env.FERRY_TRANSFER_ASSERT_THROUGHPUT === '1') assert.ok(ratio >= 0.8, `${ratio.toFixed(2)} × raw TCP`);
});

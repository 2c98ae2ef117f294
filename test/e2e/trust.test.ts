// Trust on the lab: every ferryd speaks mutual TLS 1.3 with the lab CA's
// certificates (scripts/lab.d/pki.sh). The engine (this process) may order
// migrations, agents may only talk to agents, strangers get nothing, a host's
// certificate opens pinholes for that host's own addresses only, and an
// encrypted migration really is TLS on the migration NIC.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { unary, type FerryClients } from '../../shared/client.js';
import { clientCredentialsFromFiles, clientCredentialsFromPem } from '../../shared/credentials.js';
import { createVm, destroyVm, ensureLab, labSpawn, readLabState } from '../support/lab.js';
import { agent, agentAs, closeAgents, domainState, engineTlsFiles, hostTlsFiles, pinholesOn, watchToEnd } from '../support/ferry.js';
import { readTcpSegments } from '../support/pcap.js';
import { ScratchPki, issuedAt, opensslDate, pki } from '../support/pki.js';
import { refusal } from '../support/refusal.js';
import { sleep, until } from '../support/wait.js';

const VM = 'e2e-trust';
const scratch = mkdtempSync(join(tmpdir(), 'ferry-trust-'));
let strangers: ScratchPki;
const opened: FerryClients[] = [];
const NO_SUCH_VM = '00000000-0000-4000-8000-00000000a001';

before(async () => {
  await ensureLab(3);
  strangers = await ScratchPki.create();
});

after(async () => {
  for (const c of opened) c.close();
  closeAgents();
  await destroyVm('lab1', VM);
  strangers?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

function as(host: string, credentials: grpc.ChannelCredentials): FerryClients {
  const clients = agentAs(host, credentials);
  opened.push(clients);
  return clients;
}

/** ferryd's log lines on a host since `since` (JSON lines, ferryd.log in the host's directory). */
function ferrydLog(host: string, since: number): Array<Record<string, unknown>> {
  const dir = readLabState().hosts.find((h) => h.name === host)!.dir;
  return readFileSync(join(dir, 'ferryd.log'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => Date.parse(String(l.timestamp)) >= since - 1000);
}

function logLine(host: string, since: number, match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return until(`such a line in ${host}'s ferryd.log`, () => ferrydLog(host, since).find(match), {
    timeoutMs: 5000,
    everyMs: 100,
    detail: () =>
      `last lines:\n${ferrydLog(host, since)
        .slice(-10)
        .map((l) => JSON.stringify(l))
        .join('\n')}`,
  });
}

const migrateNothing = (clients: FerryClients) =>
  unary(clients.migration, 'Migrate', { vmId: NO_SUCH_VM, dst: '198.18.0.2', dstqemu: '198.19.0.2' }, { timeoutMs: 10_000 });

test('the engine certificate passes: Migrate reaches the agent (NOT_FOUND for a VM that does not exist)', async () => {
  const err = await refusal(migrateNothing(agent('lab1')));
  assert.equal(err.kind, 'NOT_FOUND', err.message);
  const caps = await unary(agent('lab1').host, 'GetCapabilities', {});
  assert.equal(caps.insecure, false);
  assert.ok(!caps.warnings.some((w) => /INSECURE/.test(w)), caps.warnings.join('; '));
});

test("a peer's certificate (lab3, role peer) calling Migrate: PERMISSION_DENIED naming the role", async () => {
  const err = await refusal(migrateNothing(as('lab1', clientCredentialsFromFiles(hostTlsFiles('lab3')))));
  assert.equal(err.kind, 'PERMISSION_DENIED');
  assert.match(err.message, /lab3 \(peer\) lacks role engine/);
  // Read-only Host calls are fine for a peer.
  const stats = await unary(as('lab1', clientCredentialsFromFiles(hostTlsFiles('lab3'))).host, 'GetStats', {});
  assert.ok(stats.memoryTotalBytes > 0);
});

test('no client certificate: UNAUTHENTICATED', async () => {
  const caOnly = clientCredentialsFromPem({ ca: readFileSync(engineTlsFiles().caFile) });
  const err = await refusal(migrateNothing(as('lab1', caOnly)));
  assert.equal(err.kind, 'UNAUTHENTICATED');
  assert.match(err.message, /no client certificate/);
});

test('a plaintext client does not get in', async () => {
  const err = await refusal(migrateNothing(as('lab1', grpc.credentials.createInsecure())));
  assert.equal(err.kind, 'UNAVAILABLE');
});

test('a certificate from another CA is refused at the handshake, and ferryd says why', async () => {
  const since = Date.now();
  const stranger = await strangers.engine('engine');
  const err = await refusal(migrateNothing(as('lab1', clientCredentialsFromFiles({ caFile: engineTlsFiles().caFile, ...stranger }))));
  assert.equal(err.kind, 'UNAVAILABLE');
  await logLine('lab1', since, (l) => l.message === 'TLS client refused' && /not signed by the cluster CA/.test(String(l.reason)));
});

test('an expired engine certificate from the lab CA is refused, and ferryd says when it expired', async () => {
  const since = Date.now();
  const lab = engineTlsFiles();
  const yearAgo = new Date(Date.now() - 365 * 86400_000);
  const out = join(scratch, 'old-engine');
  await pki(
    'engine',
    scratch,
    'old-engine',
    '--ca',
    join(lab.caFile, '..'),
    '--out',
    out,
    '--not-before',
    opensslDate(yearAgo),
    '--not-after',
    opensslDate(new Date(yearAgo.getTime() + 86400_000)),
  );
  const err = await refusal(migrateNothing(as('lab1', clientCredentialsFromFiles({ caFile: lab.caFile, ...issuedAt(out) }))));
  assert.equal(err.kind, 'UNAVAILABLE');
  const line = await logLine('lab1', since, (l) => l.message === 'TLS client refused' && /expired at/.test(String(l.reason)));
  assert.match(String(line.subject), /CN=old-engine/);
});

test("lab3's certificate cannot open a pinhole on lab2 for lab1, but can for itself", async () => {
  const lab3 = as('lab2', clientCredentialsFromFiles(hostTlsFiles('lab3')));
  const ours = async () => (await pinholesOn('lab2')).filter((h) => h.text.includes('job=trust-e2e-'));
  const prepare = (jobId: string, sourceHost: string, sourceMigrationAddress: string) =>
    unary(lab3.peer, 'PrepareIncoming', { vmId: NO_SUCH_VM, jobId, sourceHost, sourceMigrationAddress, dstqemu: '198.19.0.2' });

  const posing = await refusal(prepare('trust-e2e-1', 'lab1', '198.19.0.1'));
  assert.equal(posing.kind, 'PERMISSION_DENIED', posing.message);
  assert.match(posing.message, /does not name source_host "lab1"/);
  // Its own name, but lab1's address: still no.
  const borrowed = await refusal(prepare('trust-e2e-2', 'lab3', '198.19.0.1'));
  assert.equal(borrowed.kind, 'PERMISSION_DENIED', borrowed.message);
  assert.match(borrowed.message, /198\.19\.0\.1 is not an address in the caller's certificate \(lab3\)/);
  assert.deepEqual(await ours(), [], 'no pinhole was opened');

  // The same certificate for its own migration address works...
  const offer = await prepare('trust-e2e-3', 'lab3', '198.19.0.3');
  const holes = await ours();
  assert.equal(holes.length, 1, `pinholes for trust-e2e-*: ${holes.map((h) => h.text).join('\n')}`);
  assert.deepEqual(
    { source: holes[0]?.source, destination: holes[0]?.destination, ports: holes[0]?.ports },
    { source: '198.19.0.3', destination: '198.19.0.2', ports: [offer.port] },
  );
  // ...and only lab3 may finish lab3's job.
  const lab1 = as('lab2', clientCredentialsFromFiles(hostTlsFiles('lab1')));
  const theft = await refusal(unary(lab1.peer, 'FinishIncoming', { jobId: 'trust-e2e-3', vmId: NO_SUCH_VM }));
  assert.equal(theft.kind, 'PERMISSION_DENIED', theft.message);
  const finished = await unary(lab3.peer, 'FinishIncoming', { jobId: 'trust-e2e-3', vmId: NO_SUCH_VM });
  assert.equal(finished.pinholeClosed, true);
  assert.deepEqual(await ours(), [], 'the pinhole is gone after FinishIncoming');
});

test("an encrypted migration is TLS on the migration NIC; an unencrypted one is QEMU's plain stream", async () => {
  const { uuid } = await createVm('lab1', VM);
  const encrypted = await migrateCapturing('lab1', 'lab1', uuid, '198.18.0.2', '198.19.0.2', true);
  assert.equal(await domainState('lab2', VM), 'running');
  assert.ok(encrypted.first.length >= 2, 'the source sent something on the migration port');
  assert.deepEqual(
    [...encrypted.first.subarray(0, 2)],
    [0x16, 0x03],
    `first bytes ${encrypted.first.subarray(0, 8).toString('hex')}: not a TLS handshake record`,
  );
  assert.ok(!encrypted.sawQevm, 'QEMU_VM_FILE_MAGIC seen in the encrypted stream');

  // The control: the same capture of an unencrypted migration (back to
  // lab1, captured on lab1's eth1 as it arrives) sees QEMU's magic "QEVM".
  const plain = await migrateCapturing('lab2', 'lab1', uuid, '198.18.0.1', '198.19.0.1', false);
  assert.equal(await domainState('lab1', VM), 'running');
  assert.equal(plain.first.subarray(0, 4).toString('latin1'), 'QEVM', `first bytes ${plain.first.subarray(0, 8).toString('hex')}`);
});

/**
 * Migrates uuid from `from` to dst with tcpdump running on captureHost's
 * migration NIC, and returns the first payload sent to the migration port.
 */
async function migrateCapturing(from: string, captureHost: string, uuid: string, dst: string, dstqemu: string, encrypted: boolean) {
  const file = join(scratch, `${from}-${encrypted ? 'tls' : 'plain'}.pcap`);
  // 128 bytes per packet: the record headers are all this needs.
  const tcpdump = labSpawn(
    captureHost,
    ['tcpdump', '-i', 'eth1', '-nn', '-U', '-s', '128', '-w', file, 'tcp', 'and', 'portrange', '49152-49215'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    await listening(tcpdump);
    const accepted = await unary(agent(from).migration, 'Migrate', { vmId: uuid, dst, dstqemu, policy: { encrypted } });
    const final = (await watchToEnd(from, accepted.jobId)).at(-1)!;
    assert.equal(final.phase, 'MIGRATION_PHASE_COMPLETED', JSON.stringify(final.error));
    const port = Number(/:(\d+)$/.exec(final.migrateUri)?.[1]);
    await sleep(300);
    tcpdump.kill('SIGINT');
    await new Promise((r) => tcpdump.once('exit', r));
    const toPort = readTcpSegments(file).filter((s) => s.dst === dstqemu && s.dstPort === port && s.payload.length > 0);
    assert.ok(toPort.length > 0, `no payload to ${dstqemu}:${port} captured`);
    return { first: toPort[0]!.payload, sawQevm: toPort.some((s) => s.payload.includes('QEVM')) };
  } finally {
    if (tcpdump.exitCode === null) tcpdump.kill('SIGKILL');
  }
}

function listening(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${text}`)), 15_000);
    child.stderr!.on('data', (b: Buffer) => {
      text += b.toString();
      if (/listening on/.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${text}`)));
  });
}

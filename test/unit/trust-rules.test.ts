// Trust decisions that need no socket: who may call which method
// (agent/rpc/auth.ts), which source a peer may open a pinhole for
// (agent/migration/source-identity.ts, and IncomingMigrations enforcing it
// before anything is opened), how certificates' SANs are read, and how
// ferryctl finds its credentials.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { resolveClientTls } from '../../agent/cli/client-tls.js';
import { certificateAddressWarning } from '../../shared/reissue-command.js';
import { checkSourceIdentity } from '../../agent/migration/incoming/source-identity.js';
import { authorize } from '../../agent/rpc/auth.js';
import { explainRefusal } from '../../agent/tls/listener.js';
import { canonicalAddress, parseSubjectAltName, type CertIdentity } from '../../agent/tls/identity.js';
import { isFerryError } from '../../shared/errors.js';
import { FakePinholes } from '../support/fake-ports.js';
import { incomingMigrations, prepareArgs } from '../support/migration-fixtures.js';

function identity(name: string, roles: string[], ipAddresses: string[] = [], dnsNames: string[] = [name]): CertIdentity {
  return {
    name,
    roles,
    dnsNames,
    ipAddresses,
    subject: `O=Ferry, CN=${name}`,
    issuer: 'O=Ferry, CN=CA',
    validFrom: new Date(0),
    validTo: new Date(8.64e15),
    fingerprint256: 'AA',
  };
}

const engine = identity('engine', ['engine']);
const lab1 = identity('lab1', ['peer'], ['198.18.0.1', '198.19.0.1']);
const lab3 = identity('lab3', ['peer'], ['198.18.0.3', '198.19.0.3']);
const both = identity('ops', ['peer', 'engine']);
const monitoring = identity('probe', ['monitoring']);

test('roles per service: engine → Migration and Host, peer → Peer and Host, health → anyone', () => {
  const ok = (path: string, who: CertIdentity | null) => authorize(path, who).ok;
  assert.equal(ok('/ferry.v1.MigrationService/Migrate', engine), true);
  assert.equal(ok('/ferry.v1.HostService/GetCapabilities', engine), true);
  assert.equal(ok('/ferry.v1.PeerService/PrepareIncoming', engine), false);
  assert.equal(ok('/ferry.v1.MigrationService/Migrate', lab1), false);
  assert.equal(ok('/ferry.v1.MigrationService/WatchMigration', lab1), false);
  assert.equal(ok('/ferry.v1.HostService/ListVms', lab1), true);
  assert.equal(ok('/ferry.v1.PeerService/PrepareIncoming', lab1), true);
  assert.equal(ok('/ferry.v1.PeerService/FinishIncoming', both), true);
  // CheckMigration is the engine's; the destination's half of it, CheckIncoming, is the agents'.
  assert.equal(ok('/ferry.v1.MigrationService/CheckMigration', engine), true);
  assert.equal(ok('/ferry.v1.MigrationService/CheckMigration', lab1), false);
  assert.equal(ok('/ferry.v1.PeerService/CheckIncoming', lab1), true);
  assert.equal(ok('/ferry.v1.PeerService/CheckIncoming', engine), false);
  assert.equal(ok('/ferry.v1.MigrationService/CancelMigration', both), true);
  assert.equal(ok('/grpc.health.v1.Health/Check', null), true);
  assert.equal(ok('/grpc.health.v1.Health/Watch', monitoring), true);
  assert.equal(ok('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', lab1), true);
  assert.equal(ok('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', null), false);
  // Anything not listed needs engine.
  assert.equal(ok('/ferry.v2.Something/New', lab1), false);
  assert.equal(ok('/ferry.v2.Something/New', engine), true);
});

test("maintenance: entering and leaving it are the engine's; a peer may read it (and GetStats, which a draining source asks)", () => {
  const ok = (path: string, who: CertIdentity | null) => authorize(path, who).ok;
  for (const method of ['EnterMaintenance', 'ExitMaintenance']) {
    const path = `/ferry.v1.HostService/${method}`;
    assert.equal(ok(path, engine), true, `${method} engine`);
    assert.equal(ok(path, both), true, `${method} peer+engine`);
    const refused = authorize(path, lab1);
    assert.ok(!refused.ok && refused.code === grpc.status.PERMISSION_DENIED, `${method} peer`);
    assert.equal(refused.details, `certificate lab1 (peer) lacks role engine, which ferry.v1.HostService/${method} requires`);
    assert.equal(refused.reason, 'ROLE_MISSING');
    assert.equal(ok(path, null), false, `${method} without certificate`);
  }
  for (const method of ['GetMaintenance', 'WatchMaintenance', 'GetStats']) {
    assert.equal(ok(`/ferry.v1.HostService/${method}`, lab1), true, `${method} peer`);
    assert.equal(ok(`/ferry.v1.HostService/${method}`, engine), true, `${method} engine`);
  }
});

test('refusals: UNAUTHENTICATED without a certificate, PERMISSION_DENIED naming the missing role', () => {
  const none = authorize('/ferry.v1.MigrationService/Migrate', null);
  assert.ok(!none.ok && none.code === grpc.status.UNAUTHENTICATED && /no client certificate.*role engine/.test(none.details));
  const peer = authorize('/ferry.v1.MigrationService/Migrate', lab1);
  assert.ok(!peer.ok && peer.code === grpc.status.PERMISSION_DENIED);
  assert.equal(peer.details, 'certificate lab1 (peer) lacks role engine, which ferry.v1.MigrationService/Migrate requires');
  assert.deepEqual([none.ok || none.reason, peer.ok || peer.reason], ['CERTIFICATE_REQUIRED', 'ROLE_MISSING']);
  const probe = authorize('/ferry.v1.HostService/GetStats', monitoring);
  assert.ok(!probe.ok && /probe \(monitoring\) lacks role engine or peer/.test(probe.details));
});

test("a peer may name only itself as source_host and only its certificate's addresses", () => {
  checkSourceIdentity(lab1, { sourceHost: 'lab1', sourceMigrationAddress: '198.19.0.1' });
  checkSourceIdentity(lab1, { sourceHost: 'LAB1', sourceMigrationAddress: '198.18.0.1' });
  checkSourceIdentity(lab1, { sourceHost: '198.18.0.1', sourceMigrationAddress: '198.19.0.1' }); // an IP SAN names it too
  const deny = (caller: CertIdentity, sourceHost: string, sourceMigrationAddress: string, re: RegExp) =>
    assert.throws(
      () => checkSourceIdentity(caller, { sourceHost, sourceMigrationAddress }),
      (e) => isFerryError(e, 'PERMISSION_DENIED') && re.test(e.message),
    );
  deny(lab3, 'lab1', '198.19.0.1', /does not name source_host "lab1"/);
  deny(lab3, 'lab3', '198.19.0.1', /198\.19\.0\.1 is not an address in the caller's certificate \(lab3\).*--ip 198\.19\.0\.1/);
  deny(lab3, 'lab3', '10.0.0.1', /not an address/);
  // The refusal names the missing address and the whole command that re-issues the certificate with it, keeping the key.
  assert.throws(
    () => checkSourceIdentity(lab3, { sourceHost: 'lab3', sourceMigrationAddress: '198.19.0.33' }),
    (e) =>
      isFerryError(e, 'PERMISSION_DENIED') &&
      e.reason === 'PINHOLE_DENIED' &&
      e.message.includes(
        `re-issue its certificate with it: ferry-pki host CADIR lab3 ${lab3.ipAddresses.map((ip) => `--ip ${ip} `).join('')}--ip 198.19.0.33 --keep-key --install /etc/ferry/pki, then on that host \`systemctl reload ferryd\``,
      ),
  );
  const v6 = identity('lab6', ['peer'], [canonicalAddress('2001:DB8:0:0:0:0:0:6')]);
  checkSourceIdentity(v6, { sourceHost: 'lab6', sourceMigrationAddress: '2001:db8::6' });
});

test('IncomingMigrations refuses before opening anything; FinishIncoming only by the preparer', async () => {
  const pinholes = new FakePinholes();
  const incoming = incomingMigrations({ pinholes, maxIncoming: () => 4 });
  const args = (jobId: string, sourceHost: string, sourceMigrationAddress: string) =>
    prepareArgs({ jobId, sourceHost, sourceMigrationAddress });
  await assert.rejects(incoming.prepare(args('j1', 'lab1', '198.19.0.1'), lab3), (e) => isFerryError(e, 'PERMISSION_DENIED'));
  assert.deepEqual(pinholes.open_, []);
  assert.equal(incoming.count, 0);
  await incoming.prepare(args('j2', 'lab3', '198.19.0.3'), lab3);
  assert.equal(pinholes.open_.length, 1);
  await assert.rejects(
    incoming.finish({ jobId: 'j2', vmId: 'v1' }, lab1),
    (e) => isFerryError(e, 'PERMISSION_DENIED') && /prepared by lab3/.test(e.message),
  );
  assert.equal(await incoming.finish({ jobId: 'j2', vmId: 'v1' }, lab3), true);
  // Without TLS (tls.insecure) there is no identity to check: the legacy behaviour.
  await incoming.prepare(args('j3', 'anyone', '198.19.0.7'));
  incoming.dispose();
});

test('SANs as Node prints them, quoted values included; IPv6 in one spelling', () => {
  const san = parseSubjectAltName(
    'URI:ferry://role/peer, DNS:lab1, IP Address:198.18.0.1, IP Address:2001:DB8:0:0:0:0:0:1, DNS:"a,b", URI:ferry://role/engine',
  );
  assert.deepEqual(san.uri, ['ferry://role/peer', 'ferry://role/engine']);
  assert.deepEqual(san.dns, ['lab1', 'a,b']);
  assert.deepEqual(san.ip, ['198.18.0.1', '2001:db8::1']);
});

test('the refusal log line says what is wrong with the client certificate', () => {
  const cert = {
    valid_from: 'Jan  1 00:00:00 2020 GMT',
    valid_to: 'Jan  1 00:00:00 2021 GMT',
    issuer: { O: 'Other', CN: 'Other CA' },
  } as never;
  assert.equal(explainRefusal('CERT_HAS_EXPIRED', cert), 'client certificate expired at 2021-01-01T00:00:00.000Z: issue a new one');
  assert.match(explainRefusal('CERT_NOT_YET_VALID', cert), /not valid before 2020-01-01T00:00:00.000Z/);
  assert.match(
    explainRefusal('UNABLE_TO_VERIFY_LEAF_SIGNATURE', cert),
    /not signed by the cluster CA \(its issuer: O=Other, CN=Other CA\)/,
  );
  assert.match(explainRefusal('INVALID_PURPOSE', cert), /clientAuth/);
});

test('ferryctl credentials: flags, then FERRY_* variables, then /etc/ferry/pki, then the lab; else a message', () => {
  const lab = mkdtempSync(join(tmpdir(), 'ferry-lab-'));
  try {
    // The names `ferry-pki engine CADIR NAME --install DIR` writes, in /etc/ferry/pki and in the lab.
    const names = ['ca.pem', 'engine.pem', 'engine-key.pem'];
    mkdirSync(join(lab, 'pki'));
    for (const f of names) writeFileSync(join(lab, 'pki', f), '');
    const env = { FERRY_LAB_DIR: lab };
    assert.deepEqual(resolveClientTls({}, env, '/nonexistent'), {
      caFile: join(lab, 'pki/ca.pem'),
      certFile: join(lab, 'pki/engine.pem'),
      keyFile: join(lab, 'pki/engine-key.pem'),
    });
    const etc = join(lab, 'etc');
    mkdirSync(etc);
    for (const f of names) writeFileSync(join(etc, f), '');
    assert.deepEqual(resolveClientTls({}, env, etc), {
      caFile: join(etc, 'ca.pem'),
      certFile: join(etc, 'engine.pem'),
      keyFile: join(etc, 'engine-key.pem'),
    });
    assert.equal(resolveClientTls({ cert: '/x.pem' }, { ...env, FERRY_KEY: '/y.pem' }, etc).certFile, '/x.pem');
    assert.equal(resolveClientTls({}, { ...env, FERRY_KEY: '/y.pem' }, etc).keyFile, '/y.pem');
    assert.throws(
      () => resolveClientTls({}, { FERRY_LAB_DIR: join(lab, 'none') }, '/nonexistent'),
      (e) => isFerryError(e) && /--ca, --cert, --key.*--insecure/.test(e.message),
    );
  } finally {
    rmSync(lab, { recursive: true, force: true });
  }
});

test("start-up and reload: a migration address missing from the host's own certificate is one warning naming it and the command", () => {
  const own = identity('lab2', ['peer'], ['198.18.0.2']);
  assert.equal(certificateAddressWarning(own, []), '');
  assert.equal(certificateAddressWarning({ ...own, ipAddresses: ['198.18.0.2', '198.19.0.2'] }, ['198.19.0.2']), '');
  assert.equal(
    certificateAddressWarning(own, ['198.19.0.2']),
    "this host's migration address 198.19.0.2 is not in its certificate (lab2: 198.18.0.2), so other hosts refuse pinholes for migrations from it: " +
      'ferry-pki host CADIR lab2 --ip 198.18.0.2 --ip 198.19.0.2 --keep-key --install /etc/ferry/pki, ' +
      'then on that host `systemctl reload ferryd` (or wait 5 s) and `ferry-pki libvirt`',
  );
});

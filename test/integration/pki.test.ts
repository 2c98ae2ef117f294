// scripts/pki writes certificates under the names Ferry's programs look for:
// `--install DIR` gives ferryd its default tls.* files and ferryctl its
// /etc/ferry/pki lookup, and `pki libvirt` puts one host certificate where
// libvirtd, its P2P client and QEMU read it by default, with their modes.
// Needs openssl (scripts/setup installs it); no root beyond chgrp to a group
// of QEMU's, which these tests name themselves.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { resolveClientTls } from '../../agent/cli/client-tls.js';
import { FIELDS } from '../../agent/config/fields.js';
import { loadTlsMaterial } from '../../agent/tls/material.js';
import { reissueCommand } from '../../shared/reissue-command.js';
import { PKI_SCRIPT, pki } from '../support/pki.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'ferry-pki-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const mode = (file: string) => statSync(file).mode & 0o777;
const ownGroup = async () => (await run('id', ['-gn'])).stdout.trim();
async function groupOf(file: string): Promise<string> {
  return (await run('stat', ['-c', '%G', file])).stdout.trim();
}

/** A fresh CA in its own directory under the scratch directory. */
async function freshCa(name: string): Promise<string> {
  const dir = join(scratch, name);
  await pki('ca', dir);
  return dir;
}

test('ca: ca.pem (0644) and ca-key.pem (0600), kept when run again', async () => {
  const ca = await freshCa('ca-kept');
  assert.equal(mode(join(ca, 'ca.pem')), 0o644);
  assert.equal(mode(join(ca, 'ca-key.pem')), 0o600);
  const first = readFileSync(join(ca, 'ca.pem'));
  assert.equal(await pki('ca', ca), join(ca, 'ca.pem'));
  assert.deepEqual(readFileSync(join(ca, 'ca.pem')), first);
});

test('host and engine without --install: hosts/NAME.pem + NAME-key.pem, NAME.pem + NAME-key.pem in the CA directory', async () => {
  const ca = await freshCa('ca-default');
  assert.equal(await pki('host', ca, 'hv1', '--ip', '192.0.2.11'), join(ca, 'hosts', 'hv1.pem'));
  assert.equal(mode(join(ca, 'hosts', 'hv1-key.pem')), 0o600);
  assert.equal(await pki('engine', ca, 'ops'), join(ca, 'ops.pem'));
  assert.equal(mode(join(ca, 'ops-key.pem')), 0o600);
  await assert.rejects(pki('host', ca, 'hv1', '--ip', '192.0.2.11', '--out', join(ca, 'x'), '--install', ca), /give one/);
});

test("host --install DIR: ferryd's default file names, which ferryd loads as they are", async () => {
  const ca = await freshCa('ca-ferryd');
  const etc = join(scratch, 'etc-ferryd');
  await pki('host', ca, 'hv1', '--ip', '192.0.2.11', '--ip', '198.51.100.11', '--install', etc);
  // The names come from ferryd's own defaults (/etc/ferry/pki/…), so the two cannot drift apart.
  const files = {
    caFile: join(etc, basename(FIELDS['tls.ca_file'].default)),
    certFile: join(etc, basename(FIELDS['tls.cert_file'].default)),
    keyFile: join(etc, basename(FIELDS['tls.key_file'].default)),
  };
  assert.equal(FIELDS['tls.cert_file'].default, '/etc/ferry/pki/ferryd.pem');
  assert.deepEqual(readFileSync(files.caFile), readFileSync(join(ca, 'ca.pem')));
  assert.deepEqual([mode(files.caFile), mode(files.certFile), mode(files.keyFile)], [0o644, 0o644, 0o600]);
  const material = loadTlsMaterial(files);
  assert.equal(material.identity.name, 'hv1');
  assert.deepEqual(material.identity.roles, ['peer']);
  assert.deepEqual(material.identity.ipAddresses, ['192.0.2.11', '198.51.100.11']);
});

test("engine --install DIR: what ferryctl finds with no --ca/--cert/--key; the CA's directory may be that DIR", async () => {
  const etc = await freshCa('etc-ferryctl');
  await pki('engine', etc, 'ops', '--install', etc);
  assert.deepEqual(resolveClientTls({}, {}, etc), {
    caFile: join(etc, 'ca.pem'),
    certFile: join(etc, 'engine.pem'),
    keyFile: join(etc, 'engine-key.pem'),
  });
  const out = await run('openssl', ['x509', '-in', join(etc, 'engine.pem'), '-noout', '-subject', '-ext', 'subjectAltName']);
  assert.match(out.stdout, /CN\s*=\s*ops/);
  assert.match(out.stdout, /URI:ferry:\/\/role\/engine/);
});

const LIBVIRT_FILES: Array<[path: string, source: 'ca' | 'cert' | 'key', mode: number, qemu: boolean]> = [
  ['etc/pki/CA/cacert.pem', 'ca', 0o644, false],
  ['etc/pki/libvirt/servercert.pem', 'cert', 0o644, false],
  ['etc/pki/libvirt/private/serverkey.pem', 'key', 0o600, false],
  ['etc/pki/libvirt/clientcert.pem', 'cert', 0o644, false],
  ['etc/pki/libvirt/private/clientkey.pem', 'key', 0o600, false],
  ['etc/pki/qemu/ca-cert.pem', 'ca', 0o644, false],
  ['etc/pki/qemu/server-cert.pem', 'cert', 0o644, false],
  ['etc/pki/qemu/server-key.pem', 'key', 0o640, true],
  ['etc/pki/qemu/client-cert.pem', 'cert', 0o644, false],
  ['etc/pki/qemu/client-key.pem', 'key', 0o640, true],
];

/** A host's root with ferryd's files in etc/ferry/pki, as `--install` leaves them. */
async function hostRoot(name: string): Promise<{ root: string; sources: Record<'ca' | 'cert' | 'key', string> }> {
  const ca = await freshCa(`ca-${name}`);
  const root = join(scratch, name);
  const etc = join(root, 'etc/ferry/pki');
  await pki('host', ca, 'hv1', '--ip', '192.0.2.11', '--install', etc);
  return { root, sources: { ca: join(etc, 'ca.pem'), cert: join(etc, 'ferryd.pem'), key: join(etc, 'ferryd-key.pem') } };
}

test("libvirt --root: ferryd's files where libvirtd, the P2P client and QEMU look, keys QEMU's group may read", async () => {
  const { root, sources } = await hostRoot('root-libvirt');
  const group = await ownGroup();
  const written = (await pki('libvirt', '--root', root, '--qemu-group', group)).split('\n');
  assert.deepEqual(
    written,
    LIBVIRT_FILES.map(([path]) => join(root, path)),
  );
  for (const [path, source, expectedMode, qemu] of LIBVIRT_FILES) {
    const file = join(root, path);
    assert.deepEqual(readFileSync(file), readFileSync(sources[source]), path);
    assert.equal(mode(file).toString(8), expectedMode.toString(8), path);
    if (qemu) assert.equal(await groupOf(file), group, path);
  }
  // Run again (a renewed certificate): the same files, nothing left behind.
  await pki('libvirt', '--root', root, '--qemu-group', group);
  const leftovers = await run('find', [join(root, 'etc/pki'), '-name', '*.tmp']);
  assert.equal(leftovers.stdout, '');
});

test("libvirt: QEMU's group from qemu.conf under --root", async () => {
  const { root } = await hostRoot('root-qemu-conf');
  const group = await ownGroup();
  mkdirSync(join(root, 'etc/libvirt'), { recursive: true });
  writeFileSync(join(root, 'etc/libvirt/qemu.conf'), `# user = "qemu"\n#group = "nobody"\ngroup = "${group}"\n`);
  await pki('libvirt', '--root', root);
  assert.equal(await groupOf(join(root, 'etc/pki/qemu/server-key.pem')), group);
});

test('libvirt refuses what libvirtd or QEMU would: an engine certificate, a foreign key, another CA, nothing to copy', async () => {
  const { root, sources } = await hostRoot('root-refused');
  const group = await ownGroup();
  const ca = join(scratch, 'ca-root-refused');
  await pki('engine', ca, 'ops');
  const libvirt = (...args: string[]) => pki('libvirt', '--root', join(scratch, 'refused-out'), '--qemu-group', group, ...args);
  await assert.rejects(
    libvirt('--ca', sources.ca, '--cert', join(ca, 'ops.pem'), '--key', join(ca, 'ops-key.pem')),
    /not a host certificate/,
  );
  await assert.rejects(libvirt('--ca', sources.ca, '--cert', sources.cert, '--key', join(ca, 'ops-key.pem')), /is not the key of/);
  const other = await freshCa('ca-other');
  await assert.rejects(libvirt('--ca', join(other, 'ca.pem'), '--cert', sources.cert, '--key', sources.key), /not signed by/);
  await assert.rejects(libvirt(), /cannot read .*etc\/ferry\/pki\/ca\.pem.*--install \/etc\/ferry\/pki/);
  await assert.rejects(pki('libvirt', '--root', root, '--qemu-group', 'no-such-group-ferry'), /no group no-such-group-ferry/);
});

test('installed under another name, the help speaks of that name', async () => {
  const dir = join(scratch, 'bin');
  mkdirSync(dir);
  const copy = join(dir, 'ferry-pki');
  writeFileSync(copy, readFileSync(PKI_SCRIPT), { mode: 0o755 });
  const { stdout } = await run(copy, ['--help']);
  assert.match(stdout, /^ {2}ferry-pki libvirt /m);
  assert.doesNotMatch(stdout, /^ {2}pki /m);
});

test('host --keep-key re-issues with the key already there and the addresses given: what the PERMISSION_DENIED message tells an operator to run', async () => {
  const ca = await freshCa('ca-reissue');
  const etc = join(scratch, 'etc-reissue');
  await pki('host', ca, 'hv3', '--ip', '192.0.2.13', '--install', etc);
  const files = { caFile: join(etc, 'ca.pem'), certFile: join(etc, 'ferryd.pem'), keyFile: join(etc, 'ferryd-key.pem') };
  const before = loadTlsMaterial(files);
  const key = readFileSync(files.keyFile);
  const command = reissueCommand(before.identity, ['198.51.100.13']);
  assert.equal(command, 'ferry-pki host CADIR hv3 --ip 192.0.2.13 --ip 198.51.100.13 --keep-key --install /etc/ferry/pki');
  // The command as printed, with this test's directories.
  const args = command
    .split(' ')
    .slice(1)
    .map((word) => (word === 'CADIR' ? ca : word === '/etc/ferry/pki' ? etc : word));
  await pki(...args);
  assert.deepEqual(readFileSync(files.keyFile), key, 'the key is kept');
  assert.equal(mode(files.keyFile), 0o600);
  const after = loadTlsMaterial(files);
  assert.deepEqual(after.identity.ipAddresses, ['192.0.2.13', '198.51.100.13']);
  // Without --keep-key a re-issue makes a new key, as before.
  await pki('host', ca, 'hv3', '--ip', '192.0.2.13', '--install', etc);
  assert.notDeepEqual(readFileSync(files.keyFile), key);
});

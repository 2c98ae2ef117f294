// The libvirt client's TLS dialer (agent/libvirt/rpc/dialers/tls.ts) against
// a lab host's real TLS listener (16514), with the lab PKI: a host's own
// certificate gets in, the engine's does not (libvirtd.conf admits OU=hosts
// only, as the lab's tls_allowed_dn_list says), and a stranger's CA is
// refused by the client before anything is sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LibvirtClient, tlsDialer } from '../../agent/libvirt/index.js';
import { ensureLab, labHost } from '../support/lab.js';
import { engineTlsFiles, hostTlsFiles } from '../support/ferry.js';
import { ScratchPki } from '../support/pki.js';

let strangers: ScratchPki;

before(async () => {
  await ensureLab(2);
  strangers = await ScratchPki.create();
});

after(() => strangers.dispose());

function connect(files: { caFile: string; certFile: string; keyFile: string }, servername?: string) {
  const host = labHost('lab1').mgmtIp;
  return LibvirtClient.connect({
    dialer: tlsDialer({
      host,
      ca: readFileSync(files.caFile),
      cert: readFileSync(files.certFile),
      key: readFileSync(files.keyFile),
      ...(servername ? { servername } : {}),
    }),
    uri: 'qemu:///system',
    callTimeoutMs: 10_000,
  });
}

test("lab2's certificate opens qemu+tls to lab1's libvirtd, by address and by name", async () => {
  for (const name of [undefined, 'lab1']) {
    const client = await connect(hostTlsFiles('lab2'), name);
    try {
      assert.equal(await client.connectGetHostname(), 'lab1');
    } finally {
      await client.close();
    }
  }
});

test("the engine's certificate is not a host's: libvirtd's DN list refuses it", async () => {
  await assert.rejects(connect(engineTlsFiles()), /libvirtd refused our client certificate/);
});

test('a libvirtd whose certificate is not from our CA is not trusted', async () => {
  const stranger = await strangers.engine('engine');
  await assert.rejects(connect({ caFile: strangers.caFile, ...stranger }), /certificate|verify|self.signed|issuer/i);
});

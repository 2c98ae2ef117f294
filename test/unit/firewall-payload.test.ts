import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Pinhole } from '../../agent/firewall/firewall.js';
import {
  buildClosePayload,
  buildOpenPayload,
  buildSyncPayload,
  buildUninstallPayload,
  datestopFor,
  expiresAtFromDatestop,
  jumpRuleArgs,
  pinholeComment,
  quoteArg,
  type ChainLayout,
} from '../../agent/firewall/iptables/payload.js';

const LAYOUT: ChainLayout = { chain: 'FERRY-MIGRATION', parent: 'INPUT', portRange: { first: 49152, last: 49215 } };
// 2030-01-01T00:00:10Z: the hole closes at that instant, so the last matching second is :09.
const EXPIRES = Date.UTC(2030, 0, 1, 0, 0, 10);

const V4: Pinhole = {
  id: 'ph-0123456789ab',
  vmId: 'vm-1',
  jobId: 'job-7',
  family: 'ipv4',
  source: '198.19.0.2',
  destination: '198.19.0.3',
  ports: [49160],
  expiresAt: EXPIRES,
};
const V6_TWO_PORTS: Pinhole = {
  ...V4,
  id: 'ph-b',
  family: 'ipv6',
  source: '2001:db8::2',
  destination: '2001:db8::3',
  ports: [49161, 49162],
};

const V4_RULE =
  '-s 198.19.0.2/32 -d 198.19.0.3/32 -p tcp -m tcp --dport 49160 -m conntrack --ctstate NEW ' +
  '-m time --datestop 2030-01-01T00:00:09 -m comment --comment "ferry pinhole=ph-0123456789ab vm=vm-1 job=job-7" -j ACCEPT';

describe('firewall payload: time arithmetic', () => {
  it('datestop is the last whole second the kernel still matches, in UTC', () => {
    assert.equal(datestopFor(EXPIRES), '2030-01-01T00:00:09');
    assert.equal(expiresAtFromDatestop('2030-01-01T00:00:09'), EXPIRES);
  });

  it('a non-whole expiry rounds so the kernel never closes earlier than asked', () => {
    assert.equal(datestopFor(EXPIRES - 400), '2030-01-01T00:00:09');
    assert.equal(datestopFor(EXPIRES + 1), '2030-01-01T00:00:10');
  });

  it('rejects datestops it did not write', () => {
    assert.equal(expiresAtFromDatestop('2030-01-01'), undefined);
    assert.equal(expiresAtFromDatestop('2030-13-45T99:00:00'), undefined);
  });
});

describe('firewall payload: builders', () => {
  it('the full rewrite declares (flushes) the chain, writes every rule, installs the jump once', () => {
    const payload = buildSyncPayload({ layout: LAYOUT, pinholes: [V4, V6_TWO_PORTS], jumpsToDelete: [], installJump: true });
    assert.equal(
      payload,
      [
        '*filter',
        ':FERRY-MIGRATION - [0:0]',
        '-A FERRY-MIGRATION -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        `-A FERRY-MIGRATION ${V4_RULE}`,
        '-A FERRY-MIGRATION -s 2001:db8::2/128 -d 2001:db8::3/128 -p tcp -m multiport --dports 49161,49162 -m conntrack --ctstate NEW ' +
          '-m time --datestop 2030-01-01T00:00:09 -m comment --comment "ferry pinhole=ph-b vm=vm-1 job=job-7" -j ACCEPT',
        '-A FERRY-MIGRATION -p tcp -j REJECT --reject-with tcp-reset',
        '-I INPUT 1 -p tcp -m tcp --dport 49152:49215 -j FERRY-MIGRATION',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('the full rewrite deletes stale jumps by their printed spec and may leave a good jump alone', () => {
    const payload = buildSyncPayload({
      layout: LAYOUT,
      pinholes: [],
      jumpsToDelete: [['-p', 'tcp', '-m', 'tcp', '--dport', '5900:5999', '-j', 'FERRY-MIGRATION']],
      installJump: true,
    });
    assert.match(payload, /\n-D INPUT -p tcp -m tcp --dport 5900:5999 -j FERRY-MIGRATION\n-I INPUT 1 /);
    assert.doesNotMatch(buildSyncPayload({ layout: LAYOUT, pinholes: [], jumpsToDelete: [], installJump: false }), /INPUT/);
  });

  it('open inserts after the ESTABLISHED rule; close deletes the same spec', () => {
    assert.equal(buildOpenPayload(LAYOUT, V4), `*filter\n-I FERRY-MIGRATION 2 ${V4_RULE}\nCOMMIT\n`);
    assert.equal(buildClosePayload(LAYOUT, V4), `*filter\n-D FERRY-MIGRATION ${V4_RULE}\nCOMMIT\n`);
  });

  it('uninstall removes each jump, then flushes and deletes the chain; nothing to do is an empty payload', () => {
    const jump = jumpRuleArgs(LAYOUT);
    assert.equal(
      buildUninstallPayload(LAYOUT, [jump, jump], true),
      '*filter\n-D INPUT -p tcp -m tcp --dport 49152:49215 -j FERRY-MIGRATION\n' +
        '-D INPUT -p tcp -m tcp --dport 49152:49215 -j FERRY-MIGRATION\n:FERRY-MIGRATION - [0:0]\n-X FERRY-MIGRATION\nCOMMIT\n',
    );
    assert.equal(buildUninstallPayload(LAYOUT, [], false), '');
  });

  it('a one-port range jumps on that port alone', () => {
    assert.deepEqual(jumpRuleArgs({ ...LAYOUT, portRange: { first: 49152, last: 49152 } }).slice(4, 6), ['--dport', '49152']);
  });

  it('quotes only what needs quoting, the way iptables-restore reads it back', () => {
    assert.equal(quoteArg('198.19.0.2/32'), '198.19.0.2/32');
    assert.equal(quoteArg('RELATED,ESTABLISHED'), 'RELATED,ESTABLISHED');
    assert.equal(quoteArg('a b'), '"a b"');
    assert.equal(quoteArg('say "hi"\\'), '"say \\"hi\\"\\\\"');
    assert.equal(pinholeComment(V4), 'ferry pinhole=ph-0123456789ab vm=vm-1 job=job-7');
  });
});

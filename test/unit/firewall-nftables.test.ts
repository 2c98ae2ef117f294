/**
 * The nftables backend's pure parts: the scripts it writes (golden strings),
 * the reader of `nft -j` output (fixtures captured from nft 1.0.6 on Linux
 * 6.18, test/support/nft-fixtures/), the sync plan and the host-firewall check.
 * What the kernel does with them is the integration and lab tiers' business.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Pinhole } from '../../agent/firewall/firewall.js';
import { blockingChainWarning, findBlockingInputChains } from '../../agent/firewall/nftables/host-input.js';
import { withScriptLine } from '../../agent/firewall/nftables/runner.js';
import {
  buildCloseScript,
  buildDeleteTableScript,
  buildOpenScript,
  buildRecreateScript,
  chainRules,
  type TableLayout,
} from '../../agent/firewall/nftables/script.js';
import { planNftSync } from '../../agent/firewall/nftables/sync-plan.js';
import { NftJsonError, readFerryTable } from '../../agent/firewall/nftables/table-reader.js';

const LAYOUT: TableLayout = { portRange: { first: 49152, last: 49215 }, mark: 0x00800000 };
const T = 1_800_000_000_000;

function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/support/nft-fixtures/${name}`, import.meta.url), 'utf8');
}

function hole(over: Partial<Pinhole> = {}): Pinhole {
  return {
    id: 'ph-a',
    vmId: 'vm-1',
    jobId: 'job-a',
    family: 'ipv4',
    source: '198.19.0.2',
    destination: '198.19.0.3',
    ports: [49153],
    expiresAt: T + 60_000,
    ...over,
  };
}

/** The holes table-holes.json was captured with (its elements had this much left, truncated to seconds). */
const CAPTURED = {
  a: hole(),
  b: hole({ id: 'ph-b', vmId: 'vm-2', jobId: 'job-b', source: '198.19.0.1', ports: [49154, 49155], expiresAt: T + 30_000 }),
  c: hole({
    id: 'ph-c',
    vmId: 'vm-3',
    jobId: 'job-c',
    family: 'ipv6',
    source: '2001:db8::2',
    destination: '2001:db8::3',
    ports: [49156],
    expiresAt: T + 90_000,
  }),
};

describe('nft scripts', () => {
  it('the table from scratch: declared, deleted and declared again in one script, elements with their timeouts', () => {
    const script = buildRecreateScript(LAYOUT, [
      {
        family: 'ipv4',
        source: '198.19.0.2',
        destination: '198.19.0.3',
        port: 49153,
        comment: 'ferry pinhole=ph-a vm=vm-1 job=job-a',
        timeoutMs: 1500,
      },
    ]);
    assert.equal(
      script,
      [
        'table inet ferry {}',
        'delete table inet ferry',
        'table inet ferry {',
        '  set pinholes4 { type ipv4_addr . ipv4_addr . inet_service; flags timeout; }',
        '  set pinholes6 { type ipv6_addr . ipv6_addr . inet_service; flags timeout; }',
        '  chain input {',
        '    type filter hook input priority -10; policy accept;',
        '    tcp dport 49152-49215 ct state established,related accept',
        '    tcp dport 49152-49215 ct state new ip saddr . ip daddr . tcp dport @pinholes4 ct mark set ct mark or 0x00800000 accept',
        '    tcp dport 49152-49215 ct state new ip6 saddr . ip6 daddr . tcp dport @pinholes6 ct mark set ct mark or 0x00800000 accept',
        '    tcp dport 49152-49215 reject with tcp reset',
        '  }',
        '}',
        'add element inet ferry pinholes4 { 198.19.0.2 . 198.19.0.3 . 49153 timeout 1500ms comment "ferry pinhole=ph-a vm=vm-1 job=job-a" }',
        '',
      ].join('\n'),
    );
  });

  it('a one-port range is written as one port', () => {
    assert.match(chainRules({ ...LAYOUT, portRange: { first: 50000, last: 50000 } })[0]!, /^tcp dport 50000 ct state/);
  });

  it('open: one transaction that replaces any element of the same key, timeout counted from now', () => {
    const b = CAPTURED.b;
    assert.equal(
      buildOpenScript([b], T + 500),
      [
        'add element inet ferry pinholes4 { 198.19.0.1 . 198.19.0.3 . 49154, 198.19.0.1 . 198.19.0.3 . 49155 }',
        'delete element inet ferry pinholes4 { 198.19.0.1 . 198.19.0.3 . 49154, 198.19.0.1 . 198.19.0.3 . 49155 }',
        'add element inet ferry pinholes4 { 198.19.0.1 . 198.19.0.3 . 49154 timeout 29500ms comment "ferry pinhole=ph-b vm=vm-2 job=job-b", ' +
          '198.19.0.1 . 198.19.0.3 . 49155 timeout 29500ms comment "ferry pinhole=ph-b vm=vm-2 job=job-b" }',
        '',
      ].join('\n'),
    );
  });

  it('several holes of both families open in one script, one line per set and step', () => {
    const lines = buildOpenScript([CAPTURED.a, CAPTURED.c, CAPTURED.b], T).trimEnd().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(' {')[0]),
      [
        'add element inet ferry pinholes4',
        'delete element inet ferry pinholes4',
        'add element inet ferry pinholes6',
        'delete element inet ferry pinholes6',
        'add element inet ferry pinholes4',
        'add element inet ferry pinholes6',
      ],
    );
    assert.equal(lines.length, 6);
    assert.ok(lines[4]!.includes('49153') && lines[4]!.includes('49155'), 'both IPv4 holes in one add');
  });

  it('close deletes whether or not the element is still there (an expired one is gone already)', () => {
    assert.equal(
      buildCloseScript([CAPTURED.c]),
      'add element inet ferry pinholes6 { 2001:db8::2 . 2001:db8::3 . 49156 }\n' +
        'delete element inet ferry pinholes6 { 2001:db8::2 . 2001:db8::3 . 49156 }\n',
    );
    assert.equal(buildCloseScript([]), '');
    assert.equal(buildDeleteTableScript(), 'delete table inet ferry\n');
  });

  it('an nft error names the script line it points at', () => {
    const script = 'add element inet ferry pinholes4 { 1.2.3.4 . 1.2.3.5 . 1 }\ndelete element inet ferry x { 1 }\n';
    assert.equal(
      withScriptLine('nft -f - failed (exit 1): …', '/dev/stdin:2:30-30: Error: No such file or directory\n', script),
      'nft -f - failed (exit 1): … [script line 2: delete element inet ferry x { 1 }]',
    );
    assert.equal(withScriptLine('m', 'Error: something', script), 'm');
  });
});

describe('nft -j reader', () => {
  it('reads the table Ferry wrote: shape right, every element with its owner and time left', () => {
    const table = readFerryTable(fixture('table-holes.json'), LAYOUT);
    assert.equal(table.exists, true);
    assert.deepEqual(table.problems, []);
    assert.deepEqual(
      table.elements.map((e) => [e.family, e.source, e.destination, e.port, e.owner?.id, e.expiresS]),
      [
        ['ipv4', '198.19.0.2', '198.19.0.3', 49153, 'ph-a', 59],
        ['ipv4', '198.19.0.1', '198.19.0.3', 49154, 'ph-b', 29],
        ['ipv4', '198.19.0.1', '198.19.0.3', 49155, 'ph-b', 29],
        ['ipv4', '192.0.2.9', '198.19.0.3', 49200, undefined, 3599],
        ['ipv6', '2001:db8::2', '2001:db8::3', 49156, 'ph-c', 89],
      ],
    );
    assert.deepEqual(table.elements[0]!.owner, { id: 'ph-a', vmId: 'vm-1', jobId: 'job-a' });
    assert.deepEqual(readFerryTable(fixture('table-empty.json'), LAYOUT).problems, []);
  });

  it('a rule added by hand, or another port range, makes the shape wrong', () => {
    assert.deepEqual(readFerryTable(fixture('table-extra-rule.json'), LAYOUT).problems, ['chain input has 5 rules, not 4']);
    const other = readFerryTable(fixture('table-other-range.json'), LAYOUT).problems;
    assert.deepEqual(
      other,
      [1, 2, 3, 4].map((n) => `rule ${n} of chain input differs`),
    );
    assert.deepEqual(
      readFerryTable(fixture('table-other-range.json'), { ...LAYOUT, portRange: { first: 50000, last: 50063 } }).problems,
      [],
    );
    assert.equal(
      readFerryTable(fixture('table-empty.json'), { ...LAYOUT, mark: 0x10 }).problems.length,
      2,
      'the mark is part of the shape',
    );
  });

  it('no table, and output that is not nft JSON', () => {
    assert.deepEqual(readFerryTable(undefined, LAYOUT), { exists: false, problems: ['the table does not exist'], elements: [] });
    assert.throws(() => readFerryTable('Error: oops', LAYOUT), NftJsonError);
    assert.throws(() => readFerryTable('{"tables": []}', LAYOUT), /no "nftables" array/);
  });
});

describe('nft sync plan', () => {
  const table = () => readFerryTable(fixture('table-holes.json'), LAYOUT);

  it('a table that holds exactly the live holes (the hand-added element aside) is only cleaned', () => {
    const plan = planNftSync(table(), 'ipv4', [CAPTURED.a, CAPTURED.b], LAYOUT, T);
    assert.equal(plan.recreate, false);
    assert.equal(plan.unknownElements, 1);
    assert.deepEqual([plan.staleIds, plan.restoredIds, plan.expiredIds], [[], [], []]);
    assert.equal(
      plan.script,
      'add element inet ferry pinholes4 { 192.0.2.9 . 198.19.0.3 . 49200 }\ndelete element inet ferry pinholes4 { 192.0.2.9 . 198.19.0.3 . 49200 }\n',
    );
    assert.equal(planNftSync(table(), 'ipv6', [CAPTURED.c], LAYOUT, T).script, '', 'a healthy family writes nothing');
  });

  it("a killed agent's holes are stale; a live hole without its elements is written again", () => {
    const fresh = hole({ id: 'ph-new', jobId: 'job-new', ports: [49160] });
    const plan = planNftSync(table(), 'ipv4', [CAPTURED.a, fresh], LAYOUT, T);
    assert.deepEqual(plan.staleIds, ['ph-b']);
    assert.deepEqual(plan.restoredIds, ['ph-new']);
    assert.match(
      plan.script,
      /^delete element inet ferry pinholes4 \{ 198\.19\.0\.1 \. 198\.19\.0\.3 \. 49154, 198\.19\.0\.1 \. 198\.19\.0\.3 \. 49155, 192\.0\.2\.9/m,
    );
    assert.match(
      plan.script,
      /^add element inet ferry pinholes4 \{ 198\.19\.0\.2 \. 198\.19\.0\.3 \. 49160 timeout 60000ms comment "ferry pinhole=ph-new /m,
    );
  });

  it("an element whose expiry is not the hole's (beyond nft's one-second resolution) is rewritten", () => {
    const later = { ...CAPTURED.a, expiresAt: T + 120_000 };
    const plan = planNftSync(table(), 'ipv4', [later, CAPTURED.b], LAYOUT, T);
    assert.deepEqual(plan.restoredIds, ['ph-a']);
    assert.match(plan.script, /add element inet ferry pinholes4 \{ 198\.19\.0\.2 \. 198\.19\.0\.3 \. 49153 timeout 120000ms/);
  });

  it("a misshapen table is recreated with this family's holes and the other family's, keeping their time left", () => {
    const misshapen = readFerryTable(fixture('table-extra-rule.json'), LAYOUT);
    const plan = planNftSync(misshapen, 'ipv4', [CAPTURED.a], LAYOUT, T);
    assert.equal(plan.recreate, true);
    assert.deepEqual(plan.staleIds, ['ph-b']);
    const adds = plan.script.split('\n').filter((l) => l.startsWith('add element'));
    assert.deepEqual(adds, [
      'add element inet ferry pinholes4 { 198.19.0.2 . 198.19.0.3 . 49153 timeout 60000ms comment "ferry pinhole=ph-a vm=vm-1 job=job-a" }',
      'add element inet ferry pinholes6 { 2001:db8::2 . 2001:db8::3 . 49156 timeout 89000ms comment "ferry pinhole=ph-c vm=vm-3 job=job-c" }',
    ]);
    assert.ok(plan.script.startsWith('table inet ferry {}\ndelete table inet ferry\n'));
  });

  it('no table: created with the live holes', () => {
    const plan = planNftSync(readFerryTable(undefined, LAYOUT), 'ipv6', [CAPTURED.c], LAYOUT, T);
    assert.equal(plan.recreate, true);
    assert.deepEqual(plan.restoredIds, ['ph-c']);
    assert.match(plan.script, /add element inet ferry pinholes6 \{ 2001:db8::2 \. 2001:db8::3 \. 49156 timeout 90000ms/);
  });
});

describe('the host firewall check', () => {
  const blocking = (name: string) => findBlockingInputChains(fixture(name), LAYOUT);

  it("a drop-policy input chain without Ferry's rule is found, and the rule named; with the rule it is not", () => {
    const found = blocking('ruleset-hostfw-drop.json');
    assert.deepEqual(found, [{ family: 'inet', table: 'hostfw', chain: 'input', why: 'policy drop' }]);
    assert.match(blockingChainWarning(found[0]!, LAYOUT), /nft insert rule inet hostfw input ct mark and 0x00800000 == 0x00800000 accept/);
    assert.deepEqual(blocking('ruleset-hostfw-drop-with-rule.json'), []);
  });

  it("firewalld's chain ends in a reject: found until the zone opens the range", () => {
    const found = blocking('ruleset-firewalld.json');
    assert.deepEqual(found, [{ family: 'inet', table: 'firewalld', chain: 'filter_INPUT', why: 'ends in reject' }]);
    assert.match(blockingChainWarning(found[0]!, LAYOUT), /firewall-cmd --permanent --add-port=49152-49215\/tcp/);
    assert.deepEqual(blocking('ruleset-firewalld-ports.json'), []);
  });

  it("iptables-nft's INPUT with policy DROP: found until a connmark ACCEPT is there", () => {
    const found = blocking('ruleset-iptables-nft-drop.json');
    assert.deepEqual(found, [{ family: 'ip', table: 'filter', chain: 'INPUT', why: 'policy drop' }]);
    assert.match(blockingChainWarning(found[0]!, LAYOUT), /iptables -I INPUT -m connmark --mark 0x00800000\/0x00800000 -j ACCEPT/);
    assert.deepEqual(blocking('ruleset-iptables-nft-connmark.json'), []);
  });

  it("Ferry's own table, alone, blocks nothing", () => {
    assert.deepEqual(blocking('table-holes.json'), []);
  });
});

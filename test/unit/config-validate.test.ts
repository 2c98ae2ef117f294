// Configuration validation: every class of bad value is refused with the
// dotted key, what was given and what is allowed; good values come out typed
// and frozen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError, type ConfigIssue, type ValidateInput } from '../../agent/config/validate.js';
import { FIELDS, FIELD_KEYS } from '../../agent/config/fields.js';
import { policyDefaults } from '../../agent/daemon/policy-defaults.js';
import { isFerryError } from '../../shared/errors.js';

// TLS files are checked on disk; these tests say which exist instead.
const allReadable = () => undefined;
const insecure = { tls: { insecure: true } };

function issuesOf(input: Partial<ValidateInput> & { tree: unknown }): ConfigIssue[] {
  try {
    validateConfig({ checkReadable: allReadable, ...input });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `ConfigError expected, got ${err}`);
    return [...err.issues];
  }
  assert.fail('validation passed but should have failed');
}

function onlyIssue(tree: unknown, extra: Partial<ValidateInput> = {}): ConfigIssue {
  const issues = issuesOf({ tree, ...extra });
  assert.equal(issues.length, 1, JSON.stringify(issues));
  return issues[0]!;
}

test('an empty file gives every default, typed and frozen', () => {
  const config = validateConfig({ tree: null, checkReadable: allReadable });
  assert.equal(config.listen.port, 54321);
  assert.equal(config.listen.address, '0.0.0.0');
  assert.equal(config.tls.insecure, false);
  assert.equal(config.libvirt.socket, '/run/libvirt/libvirt-sock');
  assert.equal(config.libvirt.dconnuriTemplate, 'qemu+tls://{host}/system');
  assert.deepEqual(config.migration.portRange, { first: 49152, last: 49215 });
  assert.equal(config.migration.network, null);
  assert.equal(config.firewall.backend, 'auto');
  assert.equal(config.policy.maxBandwidthMibps, 0);
  assert.equal(config.stateDirectory, '/var/lib/ferry');
  assert.equal(config.log.level, 'info');
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.migration.portRange) && Object.isFrozen(config.policy));
  assert.throws(() => {
    (config.listen as { port: number }).port = 1;
  }, TypeError);
});

test('every key has a default that passes its own rules', () => {
  for (const key of FIELD_KEYS) assert.notEqual(FIELDS[key].default, undefined, key);
  assert.doesNotThrow(() => validateConfig({ tree: {}, checkReadable: allReadable }));
});

test('a migration network is a CIDR block or an interface name', () => {
  const cidr = validateConfig({ tree: { ...insecure, migration: { network: '198.19.0.0/24' } } });
  assert.deepEqual(cidr.migration.network, { kind: 'cidr', cidr: { family: 4, address: '198.19.0.0', prefix: 24, text: '198.19.0.0/24' } });
  const v6 = validateConfig({ tree: { ...insecure, migration: { network: 'fd00:19:0:0::/64' } } });
  assert.equal(v6.migration.network?.kind === 'cidr' && v6.migration.network.cidr.text, 'fd00:19::/64');
  const nic = validateConfig({ tree: { ...insecure, migration: { network: 'eth1' } } });
  assert.deepEqual(nic.migration.network, { kind: 'interface', name: 'eth1' });
});

test('a display network is a CIDR block or an interface name, none by default; FERRY_DISPLAY_NETWORK sets it', () => {
  assert.equal(validateConfig({ tree: insecure }).display.network, null);
  const cidr = validateConfig({ tree: { ...insecure, display: { network: '198.18.0.0/24' } } });
  assert.deepEqual(cidr.display.network, { kind: 'cidr', cidr: { family: 4, address: '198.18.0.0', prefix: 24, text: '198.18.0.0/24' } });
  assert.deepEqual(validateConfig({ tree: { ...insecure, display: { network: 'eth0' } } }).display.network, {
    kind: 'interface',
    name: 'eth0',
  });
  const env = validateConfig({
    tree: insecure,
    overrides: [{ key: 'display.network', value: 'fd00:18::/64', origin: 'FERRY_DISPLAY_NETWORK' }],
  });
  assert.equal(env.display.network?.kind === 'cidr' && env.display.network.cidr.text, 'fd00:18::/64');
  const bad = onlyIssue({ display: { network: '198.18.0.1/24' } });
  assert.equal(bad.key, 'display.network');
  assert.match(bad.message, /has host bits set; did you mean 198\.18\.0\.0\/24\?/);
  assert.match(
    onlyIssue({ display: { network: 'eth 0' } }).message,
    /neither a CIDR block \(e\.g\. 198\.18\.0\.0\/24\) nor an interface name \(e\.g\. eth0\)/,
  );
  assert.match(onlyIssue({ display: { netwrok: 'eth0' } }).message, /did you mean display\.network\?/);
});

test('unknown key: refused, with "did you mean" for a typo', () => {
  const issue = onlyIssue({ listen: { prot: 1234 } });
  assert.equal(issue.key, 'listen.prot');
  assert.match(issue.message, /unknown key; did you mean listen\.port\?/);
  assert.match(onlyIssue({ limts: { max_outgoing: 1 } }).message, /did you mean limits\?/);
  assert.match(onlyIssue({ policy: { autoconverge: true } }).message, /did you mean policy\.auto_converge\?/);
});

test('unknown key: a right name in the wrong section points to where it belongs', () => {
  const issue = onlyIssue({ port: 54321 });
  assert.equal(issue.key, 'port');
  assert.match(issue.message, /did you mean listen\.port or metrics\.port\?/);
});

test('unknown key: nothing close lists what the section has', () => {
  const issue = onlyIssue({ listen: { colour: 'blue' } });
  assert.match(issue.message, /listen has: address, port/);
});

test('wrong type: says what is allowed and what was given', () => {
  const port = onlyIssue({ listen: { port: '54321' } });
  assert.equal(port.key, 'listen.port');
  assert.match(port.message, /must be an integer from 1 to 65535, got the string "54321"/);
  assert.match(onlyIssue({ tls: { insecure: 'yes' } }).message, /must be true or false, got the string "yes"/);
  assert.match(onlyIssue({ limits: { max_outgoing: 1.5 } }).message, /must be an integer from 1 to 64, got 1\.5/);
  assert.match(onlyIssue({ listen: 54321 }).message, /must be a mapping of keys, got 54321/);
  assert.match(onlyIssue({ migration: { port_range: [49152, 49215] } }).message, /must be a mapping of keys, got a list/);
  assert.match(
    onlyIssue({ listen: { port: null } }).message,
    /has no value; give an integer from 1 to 65535, or remove the key for the default \(54321\)/,
  );
  assert.match(onlyIssue(['a']).message, /must be a mapping of keys/);
});

test('out-of-range port and limits', () => {
  const issue = onlyIssue({ listen: { port: 70000 } });
  assert.equal(issue.key, 'listen.port');
  assert.match(issue.message, /70000 is out of range; must be an integer from 1 to 65535/);
  assert.match(onlyIssue({ listen: { port: 0 } }).message, /0 is out of range/);
  assert.equal(onlyIssue({ migration: { port_range: { first: 65536 } } }).key, 'migration.port_range.first');
  assert.match(onlyIssue({ limits: { max_incoming: 0 } }).message, /from 1 to 64/);
  assert.match(onlyIssue({ firewall: { pinhole_ttl_s: 1 } }).message, /from 5 to 3600/);
});

test('policy.postcopy_recovery_timeout_s: 600 s by default, 0 (only by RecoverMigration) allowed, at most a day', () => {
  assert.equal(validateConfig({ tree: null, checkReadable: allReadable }).policy.postcopyRecoveryTimeoutS, 600);
  const none = validateConfig({ tree: { policy: { postcopy_recovery_timeout_s: 0 } }, checkReadable: allReadable });
  assert.equal(none.policy.postcopyRecoveryTimeoutS, 0);
  assert.equal(policyDefaults(none).postcopyRecoveryTimeoutS, 0, "the core's host default");
  const issue = onlyIssue({ policy: { postcopy_recovery_timeout_s: 86_401 } });
  assert.equal(issue.key, 'policy.postcopy_recovery_timeout_s');
  assert.match(issue.message, /86401 is out of range; must be an integer from 0 to 86400/);
  assert.match(onlyIssue({ policy: { postcopy_recovery_timeout_s: -1 } }).message, /from 0 to 86400/);
});

test('bad CIDR: malformed, bad address, too long a prefix, host bits set', () => {
  const net = (network: string) => onlyIssue({ migration: { network } });
  assert.equal(net('198.19.0.0/33').key, 'migration.network');
  assert.match(net('198.19.0.0/33').message, /prefix length \/33 is longer than 32 bits/);
  assert.match(net('198.19.0.300/24').message, /"198\.19\.0\.300" is not an IPv4 or IPv6 address/);
  assert.match(net('198.19.0.0/').message, /is not a CIDR block such as 198\.19\.0\.0\/24/);
  assert.match(net('198.19.0.2/24').message, /has host bits set; did you mean 198\.19\.0\.0\/24\?/);
  assert.match(net('fd00::1/64').message, /did you mean fd00::\/64\?/);
  assert.match(net('eth 1').message, /neither a CIDR block .* nor an interface name/);
  assert.match(net('averyveryverylongname').message, /nor an interface name/);
});

test('bad range: first greater than last', () => {
  const issue = onlyIssue({ migration: { port_range: { first: 49300, last: 49200 } } });
  assert.equal(issue.key, 'migration.port_range');
  assert.match(issue.message, /first \(49300\) is greater than last \(49200\)/);
  // A single port is a valid range.
  assert.doesNotThrow(() =>
    validateConfig({ tree: { migration: { port_range: { first: 49200, last: 49200 } } }, checkReadable: allReadable }),
  );
  // Only the default of the other end can make it inverted, and that is reported too.
  assert.equal(onlyIssue({ migration: { port_range: { first: 50000 } } }).key, 'migration.port_range');
});

test('bad enum value, with a suggestion when close', () => {
  const issue = onlyIssue({ firewall: { backend: 'nft' } });
  assert.equal(issue.key, 'firewall.backend');
  assert.match(issue.message, /must be one of auto, nftables, iptables, none, got the string "nft"/);
  assert.match(onlyIssue({ firewall: { backend: 'iptable' } }).message, /did you mean iptables\?/);
  assert.match(onlyIssue({ log: { level: 'verbose' } }).message, /one of error, warn, info, debug/);
  assert.match(onlyIssue({ policy: { compression: 'zstandard' } }).message, /one of none, zlib, zstd, xbzrle/);
  assert.match(onlyIssue({ policy: { preset: 'fast' } }).message, /"" \(empty\), minimal-downtime/);
});

test('bad file path when TLS is required; none checked when insecure', () => {
  const missing = (file: string) => (file.includes('ca') ? `${file} does not exist` : undefined);
  const issue = onlyIssue({ tls: { ca_file: '/nonexistent/ca.pem' } }, { checkReadable: missing });
  assert.equal(issue.key, 'tls.ca_file');
  assert.match(issue.message, /\/nonexistent\/ca\.pem does not exist \(TLS is required unless tls\.insecure is true\)/);
  assert.match(onlyIssue({ tls: { cert_file: 'ferryd.pem' } }).message, /"ferryd\.pem" is not an absolute path/);
  assert.doesNotThrow(() => validateConfig({ tree: { tls: { insecure: true, ca_file: '/nonexistent' } } }));
});

test('the real file check: missing and directory are refused, a readable file accepted', async (t) => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const dir = mkdtempSync('/tmp/ferry-config-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['ca.pem', 'cert.pem']) writeFileSync(`${dir}/${name}`, 'x');
  const tls = { ca_file: `${dir}/ca.pem`, cert_file: `${dir}/cert.pem`, key_file: `${dir}/missing.pem` };
  let err: unknown;
  try {
    validateConfig({ tree: { tls } });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(
    err.issues.map((i) => i.key),
    ['tls.key_file'],
  );
  assert.throws(() => validateConfig({ tree: { tls: { ...tls, key_file: dir } } }), /is not a regular file/);
  writeFileSync(`${dir}/missing.pem`, 'x');
  assert.equal(validateConfig({ tree: { tls } }).tls.keyFile, `${dir}/missing.pem`);
});

test('bad strings: listen address, URI template, relative paths', () => {
  assert.match(onlyIssue({ listen: { address: 'localhost' } }).message, /is not an IP address/);
  assert.match(onlyIssue({ libvirt: { destination_uri: 'qemu+tls://dst/system' } }).message, /must contain \{host\}/);
  assert.match(onlyIssue({ libvirt: { destination_uri: 'qemu+tls://{hostname}/system' } }).message, /unknown placeholder \{hostname\}/);
  assert.match(onlyIssue({ libvirt: { destination_uri: '{host}' } }).message, /not a libvirt URI template/);
  assert.match(onlyIssue({ state_directory: 'var/lib/ferry' }).message, /not an absolute path/);
});

test('cross-key rule: xbzrle needs a single connection', () => {
  const issue = onlyIssue({ policy: { compression: 'xbzrle', parallel_connections: 4 } });
  assert.equal(issue.key, 'policy.compression');
  assert.match(issue.message, /single connection only/);
});

test('every problem is reported at once, as an INVALID_ARGUMENT FerryError', () => {
  let err: unknown;
  try {
    validateConfig({
      tree: { listen: { port: 0, adress: 'x' }, firewall: { backend: 'pf' }, log: { level: 'loud' } },
      checkReadable: allReadable,
      file: '/etc/ferry/ferryd.yaml',
      locate: (key) => `/etc/ferry/ferryd.yaml:${key.length}`,
    });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError && isFerryError(err, 'INVALID_ARGUMENT'));
  assert.deepEqual(err.issues.map((i) => i.key).sort(), ['firewall.backend', 'listen.adress', 'listen.port', 'log.level']);
  assert.equal(err.details.field, err.issues[0]!.key);
  assert.match(err.message, /^invalid configuration \(4 problems\):\n/);
  assert.match(err.message, /\n {2}\/etc\/ferry\/ferryd\.yaml:11: listen\.port: 0 is out of range/);
});

test('overrides are typed per key and replace the file value and its complaint', () => {
  const config = validateConfig({
    tree: { listen: { port: 'bad' }, tls: { insecure: true } },
    overrides: [
      { key: 'listen.port', value: '6000', origin: 'FERRY_LISTEN_PORT' },
      { key: 'policy.auto_converge', value: 'yes', origin: '--set' },
      { key: 'migration.network', value: '198.19.0.0/24', origin: '--set' },
    ],
  });
  assert.equal(config.listen.port, 6000);
  assert.equal(config.policy.autoConverge, true);
  const bad = issuesOf({ tree: {}, overrides: [{ key: 'listen.port', value: 'http', origin: 'FERRY_LISTEN_PORT' }] });
  assert.deepEqual(bad, [
    { key: 'listen.port', origin: 'FERRY_LISTEN_PORT', message: 'must be an integer from 1 to 65535, got the string "http"' },
  ]);
  const unknown = issuesOf({ tree: {}, overrides: [{ key: 'limits.max_outgoin', value: '3', origin: '--set' }] });
  assert.match(unknown[0]!.message, /did you mean limits\.max_outgoing\?/);
});

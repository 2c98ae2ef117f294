// Loading the configuration: the YAML file with line numbers in messages,
// then FERRY_* variables, then flags, in that order of precedence.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type ConfigFlags } from '../../agent/config/load.js';
import { ConfigError } from '../../agent/config/validate.js';

const dir = fs.mkdtempSync('/tmp/ferry-load-');
const NO_DEFAULT = path.join(dir, 'absent-default.yaml');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function load(flags: ConfigFlags, env: NodeJS.ProcessEnv = {}) {
  return loadConfig(flags, env, { defaultFile: NO_DEFAULT });
}

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('expected a ConfigError');
}

test('no file at the default path: defaults plus a note; FERRY_* and flags still apply', () => {
  const { config, notes } = load({ insecure: true }, { FERRY_LIMITS_MAX_OUTGOING: '5' });
  assert.equal(config.source.file, null);
  assert.equal(config.limits.maxOutgoing, 5);
  assert.match(notes[0]!, /no configuration file at .*absent-default\.yaml/);
});

test('an explicit file that does not exist is an error', () => {
  assert.match(
    problems(() => load({ config: path.join(dir, 'nope.yaml') })),
    /cannot read .*nope\.yaml/,
  );
  assert.match(
    problems(() => load({}, { FERRY_CONFIG: path.join(dir, 'nope.yaml') })),
    /cannot read/,
  );
});

test('values from the file; messages carry file:line of the bad key', () => {
  const file = writeConfig(
    'lines.yaml',
    ['tls:', '  insecure: true', 'listen:', '  address: 127.0.0.1', '  port: 99999', 'migration:', '  port_rnge:', '    first: 1'].join(
      '\n',
    ),
  );
  const message = problems(() => load({ config: file }));
  assert.match(message, new RegExp(`${file}:5: listen\\.port: 99999 is out of range`));
  assert.match(message, new RegExp(`${file}:7: migration\\.port_rnge: unknown key; did you mean migration\\.port_range\\?`));

  const good = writeConfig('good.yaml', 'tls:\n  insecure: true\nlisten:\n  address: 127.0.0.1\n  port: 6543\n');
  const { config, notes } = load({ config: good });
  assert.deepEqual(config.listen, { address: '127.0.0.1', port: 6543 });
  assert.equal(config.source.file, good);
  assert.deepEqual(notes, []);
});

test('YAML syntax errors and duplicate keys point at line and column', () => {
  const bad = writeConfig('syntax.yaml', 'listen:\n  port: 1\n   address: [\n');
  assert.match(
    problems(() => load({ config: bad })),
    new RegExp(`${bad}:\\d+:\\d+: YAML syntax: `),
  );
  const dup = writeConfig('dup.yaml', 'listen:\n  port: 1\n  port: 2\n');
  assert.match(
    problems(() => load({ config: dup })),
    /dup\.yaml:3:\d+: YAML syntax: Map keys must be unique/,
  );
});

test('an empty file means every default', () => {
  const empty = writeConfig('empty.yaml', '# nothing but a comment\n');
  assert.equal(load({ config: empty, insecure: true }).config.listen.port, 54321);
});

test('precedence: file < FERRY_* < flags', () => {
  const file = writeConfig('prec.yaml', 'tls:\n  insecure: true\nlimits:\n  max_outgoing: 3\n  max_incoming: 3\nlog:\n  level: warn\n');
  const env = { FERRY_LIMITS_MAX_OUTGOING: '4', FERRY_LIMITS_MAX_INCOMING: '6', FERRY_LOG_LEVEL: 'debug' };
  const { config } = load({ config: file, set: ['limits.max_outgoing=7'], logLevel: 'error' }, env);
  assert.equal(config.limits.maxOutgoing, 7);
  assert.equal(config.limits.maxIncoming, 6);
  assert.equal(config.log.level, 'error');
});

test('shorthands: --listen / FERRY_LISTEN and --insecure / FERRY_INSECURE', () => {
  assert.deepEqual(load({ listen: '198.18.0.2:54321', insecure: true }).config.listen, { address: '198.18.0.2', port: 54321 });
  assert.deepEqual(load({ listen: '[::1]:7000', insecure: true }).config.listen, { address: '::1', port: 7000 });
  const { config } = load({}, { FERRY_LISTEN: '127.0.0.1:0', FERRY_INSECURE: '1', FERRY_LISTEN_PORT: '7001' });
  // The exact per-key variable wins over the shorthand.
  assert.deepEqual(config.listen, { address: '127.0.0.1', port: 7001 });
  assert.equal(config.tls.insecure, true);
  assert.match(
    problems(() => load({ listen: 'localhost' })),
    /--listen: listen: "localhost" is not HOST:PORT/,
  );
});

test('environment: empty variables are unset, bad ones name the variable', () => {
  assert.equal(load({ insecure: true }, { FERRY_LISTEN_PORT: '' }).config.listen.port, 54321);
  assert.match(
    problems(() => load({ insecure: true }, { FERRY_FIREWALL_BACKEND: 'nft' })),
    /FERRY_FIREWALL_BACKEND: firewall\.backend: must be one of auto, nftables, iptables, none/,
  );
  assert.match(
    problems(() => load({}, { FERRY_TLS_INSECURE: 'maybe' })),
    /FERRY_TLS_INSECURE: tls\.insecure: must be true or false/,
  );
  assert.equal(load({}, { FERRY_MIGRATION_NETWORK: '198.19.0.0/24', FERRY_INSECURE: 'true' }).config.migration.network?.kind, 'cidr');
});

test('flags: malformed --set and unknown --set key are refused (unknown flags: the command line, daemon-command-line.test)', () => {
  assert.match(
    problems(() => load({ set: ['listen.port'] })),
    /expected KEY=VALUE/,
  );
  assert.match(
    problems(() => load({ insecure: true, set: ['listen.prot=1'] })),
    /--set: listen\.prot: unknown key; did you mean listen\.port\?/,
  );
});

test('TLS files: required unless tls.insecure, and not checked when the caller reads none (ferryd facts)', () => {
  const absent = path.join(dir, 'absent.pem');
  const set = [`tls.ca_file=${absent}`, `tls.cert_file=${absent}`, `tls.key_file=${absent}`];
  assert.match(
    problems(() => load({ set })),
    /tls\.ca_file: .*absent\.pem does not exist \(TLS is required unless tls\.insecure is true\)/,
  );
  assert.equal(loadConfig({ set }, {}, { defaultFile: NO_DEFAULT, checkTlsFiles: false }).config.tls.caFile, absent);
});

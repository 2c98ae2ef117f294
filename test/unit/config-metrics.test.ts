// The metrics keys: on at 127.0.0.1:9469 by default, an off switch, an
// address that must be an IP address, a port of its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig, ConfigError } from '../../agent/config/validate.js';

const allReadable = () => undefined;

function issuesOf(tree: unknown) {
  try {
    validateConfig({ tree, checkReadable: allReadable });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `ConfigError expected, got ${err}`);
    return [...err.issues];
  }
  return assert.fail('validation passed but should have failed');
}

test('metrics are served on loopback by default, and can be switched off or moved', () => {
  assert.deepEqual(validateConfig({ tree: null, checkReadable: allReadable }).metrics, { enabled: true, address: '127.0.0.1', port: 9469 });
  const moved = validateConfig({ tree: { metrics: { enabled: false, address: '198.18.0.1', port: 9100 } }, checkReadable: allReadable });
  assert.deepEqual(moved.metrics, { enabled: false, address: '198.18.0.1', port: 9100 });
});

test('a metrics address that is not an IP address, a bad port, or the gRPC port: each names the key and what to give', () => {
  const [address] = issuesOf({ metrics: { address: 'localhost' } });
  assert.equal(address?.key, 'metrics.address');
  assert.match(address!.message, /"localhost" is not an IP address; use one of this host's addresses/);
  const [port] = issuesOf({ metrics: { port: 0 } });
  assert.equal(port?.key, 'metrics.port');
  assert.match(port!.message, /0 is out of range; must be an integer from 1 to 65535/);
  const [clash] = issuesOf({ listen: { port: 9469 } });
  assert.equal(clash?.key, 'metrics.port');
  assert.match(clash!.message, /9469 is listen.port too: gRPC and the metrics endpoint need ports of their own/);
  // Off: the port is not used, so it may be anything.
  assert.equal(
    validateConfig({ tree: { listen: { port: 9469 }, metrics: { enabled: false } }, checkReadable: allReadable }).listen.port,
    9469,
  );
  assert.match(issuesOf({ metrics: { enabled: 'yes' } })[0]!.message, /must be true or false/);
});

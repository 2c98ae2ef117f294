// SIGHUP's configuration part: what is applied, what needs a restart, what a
// failed reload keeps, and the one-line summary systemd shows in STATUS=.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reloadConfig, type ReloadLog } from '../../agent/config/reload.js';
import { validateConfig, type AgentConfig } from '../../agent/config/index.js';
import { ConfigError } from '../../agent/config/validate.js';

const base = (tree: Record<string, unknown> = {}): AgentConfig => validateConfig({ tree: { tls: { insecure: true }, ...tree } });

function recordingLog(): ReloadLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (message, meta) => lines.push(`info ${message} ${JSON.stringify(meta)}`),
    warn: (message, meta) => lines.push(`warn ${message} ${JSON.stringify(meta)}`),
    error: (message, meta) => lines.push(`error ${message} ${JSON.stringify(meta)}`),
  };
}

test('changed limits and policy keys are applied and named as in ferryd.yaml', () => {
  const current = base();
  const next = base({ limits: { max_outgoing: 4 }, policy: { preset: 'minimal-downtime', max_bandwidth_mibps: 100 } });
  const applied: AgentConfig[] = [];
  const log = recordingLog();
  const r = reloadConfig(
    current,
    () => next,
    (c) => applied.push(c),
    log,
  );
  assert.equal(r.config, next);
  assert.deepEqual(applied, [next]);
  assert.equal(r.summary, 'reloaded limits.max_outgoing 2 → 4, policy.preset "" → "minimal-downtime", policy.max_bandwidth_mibps 0 → 100');
  assert.match(log.lines[0]!, /^info SIGHUP: configuration reloaded .*"limits\.max_outgoing 2 → 4"/);
});

test('nothing changed; a key outside limits and policy is named as needing a restart', () => {
  const current = base();
  assert.equal(
    reloadConfig(
      current,
      () => base(),
      () => {},
      recordingLog(),
    ).summary,
    'reloaded, limits and policy unchanged',
  );
  const log = recordingLog();
  const r = reloadConfig(
    current,
    () => base({ listen: { port: 6000 }, limits: { max_incoming: 3 } }),
    () => {},
    log,
  );
  assert.equal(r.summary, 'reloaded limits.max_incoming 2 → 3; listen changed: restart to apply');
  assert.match(log.lines[1]!, /^warn SIGHUP: these settings changed but take effect only after a restart \{"keys":\["listen"\]\}/);
});

test('an invalid configuration, or one that cannot be applied, keeps the one in force and says why', () => {
  const current = base();
  const log = recordingLog();
  const invalid = reloadConfig(
    current,
    () => {
      throw new ConfigError([{ key: 'limits.max_outgoing', message: 'must be an integer from 1 to 64, got 0', origin: 'f.yaml:2' }]);
    },
    () => assert.fail('nothing is applied'),
    log,
  );
  assert.equal(invalid.config, current);
  assert.match(
    invalid.summary,
    /^reload failed, the configuration in force is kept: invalid configuration \(1 problem\):\n {2}f\.yaml:2: limits/,
  );
  assert.match(log.lines[0]!, /^error SIGHUP: the configuration is invalid; nothing was changed/);

  const refused = reloadConfig(
    current,
    () => base({ limits: { max_outgoing: 5 } }),
    () => {
      throw new Error('no');
    },
    recordingLog(),
  );
  assert.equal(refused.config, current);
  assert.equal(refused.summary, 'reload failed, the configuration in force is kept: no');
});

test('display.network: applied whether or not migrations run (each prepare reads it), named in the summary, no restart', () => {
  const current = base({ display: { network: '198.18.0.0/24' } });
  const next = base({ display: { network: 'eth0' } });
  const log = recordingLog();
  const r = reloadConfig(
    current,
    () => next,
    () => {},
    log,
    () => 3,
  );
  assert.deepEqual(r.config.display.network, { kind: 'interface', name: 'eth0' });
  assert.equal(r.summary, 'reloaded display.network 198.18.0.0/24 → eth0');
  assert.ok(!log.lines.some((l) => l.startsWith('warn')), log.lines.join('\n'));
  const unset = reloadConfig(
    next,
    () => base(),
    () => {},
    recordingLog(),
  );
  assert.equal(unset.summary, 'reloaded display.network eth0 → none');
  assert.equal(unset.config.display.network, null);
});

test('migration.network: applied while no migration runs (the next one uses it), refused with a warning while migrations run, the rest still reloaded', () => {
  const current = base({ migration: { network: '198.19.0.0/24' } });
  const next = base({ migration: { network: 'bond0.100' }, limits: { max_outgoing: 4 } });

  const idle = recordingLog();
  const applied = reloadConfig(
    current,
    () => next,
    () => {},
    idle,
    () => 0,
  );
  assert.deepEqual(applied.config.migration.network, { kind: 'interface', name: 'bond0.100' });
  assert.equal(applied.summary, 'reloaded limits.max_outgoing 2 → 4, migration.network 198.19.0.0/24 → bond0.100');
  assert.ok(!idle.lines.some((l) => l.startsWith('warn')), idle.lines.join('\n'));

  const busy = recordingLog();
  const refused = reloadConfig(
    current,
    () => next,
    () => {},
    busy,
    () => 2,
  );
  assert.equal(refused.config.migration.network, current.migration.network, 'the running migrations keep their network');
  assert.equal(refused.config.limits.maxOutgoing, 4, 'the other keys are reloaded');
  assert.equal(
    refused.summary,
    'reloaded limits.max_outgoing 2 → 4; migration.network not changed (198.19.0.0/24 → bond0.100): 2 migration(s) running; reload again once they end',
  );
  assert.ok(
    busy.lines.some((l) => l.startsWith('warn SIGHUP: migration.network not changed while migrations run') && l.includes('"running":2')),
    busy.lines.join('\n'),
  );

  // The port range beside it still needs a restart.
  const ports = reloadConfig(
    current,
    () => base({ migration: { network: '198.19.0.0/24', port_range: { first: 50000, last: 50010 } } }),
    () => {},
    recordingLog(),
  );
  assert.match(ports.summary, /migration changed: restart to apply$/);
});

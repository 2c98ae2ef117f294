// The real ferryctl binary, spawned, against an agent that records every
// request (test/support/recording-agent.ts): what each command sends, its
// exit status (0 done; 1 agent error, job FAILED or CANCELLED), what it says
// when the agent cannot be reached, and its --json read back by protobuf's
// own proto3 JSON parser (Python json_format, stubs from Debian's protoc:
// needs python3-protobuf and protobuf-compiler, which scripts/setup installs).
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FerryError } from '../../shared/errors.js';
import { FERRYCTL, ferryctl, type Run } from '../support/ferryctl.js';
import { REPO_ROOT } from '../support/lab.js';
import { compilePythonStubs } from '../support/python-stubs.js';
import { FIRST_JOB, RecordingAgent, VMS } from '../support/recording-agent.js';

const WEB1 = VMS[0]?.id ?? '';
let agent: RecordingAgent;
let stubs: string;

before(async () => {
  agent = await RecordingAgent.start();
  stubs = mkdtempSync(path.join(tmpdir(), 'ferry-py-json-'));
  compilePythonStubs(stubs);
});
after(async () => {
  await agent?.close();
  if (stubs) rmSync(stubs, { recursive: true, force: true });
});
beforeEach(() => agent.reset());

const call = (...args: string[]) => ferryctl([...args, '--insecure'], { FERRY_AGENT: agent.address });

function ok(result: Run): Run {
  assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

test('migrate sends exactly what was typed, follows the job, and exits 0 when it COMPLETED', async () => {
  agent.plan = { steps: 4, stepMs: 300, ending: 'completed' };
  const result = ok(
    await call(
      'migrate',
      'web1',
      '--to',
      '198.18.0.2',
      '--dstqemu',
      '198.19.0.2',
      '--bandwidth',
      '0',
      '--parallel',
      '4',
      '--compression',
      'ZSTD',
      '--no-auto-converge',
      '--copy-storage',
      'incremental',
      '--downtime',
      '1.5s',
      '--preset',
      'suspend-when-stalled',
      '--stall-timeout',
      '2m',
      '--request-id',
      '1F0B8B9D-6F2A-4A67-9D43-8F9C3C5E2B0A',
    ),
  );
  const [migrate] = agent.calls('Migrate');
  assert.deepEqual(
    { ...migrate, policy: { ...(migrate?.policy as object) } },
    {
      vmId: WEB1,
      dst: '198.18.0.2',
      dstparams: '',
      mode: 'MIGRATION_MODE_REMOTE',
      dstqemu: '198.19.0.2',
      migrationNetwork: '',
      overwrite: false,
      keepSource: false,
      requestId: '1f0b8b9d-6f2a-4a67-9d43-8f9c3c5e2b0a',
      policy: {
        preset: 'suspend-when-stalled',
        maxBandwidthMibps: 0,
        _maxBandwidthMibps: 'maxBandwidthMibps',
        parallelConnections: 4,
        _parallelConnections: 'parallelConnections',
        compression: 'COMPRESSION_ZSTD',
        autoConverge: false,
        _autoConverge: 'autoConverge',
        copyStorage: 'COPY_STORAGE_INCREMENTAL',
        initialDowntime: { seconds: 1, nanos: 500_000_000 },
        stallTimeout: { seconds: 120, nanos: 0 },
        completionTimeoutPerGib: null,
        queueTimeout: null,
        postcopyRecoveryTimeout: null,
        schedule: [],
      },
    },
  );
  assert.deepEqual(
    agent.requests.map((r) => r.method),
    ['ListVms', 'Migrate', 'WatchMigration'],
    'the name was resolved, then one Migrate and one stream',
  );
  assert.match(
    result.stdout,
    /^job 0{8}-0{4}-4000-8000-0{11}1: COMPLETED after 4\.5 s\n {2}vm 6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50 -> 198\.18\.0\.2/,
  );
  assert.match(result.stderr, /request id 1f0b8b9d-6f2a-4a67-9d43-8f9c3c5e2b0a \(to retry this exact request: --request-id 1f0b8b9d/);
  assert.match(result.stderr, /^migrating \[#+\.*\] +\d+%/m, 'progress lines on stderr when it is not a terminal');
});

test('exit 1 when the job ends FAILED or CANCELLED, with the summary saying why', async () => {
  agent.plan = { steps: 1, stepMs: 20, ending: 'failed' };
  const failed = await call('migrate', WEB1, '--to', 'lab2');
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stdout, /FAILED after 4\.5 s/);
  assert.match(
    failed.stdout,
    /error at step perform: operation failed: migration job: unexpectedly failed \[VIR_ERR_INTERNAL_ERROR\] \(VM running on the source\)/,
  );
  assert.deepEqual(
    agent.requests.map((r) => r.method),
    ['Migrate', 'WatchMigration'],
    'a UUID needs no lookup',
  );

  agent.plan = { steps: 1, stepMs: 20, ending: 'cancelled' };
  const cancelled = await call('hibernate', 'db1', '--file', '/var/lib/ferry/db1.save', '--definition', '/var/lib/ferry/db1.xml');
  assert.equal(cancelled.code, 1, cancelled.stderr);
  assert.match(cancelled.stdout, /CANCELLED after/);
  const [hibernate] = agent.calls('Migrate').slice(-1);
  assert.equal(hibernate?.mode, 'MIGRATION_MODE_FILE');
  assert.equal(hibernate?.dst, '/var/lib/ferry/db1.save');
  assert.equal(hibernate?.dstparams, '/var/lib/ferry/db1.xml');
});

test("exit 1 on the agent's refusal, showing its message and the google.rpc.Status details", async () => {
  agent.failNext(
    'Migrate',
    new FerryError('INVALID_ARGUMENT', 'policy.parallel_connections: zstd needs parallel_connections > 1', {
      field: 'policy.parallel_connections',
      reason: 'INVALID_FIELD',
    }),
  );
  const refused = await call('migrate', WEB1, '--to', 'lab2', '--compression', 'zstd');
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /^ferryctl: policy\.parallel_connections: zstd needs parallel_connections > 1\n {2}INVALID_ARGUMENT, reason INVALID_FIELD, field policy\.parallel_connections$/m,
  );
  agent.failNext(
    'CancelMigration',
    new FerryError('FAILED_PRECONDITION', 'job already ended', { reason: 'JOB_FINISHED', subject: 'job/x' }),
  );
  const late = await call('cancel', `job:${'0'.repeat(8)}-0000-4000-8000-000000000009`);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /job already ended\n {2}FAILED_PRECONDITION, reason JOB_FINISHED, job\/x/);
  assert.doesNotMatch(late.stderr, /Resolution note/);
});

test('migrate --cold sends mode COLD with keep_source and the hibernation, shows each volume, and prints the restore command', async () => {
  agent.plan = { steps: 3, stepMs: 150, ending: 'completed' };
  const flags = [
    '--cold',
    '--keep-source',
    '--hibernation',
    '/var/lib/ferry/web1.json',
    '--network',
    '198.19.0.0/24',
    '--queue-timeout',
    '5m',
    '--bandwidth',
    '250',
  ];
  const result = ok(await call('migrate', 'web1', '--to', '198.18.0.2', ...flags));
  const [migrate] = agent.calls('Migrate');
  const { requestId, policy, ...fields } = migrate as Record<string, unknown>;
  assert.deepEqual(fields, {
    vmId: WEB1,
    dst: '198.18.0.2',
    dstparams: '/var/lib/ferry/web1.json',
    mode: 'MIGRATION_MODE_COLD',
    dstqemu: '',
    migrationNetwork: '198.19.0.0/24',
    overwrite: false,
    keepSource: true,
  });
  assert.match(String(requestId), /^[0-9a-f-]{36}$/);
  assert.deepEqual(
    { ...(policy as object) },
    {
      preset: '',
      compression: 'COMPRESSION_UNSPECIFIED',
      copyStorage: 'COPY_STORAGE_UNSPECIFIED',
      initialDowntime: null,
      stallTimeout: null,
      completionTimeoutPerGib: null,
      queueTimeout: { seconds: 300, nanos: 0 },
      postcopyRecoveryTimeout: null,
      schedule: [],
      maxBandwidthMibps: 250,
      _maxBandwidthMibps: 'maxBandwidthMibps',
    },
    'of the policy, only --queue-timeout and --bandwidth',
  );
  // Progress: the volume being sent and the volumes verified, then the definition.
  assert.match(result.stderr, /^migrating \[#+\.*\] +\d+% [\d.]+ MiB\/512\.0 MiB 100\.0 MiB\/s ETA \d+s volume vda, 0\/2 verified$/m);
  assert.match(result.stderr, /volume saved-state, 1\/2 verified$/m);
  assert.match(result.stderr, /2\/2 verified, defining the VM on the destination$/m);
  assert.equal(
    result.stdout,
    [
      `job ${FIRST_JOB}: COMPLETED after 4.5 s`,
      `  vm ${WEB1} -> 198.18.0.2`,
      '  sent 512.0 MiB, 9.0 GiB of holes skipped; 2/2 volume(s) verified',
      '  volume vda (qcow2, 10.0 GiB): /var/lib/libvirt/images/web1.qcow2 -> /var/lib/libvirt/images/web1.qcow2',
      '  volume saved-state (raw, 128.0 MiB): /var/lib/ferry/web1.save -> /srv/ferry/images/web1.save',
      "  the source's volumes and definition were kept (--keep-source): start the VM on one host only",
      '  restore the hibernated VM on the destination: ferryctl --from 198.18.0.2 restore --file /srv/ferry/images/web1.save --definition /var/lib/ferry/web1.json',
      '  bytes on migration NIC 8192.0 TiB, on management NIC 64.0 KiB (100.00 % on the migration NIC)',
      '',
    ].join('\n'),
  );

  // A cold job that failed: its volumes, but nothing to restore and nothing kept.
  agent.plan = { steps: 1, stepMs: 20, ending: 'failed' };
  const failed = await call('migrate', WEB1, '--to', 'lab2', '--cold');
  assert.equal(failed.code, 1, failed.stderr);
  const [, sent] = agent.calls('Migrate');
  assert.deepEqual([sent?.mode, sent?.keepSource, sent?.dstparams], ['MIGRATION_MODE_COLD', false, '']);
  assert.match(failed.stdout, /^ {2}volume vda \(qcow2, 10\.0 GiB\): \/var\/lib\/libvirt\/images\/web1\.qcow2 -> /m);
  assert.doesNotMatch(failed.stdout, /restore|kept|saved-state/);
});

test('check sends the request migrate would send, changes nothing, and exits 0 when ok, 1 when something blocks', async () => {
  const flags = ['--to', '198.18.0.2', '--dstqemu', '198.19.0.2', '--parallel', '4', '--copy-storage', 'all'];
  const fine = ok(await call('check', 'web1', ...flags));
  assert.equal(fine.stdout, 'ok: the VM can migrate to 198.18.0.2\n');
  const [checked] = agent.calls('CheckMigration');
  const migration = checked?.migration as { policy: Record<string, unknown> } & Record<string, unknown>;
  assert.deepEqual(
    [migration.vmId, migration.dst, migration.mode, migration.dstqemu, migration.migrationNetwork, migration.requestId],
    [WEB1, '198.18.0.2', 'MIGRATION_MODE_REMOTE', '198.19.0.2', '', ''],
  );
  assert.deepEqual(
    [migration.policy.parallelConnections, migration.policy.copyStorage, migration.policy.compression, migration.policy.maxBandwidthMibps],
    [4, 'COPY_STORAGE_ALL', 'COMPRESSION_UNSPECIFIED', undefined],
    'the flags typed, nothing else set',
  );
  assert.deepEqual(
    agent.requests.map((r) => r.method),
    ['ListVms', 'CheckMigration'],
    'no Migrate, no stream',
  );

  agent.checkAnswer = {
    ok: false,
    blocking: [
      {
        reason: 'MIGRATION_CHECK_REASON_CPU_INCOMPATIBLE',
        side: 'MIGRATION_CHECK_SIDE_DESTINATION',
        message: 'the destination cannot give the VM its CPU (model Skylake-Server): avx512f',
      },
    ],
    warnings: [{ reason: 'MIGRATION_CHECK_REASON_DESTINATION_BUSY', side: 'MIGRATION_CHECK_SIDE_DESTINATION', message: 'at its limit' }],
  };
  const blocked = await call('check', WEB1, '--to', 'lab2');
  assert.equal(blocked.code, 1, blocked.stderr);
  assert.equal(
    blocked.stdout,
    'blocked: the VM cannot migrate to lab2 (1 to fix)\n' +
      '  blocking (destination, cpu incompatible): the destination cannot give the VM its CPU (model Skylake-Server): avx512f\n' +
      '  warning (destination, destination busy): at its limit\n',
  );
  assert.equal(blocked.stderr, '');
  const json = await call('check', WEB1, '--to', 'lab2', '--json');
  assert.equal(json.code, 1);
  assert.deepEqual(JSON.parse(json.stdout), {
    blocking: [
      {
        reason: 'MIGRATION_CHECK_REASON_CPU_INCOMPATIBLE',
        side: 'MIGRATION_CHECK_SIDE_DESTINATION',
        message: 'the destination cannot give the VM its CPU (model Skylake-Server): avx512f',
      },
    ],
    warnings: [{ reason: 'MIGRATION_CHECK_REASON_DESTINATION_BUSY', side: 'MIGRATION_CHECK_SIDE_DESTINATION', message: 'at its limit' }],
  });
  assert.equal(agent.calls('Migrate').length, 0);
});

test('maintenance enter sends the destinations, lanes and policy typed; --wait follows the drain: 0 DRAINED, 1 INCOMPLETE', async () => {
  const flags = ['--to', 'lab2,lab3=198.19.0.3', '--to', '[2001:db8::4]:5000', '--max-parallel', '2', '--post-copy', '--bandwidth', '500'];
  const entered = ok(await call('maintenance', 'enter', ...flags));
  const [sent] = agent.calls('EnterMaintenance');
  assert.deepEqual(sent?.destinations, [
    { host: 'lab2', dstqemu: '' },
    { host: 'lab3', dstqemu: '198.19.0.3' },
    { host: '[2001:db8::4]:5000', dstqemu: '' },
  ]);
  assert.equal(sent?.maxParallel, 2);
  assert.equal(sent?.migrationNetwork, '');
  const policy = sent?.policy as Record<string, unknown>;
  assert.deepEqual(
    [policy.postCopy, policy.maxBandwidthMibps, policy.autoConverge],
    [true, 500, undefined],
    'the flags typed, nothing else',
  );
  assert.match(entered.stdout, /^maintenance +draining$/m);
  assert.match(entered.stdout, /^destinations +lab2, lab3 \(dstqemu 198\.19\.0\.3\), \[2001:db8::4\]:5000$/m);
  assert.match(entered.stdout, /^VM +STATE +DESTINATION +JOB +REASON$/m);
  assert.match(entered.stdout, new RegExp(`^web1 +migrating +lab2 +${FIRST_JOB}$`, 'm'));
  assert.deepEqual(
    agent.requests.map((r) => r.method),
    ['EnterMaintenance'],
    'no wait: no stream',
  );

  const drained = ok(await call('maintenance', 'status', '--watch'));
  assert.match(drained.stdout, /^maintenance +drained$/m, drained.stdout);
  assert.match(drained.stdout, /^twin +migrated +lab3 /m);

  agent.reset();
  agent.drainEnding = 'incomplete';
  const incomplete = await call('maintenance', 'enter', '--to', 'lab2', '--wait');
  assert.equal(incomplete.code, 1, incomplete.stderr);
  const last = incomplete.stdout.slice(incomplete.stdout.lastIndexOf('maintenance '));
  assert.match(last, /^maintenance +incomplete$/m);
  assert.match(last, /^db1 +unmovable +lab2: memory insufficient: the guest needs 1\.0 GiB/m);
  assert.match(last, /^twin +failed +lab2: job 00000000-0000-4000-8000-000000000002 operation failed/m);
  assert.deepEqual(
    agent.requests.map((r) => r.method),
    ['EnterMaintenance', 'WatchMaintenance'],
  );

  const left = ok(await call('maintenance', 'exit', '--cancel-migrations'));
  assert.equal(agent.calls('ExitMaintenance')[0]?.cancelMigrations, true);
  assert.match(left.stdout, /^maintenance +off \(left; incoming migrations accepted again\)$/m);
  assert.equal(ok(await call('maintenance', 'status')).stdout, 'maintenance: off (the host takes incoming migrations)\n');
  assert.equal(ok(await call('maintenance', 'status', '--watch')).code, 0, 'nothing to follow: 0');
});

test('maintenance enter: a destination given twice, a bad DSTQEMU or --max-parallel out of range is a usage error, nothing sent', async () => {
  for (const flags of [
    ['--to', 'lab2,lab3', '--to', 'LAB2:54321'],
    ['--to', 'lab2=127.0.0.1'],
    ['--to', 'lab2', '--max-parallel', '65'],
    ['--max-parallel', '2'],
  ]) {
    const refused = await call('maintenance', 'enter', ...flags);
    assert.equal(refused.code, 2, `${flags.join(' ')}: ${refused.stderr}`);
  }
  assert.match((await call('maintenance', 'enter', '--to', 'lab2,lab3', '--to', 'lab2')).stderr, /lab2 is given twice/);
  assert.deepEqual(agent.requests, []);
});

test('a VM name that matches none or several is an error naming what there is', async () => {
  const none = await call('migrate', 'webl', '--to', 'lab2');
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no VM named "webl" on 127\.0\.0\.1:\d+ \(did you mean web1\?\) — ferryctl host vms --from/);
  const twin = await call('status', 'twin');
  assert.equal(twin.code, 1);
  assert.match(twin.stderr, /the name "twin" is ambiguous .*2 VMs have it \(8b3c4d5e-[^,]+, 9c4d5e6f-[^)]+\) — give the UUID/);
  assert.deepEqual([...new Set(agent.requests.map((r) => r.method))], ['ListVms'], 'nothing but the lookup');
});

test('status, cancel and the job changes find a job by id or by VM; list has a header row and fetches every page', async () => {
  agent.plan = { steps: 1, stepMs: 10_000, ending: 'hold' };
  const jobId = ok(await call('migrate', 'web1', '--to', 'lab2', '--detach')).stdout.trim();
  assert.match(jobId, /^[0-9a-f-]{36}$/);
  ok(await call('migrate', 'db1', '--to', 'lab2', '--detach'));

  assert.match(ok(await call('status', jobId)).stdout, /MIGRATING|PREPARING/);
  ok(await call('set-speed', 'web1', '250'));
  ok(await call('set-downtime', jobId, '750ms'));
  ok(await call('postcopy', `vm:${WEB1}`));
  const changes = agent.calls('ChangeMigrationParams');
  assert.deepEqual(changes[0]?.job, { vmId: WEB1, target: 'vmId' });
  assert.equal(changes[0]?.maxBandwidthMibps, 250);
  assert.deepEqual(changes[1]?.maxDowntime, { seconds: 0, nanos: 750_000_000 });
  assert.equal(changes[2]?.startPostCopy, true);

  const list = ok(await call('list', '--page-size', '1', '--phase', 'migrating,preparing', '--active'));
  const [header, ...rows] = list.stdout.trim().split('\n');
  assert.match(header ?? '', /^JOB +VM +PHASE +PROGRESS +DESTINATION +STARTED$/);
  assert.equal(rows.length, 2, 'both pages');
  const pages = agent.calls('ListMigrations');
  assert.deepEqual(
    pages.map((p) => p.pageToken),
    ['', 'page-2'],
  );
  assert.deepEqual(pages[0]?.phases, ['MIGRATION_PHASE_MIGRATING', 'MIGRATION_PHASE_PREPARING']);
  assert.equal(pages[0]?.activeOnly, true);

  const cancelled = ok(await call('cancel', jobId));
  assert.match(cancelled.stdout, /CANCELLED/);
  assert.deepEqual(agent.calls('CancelMigration')[0]?.job, { jobId, target: 'jobId' }, 'a UUID is tried as a job first');
});

test('a post-copy that broke: status, list and watch show the pause and the attempts; recover sends what was typed and shows RECOVERING', async () => {
  agent.plan = { steps: 1, stepMs: 20, ending: 'postcopy-paused' };
  const jobId = ok(
    await call('migrate', 'web1', '--to', 'lab2', '--post-copy', '--postcopy-recovery-timeout', '10m', '--detach'),
  ).stdout.trim();
  const [migrate] = agent.calls('Migrate');
  assert.deepEqual((migrate?.policy as { postcopyRecoveryTimeout?: unknown } | undefined)?.postcopyRecoveryTimeout, {
    seconds: 600,
    nanos: 0,
  });
  let status = '';
  for (let i = 0; i < 50 && !status.includes('POSTCOPY_PAUSED'); i++) status = ok(await call('status', jobId)).stdout;
  assert.match(status, /^job [0-9a-f-]{36}: POSTCOPY_PAUSED after/);
  assert.match(
    status,
    /\n {2}post-copy paused at 2026-11-22T08:30:03\.250Z: operation failed: job "migration out" failed in post-copy phase\n/,
  );
  assert.match(
    status,
    /\n {2}resume attempts 1, last error: unable to connect to 198\.19\.0\.2:49153: No route to host; resumed 0 time\(s\)\n/,
  );
  assert.match(status, /\n {2}next automatic attempt at 2026-11-22T08:30:05\.250Z \(automatic attempts until 2026-11-22T08:40:03\.250Z\)/);

  const list = ok(await call('list', '--phase', 'postcopy-paused,RECOVERING'));
  assert.deepEqual(agent.calls('ListMigrations')[0]?.phases, ['MIGRATION_PHASE_POSTCOPY_PAUSED', 'MIGRATION_PHASE_RECOVERING']);
  assert.match(list.stdout, new RegExp(`^${jobId} +${WEB1} +postcopy-paused +90% `, 'm'));
  assert.match(list.stdout, new RegExp(`\n\njob ${jobId}:\n {2}post-copy paused at .*\n {2}resume attempts 1, `));

  const recovered = ok(await call('recover', 'web1', '--dstqemu', '198.19.1.2'));
  assert.deepEqual(agent.calls('RecoverMigration'), [{ job: { vmId: WEB1, target: 'vmId' }, dstqemu: '198.19.1.2' }]);
  assert.match(recovered.stdout, /^job [0-9a-f-]{36}: RECOVERING after/);
  assert.match(recovered.stdout, /\n {2}resume attempts 2, .*\n {2}resuming now/);
  assert.match(recovered.stdout, /migrate URI tcp:\/\/198\.19\.1\.2:49153/);

  // Not paused any more: the agent's refusal, exit 1, with its reason; without --dstqemu an empty one is sent.
  const again = await call('recover', jobId);
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /not paused in post-copy.*FAILED_PRECONDITION.*POSTCOPY_NOT_PAUSED/s);
  assert.deepEqual(agent.calls('RecoverMigration')[1], { job: { jobId, target: 'jobId' }, dstqemu: '' });

  // GetCapabilities lists the host's paused jobs; host info shows each with its recovery.
  const info = ok(await call('host', 'info')).stdout;
  assert.match(
    info,
    /\n\npost-copy paused: job 0{8}-0{4}-4000-8000-0{11}3, vm 8b3c4d5e-2f3a-4b6c-8d9e-aabbccddeeff -> lab3 \(postcopy-paused\)\n {2}post-copy paused at 2026-11-22T08:30:03\.250Z: /,
  );
});

test('limits: shown without options (GetCapabilities), set with them (only the fields given)', async () => {
  assert.equal(ok(await call('limits')).stdout, 'outgoing  2\nincoming  3\nports     49152-49215\n');
  ok(await call('limits', '--incoming', '5'));
  const [set] = agent.calls('SetMigrationLimits');
  assert.equal(set?.maxIncoming, 5);
  assert.equal(set?.maxOutgoing, undefined, 'an unset limit stays unset (optional field)');
});

test('a closed port: "cannot reach ferryd at H:P: connection refused — is it running?", exit 1, no TLS hint', async () => {
  const port = await closedPort();
  for (const tls of [['--insecure'], ['--ca', '/dev/null', '--cert', '/dev/null', '--key', '/dev/null']]) {
    const result = await ferryctl(['host', 'vms', '--from', `127.0.0.1:${port}`, ...tls]);
    assert.equal(result.code, tls[0] === '--insecure' ? 1 : 2, result.stderr);
    if (tls[0] !== '--insecure') {
      assert.match(result.stderr, /the CA certificate|TLS files/, 'unusable credentials are a usage error, found before connecting');
      continue;
    }
    assert.equal(
      result.stderr,
      `ferryctl: cannot reach ferryd at 127.0.0.1:${port}: connection refused — is it running, and listening on that port?\n`,
    );
  }
});

test('--json is canonical proto3 JSON: protobuf parses every output back and prints the same', async () => {
  agent.plan = { steps: 5, stepMs: 60, ending: 'completed' };
  // migrate --json streams what watch --json does, from the job's first state: one object per line.
  const lines = ok(await call('migrate', 'web1', '--to', 'lab2', '--json'))
    .stdout.trim()
    .split('\n');
  assert.ok(lines.length >= 3, `one object per line, each state of the job: ${lines.join('\n')}`);
  assert.equal((JSON.parse(lines.at(-1) ?? '{}') as { status: { phase: string } }).status.phase, 'MIGRATION_PHASE_COMPLETED');
  const jobId = ok(await call('migrate', 'db1', '--to', 'lab2', '--json', '--detach')).stdout;
  const migrateResponse = JSON.parse(jobId) as { jobId: string };
  const watched = ok(await call('watch', FIRST_JOB, '--json'))
    .stdout.trim()
    .split('\n');
  assert.equal(watched.length, 1, 'a job that has ended: its final state, one line');

  const outputs: Array<[string, string]> = [
    ['ferry.v1.MigrateResponse', jobId],
    ...[...lines, ...watched].map((line): [string, string] => ['ferry.v1.WatchMigrationResponse', line]),
    ['ferry.v1.GetMigrationStatusResponse', ok(await call('status', migrateResponse.jobId, '--json')).stdout],
    ['ferry.v1.ListMigrationsResponse', ok(await call('list', '--json')).stdout],
    ['ferry.v1.GetCapabilitiesResponse', ok(await call('host', 'info', '--json')).stdout],
    ...(await pausedAndRecovered()),
    ['ferry.v1.GetStatsResponse', ok(await call('host', 'stats', '--json')).stdout],
    ['ferry.v1.ListVmsResponse', ok(await call('host', 'vms', '--json')).stdout],
    ['ferry.v1.Limits', ok(await call('limits', '--json')).stdout],
    ['ferry.v1.SetMigrationLimitsResponse', ok(await call('limits', '--outgoing', '3', '--json')).stdout],
    ['ferry.v1.RestoreResponse', ok(await call('restore', '--file', '/a.save', '--definition', '/a.xml', '--json')).stdout],
    ['ferry.v1.Maintenance', ok(await call('maintenance', 'enter', '--to', 'lab2=198.19.0.2', '--post-copy', '--json')).stdout],
    ...ok(await call('maintenance', 'status', '--watch', '--json'))
      .stdout.trim()
      .split('\n')
      .map((line): [string, string] => ['ferry.v1.Maintenance', line]),
    ['ferry.v1.Maintenance', ok(await call('maintenance', 'exit', '--json')).stdout],
    ...(await events()).map((line): [string, string] => ['ferry.v1.WatchHostResponse', line]),
  ];
  const input = outputs.map(([type, json]) => JSON.stringify({ type, json })).join('\n');
  const script = path.join(REPO_ROOT, 'test/integration/python/proto3_json.py');
  const child = execFile('/usr/bin/python3', [script, stubs], { timeout: 60_000 });
  child.stdin?.end(input);
  const [stdout, stderr, code] = await new Promise<[string, string, number | null]>((resolve) => {
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (c) => resolve([out, err, c]));
  });
  assert.equal(code, 0, `protobuf refused ferryctl's JSON: ${stderr}`);
  const reprinted = stdout.trim().split('\n');
  assert.equal(reprinted.length, outputs.length);
  outputs.forEach(([type, json], i) => {
    assert.deepEqual(JSON.parse(json), JSON.parse(reprinted[i] ?? ''), `${type}: ferryctl's JSON differs from protobuf's`);
  });
  // The kinds of field that differ from a plain JSON.stringify of the message, all present above.
  const final = JSON.parse(lines.at(-1) ?? '{}') as { status: Record<string, unknown> };
  assert.equal(final.status.bytesOnMigrationNic, '9007199254740000', 'uint64 as a string');
  assert.equal(final.status.startedAt, '2026-11-22T08:30:00.250Z', 'Timestamp as RFC 3339');
  assert.equal(final.status.downtime, '0.123500s', 'Duration as seconds');
  assert.equal(final.status.waiting, undefined, 'defaults omitted');
});

/** A job paused in post-copy (status --json: its recovery), then resumed (recover --json). */
async function pausedAndRecovered(): Promise<Array<[string, string]>> {
  agent.plan = { steps: 1, stepMs: 20, ending: 'postcopy-paused' };
  const { jobId } = JSON.parse(ok(await call('migrate', WEB1, '--to', 'lab2', '--detach', '--json')).stdout) as { jobId: string };
  let status = '';
  for (let i = 0; i < 50 && !status.includes('POSTCOPY_PAUSED'); i++) status = ok(await call('status', jobId, '--json')).stdout;
  assert.equal((JSON.parse(status) as { status: { recovery: { pausedAt: string } } }).status.recovery.pausedAt, '2026-11-22T08:30:03.250Z');
  return [
    ['ferry.v1.GetMigrationStatusResponse', status],
    ['ferry.v1.RecoverMigrationResponse', ok(await call('recover', jobId, '--json')).stdout],
  ];
}

/** The first lines of `ferryctl events --json`, then Ctrl-C (SIGINT): exit 130. */
async function events(): Promise<string[]> {
  const child = spawn(process.execPath, [FERRYCTL, 'events', '--json', '--insecure', '--from', agent.address], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`events printed only: ${out}`)), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > 3) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, 'Ctrl-C ends events with 130');
  return out.trim().split('\n');
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address && typeof address === 'object');
  return address.port;
}

// The real ferryctl binary, spawned, against an agent that records every
// request (test/support/recording-agent.ts): a command line that is wrong in
// any way exits 2, names the flag and what is allowed, and sends NOTHING.
// Also help, version, unknown commands and the bash completion.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { FERRYCTL, ferryctl } from '../support/ferryctl.js';
import { REPO_ROOT } from '../support/lab.js';
import { FIRST_JOB, RecordingAgent } from '../support/recording-agent.js';

const run = promisify(execFile);
const JOB = FIRST_JOB;
let agent: RecordingAgent;

before(async () => {
  agent = await RecordingAgent.start();
});
after(async () => {
  await agent?.close();
});
beforeEach(() => agent.reset());

/** ferryctl against the recording agent, plaintext. */
const call = (...args: string[]) => ferryctl([...args, '--insecure'], { FERRY_AGENT: agent.address });

async function refused(args: string[], names: RegExp, allowed: RegExp): Promise<void> {
  const result = await call(...args);
  const shown = `ferryctl ${args.join(' ')}\nexit ${result.code}\nstderr: ${result.stderr}`;
  assert.equal(result.code, 2, shown);
  assert.match(result.stderr, names, shown);
  assert.match(result.stderr, allowed, shown);
  assert.equal(result.stdout, '', shown);
  assert.deepEqual(agent.requests, [], `${shown}\nthe agent received ${JSON.stringify(agent.requests)}`);
}

const MIGRATE = ['migrate', 'web1', '--to', '198.18.0.2'];

test("the issue's table: every bad value exits 2 naming the flag, and nothing reaches the agent", async () => {
  await refused([...MIGRATE, '--bandwidth', 'fast'], /'--bandwidth <MIBPS>' argument 'fast' is invalid/, /from 0 to 4294967295/);
  await refused([...MIGRATE, '--bandwidth', '1.7'], /'--bandwidth <MIBPS>' argument '1\.7' is invalid/, /whole number/);
  await refused([...MIGRATE, '--compression', 'lz4'], /'--compression <METHOD>' argument 'lz4'/, /Allowed: none, zlib, zstd, xbzrle/);
  await refused(
    [...MIGRATE, '--downtime', '5000000000'],
    /'--downtime <DURATION>' argument '5000000000'/,
    /1ms to 60s in whole milliseconds/,
  );
});

test('more bad values: ranges, units, enums, addresses, paths, ids', async () => {
  const cases: Array<[string[], RegExp, RegExp]> = [
    [[...MIGRATE, '--bandwidth', '4294967296'], /--bandwidth/, /to 4294967295/],
    [[...MIGRATE, '--parallel', '65'], /--parallel/, /from 1 to 64/],
    [[...MIGRATE, '--parallel', '0'], /--parallel/, /from 1 to 64/],
    [[...MIGRATE, '--copy-storage', 'some'], /--copy-storage/, /none, all, incremental/],
    [[...MIGRATE, '--preset', 'fastest'], /--preset/, /minimal-downtime, post-copy-when-stalled, suspend-when-stalled/],
    [[...MIGRATE, '--downtime', '0.5ms'], /--downtime/, /whole milliseconds/],
    [[...MIGRATE, '--stall-timeout', '90'], /--stall-timeout/, /with its unit/],
    [[...MIGRATE, '--queue-timeout', '1.5s'], /--queue-timeout/, /whole seconds/],
    [[...MIGRATE, '--completion-timeout-per-gib', '25h'], /--completion-timeout-per-gib/, /up to 24h/],
    [[...MIGRATE, '--request-id', 'again'], /--request-id/, /UUID/],
    [[...MIGRATE, '--dstqemu', '127.0.0.1'], /--dstqemu/, /not a unicast address/],
    [[...MIGRATE, '--network', '198.19.0.0/33'], /--network/, /33/],
    [['migrate', 'web1', '--to', 'lab2:99999'], /--to/, /port 99999 is out of range/],
    [['migrate', 'a/b', '--to', 'lab2'], /argument 'VM'/, /UUID or its libvirt name/],
    [['hibernate', 'web1', '--file', 'vm.save', '--definition', '/var/lib/ferry/vm.json'], /--file/, /absolute path/],
    [['set-speed', JOB, '-1'], /-1/, /unknown option|invalid/],
    [['set-speed', JOB, '4294967296'], /argument 'MIBPS'/, /to 4294967295/],
    [['set-downtime', JOB, '601s'], /argument 'DURATION'/, /1ms to 600s/],
    [['set-downtime', JOB, '500'], /argument 'DURATION'/, /with its unit/],
    [['status', 'job:web1'], /argument 'JOB\|VM'/, /UUID/],
    [['limits', '--outgoing', '65'], /--outgoing/, /from 1 to 64/],
    [['limits', '--incoming', '0'], /--incoming/, /from 1 to 64/],
    [
      ['list', '--phase', 'running'],
      /--phase/,
      /queued, preparing, migrating, postcopy, postcopy-paused, recovering, completed, failed, cancelled/,
    ],
    [['list', '--phase', 'postcopy_paused,paused'], /--phase/, /postcopy-paused, recovering/],
    [['recover', JOB, '--dstqemu', 'lab2'], /--dstqemu/, /not an IP address/],
    [['recover', JOB, '--dstqemu', '224.0.0.1'], /--dstqemu/, /not a unicast address/],
    [['recover', JOB, '--dstqemu', ''], /--dstqemu/, /an IP address/],
    [['recover'], /missing required argument 'JOB\|VM'/, /./],
    [['recover', 'job:web1'], /argument 'JOB\|VM'/, /UUID/],
    [[...MIGRATE, '--postcopy-recovery-timeout', '10'], /--postcopy-recovery-timeout/, /with its unit/],
    [[...MIGRATE, '--postcopy-recovery-timeout', '25h'], /--postcopy-recovery-timeout/, /up to 24h/],
    [[...MIGRATE, '--postcopy-recovery-timeout', '1500ms'], /--postcopy-recovery-timeout/, /whole seconds/],
    [['list', '--page-size', '2147483648'], /--page-size/, /to 2147483647/],
    [['events', '--since', 'inc/latest'], /--since/, /revision/],
    [['host', 'vms', '--timeout', '0s'], /--timeout/, /from 1ms/],
    [['host', 'vms', '--from', 'bad host!'], /--from/, /not a host name or IP address/],
    [['migrate', 'web1'], /required option '--to/, /not specified/],
    [[...MIGRATE, '--dstqemu', '198.19.0.2', '--network', '198.19.0.0/24'], /'--dstqemu <IP>' cannot be used with option '--network/, /./],
    [[...MIGRATE, '--bandwith', '10'], /unknown option '--bandwith'/, /Did you mean --bandwidth\?/],
    [
      [...MIGRATE, '--cold', '--no-auto-converge'],
      /--no-auto-converge cannot be used with --cold/,
      /only --queue-timeout and --bandwidth apply/,
    ],
    [[...MIGRATE, '--cold', '--preset', 'minimal-downtime'], /--preset cannot be used with --cold/, /live copy of memory/],
    [[...MIGRATE, '--cold', '--copy-storage', 'all'], /--copy-storage cannot be used with --cold/, /./],
    [[...MIGRATE, '--keep-source'], /--keep-source needs --cold/, /cold migration/],
    [[...MIGRATE, '--hibernation', '/var/lib/ferry/web1.json'], /--hibernation needs --cold/, /./],
    [[...MIGRATE, '--cold', '--hibernation', 'web1.json'], /--hibernation/, /absolute path/],
  ];
  for (const [args, names, allowed] of cases) await refused(args, names, allowed);
});

test('extra positional arguments are an error, not ignored', async () => {
  await refused(['status', JOB, 'extra'], /too many arguments for 'status'\. Expected 1 argument but got 2/, /status --help/);
  await refused(['recover', JOB, '198.19.1.2'], /too many arguments for 'recover'/, /recover --help/);
  await refused(['host', 'vms', 'extra'], /too many arguments for 'vms'/, /host vms --help/);
  await refused([...MIGRATE, 'web2'], /too many arguments for 'migrate'/, /./);
  await refused(['completion', 'bash', 'zsh'], /too many arguments/, /./);
});

test('the agent: --from or FERRY_AGENT is required and checked, before anything is sent', async () => {
  const result = await ferryctl(['host', 'vms', '--insecure']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--from HOST\[:PORT\] is required \(or set FERRY_AGENT\)/);
  const badEnvironment = await ferryctl(['host', 'vms', '--insecure'], { FERRY_AGENT: 'bad host!' });
  assert.equal(badEnvironment.code, 2);
  assert.match(badEnvironment.stderr, /FERRY_AGENT=bad host! is not an agent address: "bad host!" is not a host name or IP address/);
  assert.equal((await ferryctl(['--help'], { FERRY_AGENT: 'bad host!' })).code, 0, 'a bad FERRY_AGENT does not break the help');
  const viaFlag = await ferryctl(['host', 'vms', '--insecure', '--from', agent.address]);
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.deepEqual(
    agent.requests.map((r) => r.method),
    ['ListVms'],
  );
});

test('help: ferryctl, a command, a subcommand; help CMD is CMD --help; --version is the package version', async () => {
  const general = await ferryctl(['--help']);
  assert.equal(general.code, 0);
  assert.match(general.stdout, /^Usage: ferryctl \[options\] \[command\]/);
  assert.match(general.stdout, /Exit status:\n {2}0 {4}done/);
  assert.match(general.stdout, /Ctrl-C during migrate, hibernate or watch stops following the job, not the job/);

  const migrate = await ferryctl(['migrate', '--help']);
  assert.equal(migrate.code, 0);
  assert.match(migrate.stdout, /^Usage: ferryctl migrate \[options\] <VM>/);
  assert.match(migrate.stdout, /--bandwidth <MIBPS>/);
  assert.match(migrate.stdout, /--compression <METHOD> .*\(choices: "none", "zlib", "zstd", "xbzrle"\)/);
  assert.match(migrate.stdout, /Global Options:[\s\S]*--from <HOST\[:PORT\]>/);
  assert.doesNotMatch(migrate.stdout, /Commands:/, 'the command help, not the global one');

  const viaHelp = await ferryctl(['help', 'migrate']);
  assert.equal(viaHelp.code, 0);
  assert.equal(viaHelp.stdout, migrate.stdout);

  const sub = await ferryctl(['help', 'host', 'info']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /^Usage: ferryctl host info \[options\]/);

  const version = await ferryctl(['--version']);
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.deepEqual([version.code, version.stdout], [0, `${pkg.version}\n`]);

  const bare = await ferryctl([]);
  assert.equal(bare.code, 2, 'no command is a usage error');
  assert.match(bare.stderr, /Usage: ferryctl/);
});

test('unknown commands: a usage error, with "did you mean" when one is close, for CMD and for help CMD alike', async () => {
  for (const args of [['frobnicate'], ['help', 'frobnicate']]) {
    const result = await ferryctl(args);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, /^ferryctl: unknown command 'frobnicate'\n/);
    assert.doesNotMatch(result.stderr, /Did you mean/);
    assert.doesNotMatch(result.stderr, /--from/, 'not "--from is required"');
  }
  for (const args of [['migrat'], ['help', 'migrat']]) {
    const result = await ferryctl(args);
    assert.equal(result.code, 2, args.join(' '));
    assert.match(result.stderr, /unknown command 'migrat'\n\(Did you mean migrate\?\)/);
  }
  const nested = await ferryctl(['help', 'host', 'vmz']);
  assert.equal(nested.code, 2);
  assert.match(nested.stderr, /unknown command 'vmz' of 'host'\n\(Did you mean vms\?\)/);
  assert.deepEqual(agent.requests, []);
});

test('bash completion: the script registers itself and completes commands, subcommands, flags and enum values', async () => {
  const complete = async (line: string[]): Promise<string[]> => {
    const words = line.map((w) => `'${w}'`).join(' ');
    const script = `source <("${process.execPath}" "${FERRYCTL}" completion bash)
COMP_WORDS=(${words}); COMP_CWORD=${line.length - 1}; _ferryctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const { stdout } = await run('bash', ['-c', script]);
    return stdout.split('\n').filter(Boolean);
  };
  const { stdout } = await run('bash', ['-c', `source <("${process.execPath}" "${FERRYCTL}" completion bash); complete -p ferryctl`]);
  assert.equal(stdout.trim(), 'complete -F _ferryctl ferryctl');
  assert.deepEqual(await complete(['ferryctl', 'mi']), ['migrate']);
  assert.deepEqual(await complete(['ferryctl', 's']), ['status', 'set-speed', 'set-downtime']);
  assert.deepEqual(await complete(['ferryctl', '--from', 'lab1', 'host', '']), ['info', 'stats', 'vms']);
  assert.deepEqual(await complete(['ferryctl', 'migrate', 'web1', '--compression', '']), ['none', 'zlib', 'zstd', 'xbzrle']);
  assert.deepEqual(await complete(['ferryctl', 'list', '--phase', 'c']), ['completed', 'cancelled']);
  assert.deepEqual(await complete(['ferryctl', 'migrate', 'web1', '--to', 'lab2', '--ba']), ['--bandwidth']);
  assert.deepEqual(await complete(['ferryctl', 'host', 'vms', '--ins']), ['--insecure']);
  assert.deepEqual(await complete(['ferryctl', 'help', 'ho']), ['host']);
  assert.deepEqual(await complete(['ferryctl', 'completion', '']), ['bash']);
});

test('the man page renders without warnings', async () => {
  const { stderr } = await run('groff', ['-man', '-Tutf8', '-ww', '-z', path.join(REPO_ROOT, 'docs/man/ferryctl.1')]);
  assert.equal(stderr, '');
});

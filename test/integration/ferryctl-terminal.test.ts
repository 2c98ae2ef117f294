// ferryctl in a real terminal: a tmux session on a private server socket
// (tmux -S, in the test's scratch directory), where ferryctl draws its progress bar in place and Ctrl-C is a
// real SIGINT from the terminal. By default Ctrl-C leaves the job running and
// says how to cancel it; with --cancel-on-interrupt the agent receives
// CancelMigration and ferryctl waits for CANCELLED. Exit status 130 either way.
// Needs tmux (scripts/setup installs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { FERRYCTL } from '../support/ferryctl.js';
import { FIRST_JOB, RecordingAgent } from '../support/recording-agent.js';

const run = promisify(execFile);
let agent: RecordingAgent;
let scratch: string;

before(async () => {
  agent = await RecordingAgent.start();
  scratch = mkdtempSync(path.join(tmpdir(), 'ferryctl-tty-'));
});

after(async () => {
  await tmux('kill-server').catch(() => undefined);
  await agent?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const tmux = (...args: string[]) => run('tmux', ['-S', path.join(scratch, 'tmux.socket'), ...args]);
const screen = async (session: string) => (await tmux('capture-pane', '-p', '-t', session)).stdout;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts `ferryctl ARGS` in a new session; its exit status lands in a file. */
async function start(session: string, args: string[]): Promise<string> {
  const statusFile = path.join(scratch, `${session}.status`);
  const quoted = [process.execPath, FERRYCTL, ...args].map((a) => `'${a}'`).join(' ');
  const command = `env -i PATH=/usr/bin:/bin HOME=${scratch} FERRY_LAB_DIR=/nonexistent ${quoted}; echo $? > '${statusFile}'; sleep 600`;
  await tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '30', command);
  return statusFile;
}

const exitStatus = (file: string) =>
  until(`${file}`, async () =>
    existsSync(file) && readFileSync(file, 'utf8').trim() !== '' ? Number(readFileSync(file, 'utf8')) : undefined,
  );

test('a progress bar redrawn in place; Ctrl-C leaves the job running on the agent and says how to cancel it', async () => {
  agent.reset();
  agent.plan = { steps: 40, stepMs: 250, ending: 'hold' };
  const status = await start('follow', ['migrate', 'web1', '--to', '198.18.0.2', '--insecure', '--from', agent.address]);
  // The bar has moved at least once: two different percentages on one line, never a scroll of lines.
  const first = await until('the progress bar', async () => /migrating \[#+\.+\] +(\d+)%/.exec(await screen('follow'))?.[1]);
  await until('the bar to move', async () => {
    const now = /migrating \[#+\.+\] +(\d+)%/.exec(await screen('follow'))?.[1];
    return now !== undefined && now !== first ? now : undefined;
  });
  assert.equal((await screen('follow')).match(/migrating \[/g)?.length, 1, 'one line, redrawn in place');

  await tmux('send-keys', '-t', 'follow', 'C-c');
  assert.equal(await exitStatus(status), 130);
  // The terminal wraps the long line: read the screen as one line.
  const text = (await screen('follow')).replace(/\n/g, '');
  assert.ok(
    text.includes(
      `interrupted: job ${FIRST_JOB} continues on ${agent.address}; \`ferryctl cancel ${FIRST_JOB} --from ${agent.address}\` stops it`,
    ),
    text,
  );
  assert.deepEqual(agent.calls('CancelMigration'), [], 'the job was left alone');
});

test('--cancel-on-interrupt: Ctrl-C sends CancelMigration and waits until the job is CANCELLED', async () => {
  agent.reset();
  agent.plan = { steps: 40, stepMs: 250, ending: 'hold' };
  const status = await start('cancel', [
    'migrate',
    'db1',
    '--to',
    '198.18.0.2',
    '--cancel-on-interrupt',
    '--insecure',
    '--from',
    agent.address,
  ]);
  await until('the progress bar', async () => (/migrating \[#+/.test(await screen('cancel')) ? true : undefined));
  await tmux('send-keys', '-t', 'cancel', 'C-c');
  assert.equal(await exitStatus(status), 130);
  const text = await screen('cancel');
  assert.ok(text.includes(`interrupted: cancelling job ${FIRST_JOB} on ${agent.address} (Ctrl-C again to stop waiting)`), text);
  assert.ok(text.includes(`job ${FIRST_JOB}: CANCELLED after`), text);
  assert.deepEqual(agent.calls('CancelMigration'), [{ job: { jobId: FIRST_JOB, target: 'jobId' } }]);
});

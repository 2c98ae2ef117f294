// Eight migrations at once across the four lab hosts: every job ends
// COMPLETED, none is lost (the source still lists it), every WatchMigration
// stream ends with its final phase, every guest runs exactly once, on its
// destination, and no pinhole is left anywhere.
//
// Eight guests, two per host: one dirtying (TCG Linux, 256 MiB, a 128 MiB
// region kept non-zero and rewritten at 5 MiB/s) and one idle KVM guest
// (256 MiB). Each wave moves every guest one host further round the ring
// lab1 → lab2 → lab3 → lab4 → lab1, so every host sends two and receives two.
//   wave 1: the default limits (2 outgoing, 2 incoming): all eight run at once.
//   wave 2: lab1 limited to 1 outgoing and lab3 to 1 incoming: one job waits
//           for a slot of its own host, one for its busy destination (retried
//           with backoff); both still complete, nothing lost on the way.
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { unary } from '../../shared/client.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { WatchMigrationResponse__Output } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import { agent, closeAgents, domainState, pinholeRules, status } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labHost, readConsole } from '../support/lab.js';
import { sleep, until } from '../support/wait.js';

const HOSTS = ['lab1', 'lab2', 'lab3', 'lab4'];
const DIRTY = { memMiB: 256, dirtyMbps: 5 } as const;
const IDLE = { memMiB: 256 } as const;
/** Keeps each dirtying guest's copy at several seconds, so the eight really overlap. */
const POLICY = { maxBandwidthMibps: 32 };
/** Far beyond a wave's ~20 s. */
const STREAM_DEADLINE_MS = 180_000;
const FINAL = new Set(['MIGRATION_PHASE_COMPLETED', 'MIGRATION_PHASE_FAILED', 'MIGRATION_PHASE_CANCELLED']);
const ORDER = ['MIGRATION_PHASE_QUEUED', 'MIGRATION_PHASE_PREPARING', 'MIGRATION_PHASE_MIGRATING', 'MIGRATION_PHASE_COMPLETED'];

interface Guest {
  name: string;
  dirty: boolean;
  uuid: string;
  at: string;
}
const guests: Guest[] = HOSTS.flatMap((h) => [
  { name: `e2e-conc-${h}-dirty`, dirty: true, uuid: '', at: h },
  { name: `e2e-conc-${h}-idle`, dirty: false, uuid: '', at: h },
]);

before(async () => {
  await ensureLab(4);
  for (const g of guests) await destroyVm(g.at, g.name); // a previous run stopped half-way
  // In parallel: four Linux guests booting under TCG take ~40 s on a 2-CPU machine.
  await Promise.all(
    guests.map(async (g) => {
      g.uuid = (await createVm(g.at, g.name, g.dirty ? DIRTY : IDLE)).uuid;
      if (g.dirty)
        await until(`${g.name} dirtying memory`, async () => (await readConsole(g.at, g.name)).includes('ferry-dirtier: started'), {
          timeoutMs: 180_000,
          everyMs: 500,
        });
    }),
  );
});

after(async () => {
  for (const g of guests) await destroyVm(g.at, g.name);
  closeAgents();
});

function nextHost(host: string): string {
  return HOSTS[(HOSTS.indexOf(host) + 1) % HOSTS.length]!;
}

/** One WatchMigration stream, recorded whole: every message, and how the stream ended. */
interface Stream {
  messages: MigrationProgress__Output[];
  ended: 'end' | 'error';
  error?: Error;
}

function record(host: string, jobId: string): Promise<Stream> {
  return new Promise((resolve) => {
    const messages: MigrationProgress__Output[] = [];
    // A stream that never ends is reported as such (DEADLINE_EXCEEDED), not as the test's timeout.
    const call = agent(host).migration.WatchMigration({ job: { jobId } }, { deadline: Date.now() + STREAM_DEADLINE_MS });
    call.on('data', ({ status }: WatchMigrationResponse__Output) => {
      if (status) messages.push(status);
    });
    call.on('end', () => resolve({ messages, ended: 'end' }));
    call.on('error', (error: Error) => resolve({ messages, ended: 'error', error }));
  });
}

interface Move {
  guest: Guest;
  from: string;
  to: string;
  jobId: string;
  accepted: string;
  stream: Stream;
}

/** Issues every guest's Migrate to the next host at once, opens a stream per job, waits for all streams to end. */
async function wave(): Promise<Move[]> {
  const planned = guests.map((g) => ({ guest: g, from: g.at, to: nextHost(g.at) }));
  const accepted = await Promise.all(
    planned.map(({ guest, from, to }) =>
      unary(agent(from).migration, 'Migrate', {
        vmId: guest.uuid,
        dst: labHost(to).mgmtIp,
        dstqemu: labHost(to).migIp,
        policy: POLICY,
      }).then((a) => ({ jobId: a.jobId, accepted: a.phase, stream: record(from, a.jobId) })),
    ),
  );
  const moves: Move[] = [];
  for (const [i, p] of planned.entries()) {
    const a = accepted[i]!;
    const stream = await a.stream;
    // Where the guest now is, for the next wave and the clean-up, whatever the checks say.
    if (stream.messages.at(-1)?.phase === 'MIGRATION_PHASE_COMPLETED') p.guest.at = p.to;
    moves.push({ ...p, jobId: a.jobId, accepted: a.accepted, stream });
  }
  return moves;
}

function label(m: Move): string {
  return `${m.guest.name} ${m.from}→${m.to} (job ${m.jobId})`;
}

/**
 * The facts every wave must leave behind, all of them gathered before failing:
 * with eight jobs, which ones went wrong and how is the diagnosis.
 */
async function checkWave(moves: Move[], problems: string[]): Promise<void> {
  const check = (ok: boolean, what: string) => void (ok || problems.push(what));
  check(new Set(moves.map((m) => m.jobId)).size === moves.length, 'two Migrate calls got the same job id');
  for (const m of moves) {
    const { messages, ended, error } = m.stream;
    const phases = messages.map((p) => p.phase.replace('MIGRATION_PHASE_', ''));
    const last = messages.at(-1);
    check(ended === 'end', `${label(m)}: the stream failed (${error?.message}) after ${phases.join(' ')}`);
    if (!last || !FINAL.has(last.phase)) {
      problems.push(`${label(m)}: the stream ended without a final phase: ${phases.join(' ') || 'no message at all'}`);
      continue;
    }
    check(
      messages.slice(0, -1).every((p) => !FINAL.has(p.phase)),
      `${label(m)}: messages after a final phase: ${phases.join(' ')}`,
    );
    check(last.phase === 'MIGRATION_PHASE_COMPLETED', `${label(m)}: ended ${last.phase} ${JSON.stringify(last.error)}`);
    let rank = 0;
    let percent = 0;
    for (const p of messages) {
      check(p.jobId === m.jobId, `${label(m)}: a message of job ${p.jobId} on its stream`);
      const r = ORDER.indexOf(p.phase);
      // QUEUED may come back after PREPARING (a busy destination); nothing else goes back.
      check(r >= rank || (p.phase === 'MIGRATION_PHASE_QUEUED' && rank === 1), `${label(m)}: phase order ${phases.join(' ')}`);
      rank = Math.max(rank, r);
      check(p.progressPercent >= percent, `${label(m)}: progress went back from ${percent} to ${p.progressPercent}`);
      percent = p.progressPercent;
    }
    // What the stream said last is what the agent says now.
    const now = await status(m.from, m.jobId).catch((e: Error) => ({ phase: `lost: ${e.message}` }));
    check(now.phase === last.phase, `${label(m)}: GetMigrationStatus says ${now.phase}, the stream said ${last.phase}`);
    check(
      last.network === 'NETWORK_ROLE_MIGRATION' && last.migrateUri.startsWith(`tcp://${labHost(m.to).migIp}:`),
      `${label(m)}: not over the migration network (${last.network} ${last.migrateUri})`,
    );
    check(last.bytesOnMigrationNic > 0, `${label(m)}: no bytes counted on the migration NIC`);
    // A completed job reports libvirt's completed-job statistics: everything processed, nothing remaining.
    const { data, memory } = { data: last.data!, memory: last.memory! };
    check(
      data.processedBytes > 0 && memory.processedBytes > 0 && data.remainingBytes === 0 && memory.remainingBytes === 0,
      `${label(m)}: not libvirt's final counters: data ${JSON.stringify(data)} memory ${JSON.stringify(memory)}`,
    );
    // The dirtier keeps its whole region non-zero: at least that much had to travel.
    if (m.guest.dirty) check(data.processedBytes >= 128 * 2 ** 20, `${label(m)}: only ${data.processedBytes} bytes moved`);
  }

  // None lost: every source still lists each of its jobs, COMPLETED, and none as active.
  for (const host of HOSTS) {
    const all = (await unary(agent(host).migration, 'ListMigrations', { activeOnly: false, pageSize: 500 })).jobs;
    const active = (await unary(agent(host).migration, 'ListMigrations', { activeOnly: true })).jobs.map((j) => j.jobId);
    for (const m of moves.filter((x) => x.from === host)) {
      const listed = all.filter((j) => j.jobId === m.jobId);
      check(listed.length === 1, `${label(m)}: listed ${listed.length} times by ListMigrations on ${host}`);
      check(
        listed.every((j) => j.phase === 'MIGRATION_PHASE_COMPLETED'),
        `${label(m)}: listed as ${listed.map((j) => j.phase)}`,
      );
      check(!active.includes(m.jobId), `${label(m)}: still listed as active`);
    }
  }

  // Each guest runs once, on its destination; the source has not even kept its definition.
  for (const m of moves) {
    for (const host of HOSTS) {
      const state = await domainState(host, m.guest.name);
      check(state === (host === m.to ? 'running' : 'absent'), `${label(m)}: ${state} on ${host}`);
    }
  }
}

/** Pinhole rules per host now, to tell afterwards which ones this wave added. */
async function pinholesNow(): Promise<Map<string, string[]>> {
  return new Map(await Promise.all(HOSTS.map(async (h) => [h, await pinholeRules(h)] as const)));
}

/** COMPLETED is reported before the destination is told (FinishIncoming): its hole may take a moment to go. */
async function checkNoNewPinholes(before: Map<string, string[]>, moves: Move[], problems: string[], waitMs = 5000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (const host of HOSTS) {
    for (;;) {
      const rules = await pinholeRules(host);
      const left = rules.filter((r) => !before.get(host)!.includes(r) || moves.some((m) => r.includes(`job=${m.jobId}`)));
      if (left.length === 0) break;
      if (Date.now() > deadline) {
        for (const rule of left) problems.push(`pinhole left on ${host}: ${rule}`);
        break;
      }
      await sleep(100);
    }
  }
}

/** The most jobs between acceptance and their end at one instant (the agents share this machine's clock). */
function peakInFlight(moves: Move[]): number {
  const ms = (t: { seconds: number; nanos: number } | null | undefined) => (t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : NaN);
  const edges = moves
    .flatMap((m) => {
      const last = m.stream.messages.at(-1);
      return last?.finishedAt
        ? [
            { t: ms(last.startedAt), d: 1 },
            { t: ms(last.finishedAt), d: -1 },
          ]
        : [];
    })
    .sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) {
    now += e.d;
    peak = Math.max(peak, now);
  }
  return peak;
}

/** One line for the test's output: how long the wave took and how the jobs went. */
function summary(moves: Move[], ms: number): string {
  const jobs = moves.map((m) => {
    const last = m.stream.messages.at(-1);
    const secs = last?.elapsed ? (Number(last.elapsed.seconds) + last.elapsed.nanos / 1e9).toFixed(1) : '?';
    return `${m.from}→${m.to} ${m.guest.dirty ? 'dirty' : 'idle'} ${last?.phase.replace('MIGRATION_PHASE_', '') ?? 'none'} ${secs}s${queued(m) ? ' (queued)' : ''}`;
  });
  return `wave ${(ms / 1000).toFixed(1)} s, at most ${peakInFlight(moves)} in flight: ${jobs.join(', ')}`;
}

function queued(m: Move): boolean {
  return m.accepted === 'MIGRATION_PHASE_QUEUED' || m.stream.messages.some((p) => p.phase === 'MIGRATION_PHASE_QUEUED');
}

async function limitsOf(host: string) {
  return (await unary(agent(host).host, 'GetCapabilities', {})).limits!;
}

/** One wave, with every check common to both tests done; the problems found so far are returned with the moves. */
async function checkedWave(t: TestContext) {
  const pinholes = await pinholesNow();
  const started = Date.now();
  const moves = await wave();
  t.diagnostic(summary(moves, Date.now() - started));
  const problems: string[] = [];
  await checkWave(moves, problems);
  await checkNoNewPinholes(pinholes, moves, problems);
  return { moves, problems };
}

test('eight migrations at once round the ring at the default limits: all COMPLETED and overlapping, streams end final, no pinhole left', {
  timeout: 300_000,
}, async (t) => {
  for (const host of HOSTS) {
    const { maxOutgoing, maxIncoming } = await limitsOf(host);
    assert.deepEqual({ maxOutgoing, maxIncoming }, { maxOutgoing: 2, maxIncoming: 2 }, `${host}'s limits (the defaults)`);
  }
  const { moves, problems } = await checkedWave(t);
  // Two per host fit the limits exactly: no job had to wait, and all eight were in flight together.
  for (const m of moves) if (queued(m)) problems.push(`${label(m)} was queued`);
  const peak = peakInFlight(moves);
  if (peak !== moves.length) problems.push(`at most ${peak} of the ${moves.length} migrations were in flight at the same time`);
  assert.deepEqual(problems, []);
});

test('eight at once with lab1 at 1 outgoing and lab3 at 1 incoming: the extra jobs wait QUEUED and complete, none lost', {
  timeout: 300_000,
}, async (t) => {
  const saved = { lab1: await limitsOf('lab1'), lab3: await limitsOf('lab3') };
  try {
    await unary(agent('lab1').migration, 'SetMigrationLimits', { maxOutgoing: 1 });
    await unary(agent('lab3').migration, 'SetMigrationLimits', { maxIncoming: 1 });
    const { moves, problems } = await checkedWave(t);
    // lab1 runs one job at a time; lab2's two jobs go to lab3, which takes one at a time.
    const fromLab1 = moves.filter((m) => m.from === 'lab1' && queued(m)).map(label);
    if (fromLab1.length !== 1) problems.push(`expected one of lab1's jobs to wait for its outgoing slot, queued: [${fromLab1.join('; ')}]`);
    const intoLab3 = moves.filter((m) => m.to === 'lab3');
    const waited = intoLab3.filter((m) => queued(m) && (m.stream.messages.at(-1)?.prepareAttempts ?? 0) >= 2).map(label);
    if (waited.length !== 1) problems.push(`expected one job into lab3 to wait QUEUED and ask again, did so: [${waited.join('; ')}]`);
    // Everywhere else two jobs fit the limits: waiting there means a slot was counted twice or never given back.
    for (const m of moves)
      if (queued(m) && m.from !== 'lab1' && m.to !== 'lab3') problems.push(`${label(m)} was queued (limits 2/2 there)`);
    assert.deepEqual(problems, []);
  } finally {
    await unary(agent('lab1').migration, 'SetMigrationLimits', { maxOutgoing: saved.lab1.maxOutgoing });
    await unary(agent('lab3').migration, 'SetMigrationLimits', { maxIncoming: saved.lab3.maxIncoming });
  }
});

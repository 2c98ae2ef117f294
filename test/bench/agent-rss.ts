// The agent's resident memory: idle (just restarted with an empty journal,
// nothing running) and after a restart with 100 finished jobs in its journal.
// The journal keeps one record per job at <state_directory>/jobs/<jobId>.json
// ({"jobId","writtenAt","finished","data"}); the 100 are clones of one real
// finished record (from a real migration if the host has none), each with a
// fresh job id, written fresh so retention does not prune them. The records
// the host had are set aside meanwhile; at the end, whatever happens, the
// clones are removed, those records put back and the agent restarted.
//
//   node dist/test/bench/agent-rss.js [--host lab4] [--to lab3] [--jobs 100]
//
// RSS is read twice: from GetStats (GetStatsResponse.agent.rss_bytes) and from
// /proc/PID/status (VmRSS), 30 s after "ferryd ready" (see SETTLE_MS).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unary } from '../../shared/client.js';
import { agent, closeAgents, ferryd, watchToEnd } from '../support/ferry.js';
import { createVm, destroyVm, ensureLab, labHost, readLabState } from '../support/lab.js';
import { arg, printSummary, round, runBenchmark, table } from './bench-support.js';
import { sleep } from '../support/wait.js';

const HOST = arg('--host', 'lab4');
const TO = arg('--to', 'lab3');
const JOBS = Number(arg('--jobs', '100'));
/**
 * Idle means settled: V8 keeps its start-up garbage (~15 MiB here) until its
 * memory reducer runs, 10-15 s after the agent went quiet.
 */
const SETTLE_MS = 30_000;
const VM = 'bench-rss';

interface Rss {
  grpcMiB: number;
  procMiB: number;
}

/** The lab's state_directory for a host (scripts/lab.d/ferryd.sh) and its journal. */
function hostDir(host: string): string {
  const h = readLabState().hosts.find((x) => x.name === host);
  if (!h) throw new Error(`no lab host ${host}`);
  return h.dir;
}
const journalDir = (host: string) => join(hostDir(host), 'ferry', 'jobs');

function finishedRecords(host: string): string[] {
  try {
    return readdirSync(journalDir(host))
      .filter((f) => f.endsWith('.json'))
      .map((f) => join(journalDir(host), f))
      .filter((f) => (JSON.parse(readFileSync(f, 'utf8')) as { finished?: boolean }).finished === true);
  } catch {
    return [];
  }
}

/** A real finished record: the host's own, or one a real migration leaves. */
async function findFinishedRecord(): Promise<string | undefined> {
  const existing = finishedRecords(HOST);
  if (existing.length > 0) return existing[0];
  await destroyVm(HOST, VM);
  const { uuid } = await createVm(HOST, VM);
  try {
    const { jobId } = await unary(agent(HOST).migration, 'Migrate', { vmId: uuid, dst: labHost(TO).mgmtIp, dstqemu: labHost(TO).migIp });
    await watchToEnd(HOST, jobId);
  } finally {
    await destroyVm(HOST, VM);
  }
  await sleep(500); // the journal's final write lands right after the transition
  return finishedRecords(HOST)[0];
}

async function restartAndMeasure(): Promise<Rss> {
  await ferryd('restart', HOST); // returns once the log says "ferryd ready"
  await sleep(SETTLE_MS);
  const stats = await unary(agent(HOST).host, 'GetStats', {});
  const pid = readFileSync(join(hostDir(HOST), 'ferryd.pid'), 'utf8').trim();
  const vmRssKiB = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return { grpcMiB: round(Number(stats.agent!.rssBytes) / 2 ** 20, 1), procMiB: round(vmRssKiB / 1024, 1) };
}

/** Moves every record of the journal into a fresh directory beside it; returns how to put them back. */
function setRecordsAside(): () => void {
  const aside = mkdtempSync(join(hostDir(HOST), 'ferry', 'jobs-aside-'));
  const names = readdirSync(journalDir(HOST));
  for (const name of names) renameSync(join(journalDir(HOST), name), join(aside, name));
  return () => {
    for (const name of names) renameSync(join(aside, name), join(journalDir(HOST), name));
    rmSync(aside, { recursive: true, force: true });
  };
}

async function main(): Promise<void> {
  await ensureLab(Math.max(Number(HOST.replace('lab', '')), Number(TO.replace('lab', ''))));
  const template = await findFinishedRecord();
  const text = template ? readFileSync(template, 'utf8') : undefined; // read before it is set aside
  const putBack = setRecordsAside();
  let idle: Rss | undefined;
  let loaded: Rss | undefined;
  const clones: string[] = [];
  try {
    idle = await restartAndMeasure();
    if (text) {
      const { jobId: original } = JSON.parse(text) as { jobId: string };
      for (let i = 0; i < JOBS; i++) {
        const jobId = randomUUID();
        const clone = { ...(JSON.parse(text.split(original).join(jobId)) as object), writtenAt: Date.now() };
        const file = join(journalDir(HOST), `${jobId}.json`);
        writeFileSync(file, JSON.stringify(clone), { mode: 0o600 });
        clones.push(file);
      }
      loaded = await restartAndMeasure();
      const listed = (await unary(agent(HOST).migration, 'ListMigrations', { pageSize: 500 })).jobs.length;
      if (listed !== JOBS) console.log(`note: the agent lists ${listed} jobs after the restart, not the ${JOBS} journalled`);
    }
  } finally {
    for (const f of clones) rmSync(f, { force: true });
    putBack();
    await ferryd('restart', HOST);
    closeAgents();
  }
  console.log(`ferryd resident memory on ${HOST}, ${SETTLE_MS / 1000} s after ready`);
  console.log(
    table(
      ['state', 'RSS MiB (GetStats)', 'VmRSS MiB (/proc)'],
      [
        ['idle, just restarted', idle.grpcMiB, idle.procMiB],
        [`${JOBS} finished jobs in the journal`, loaded?.grpcMiB ?? '-', loaded?.procMiB ?? '-'],
      ],
    ),
  );
  if (!template)
    console.log(`no finished journal record appeared under ${journalDir(HOST)} after a real migration: the journal is not wired yet`);
  console.log(`goal: idle < 80 MB (${round((idle.procMiB * 2 ** 20) / 1e6, 1)} MB)`);
  printSummary({
    benchmark: 'agent-rss',
    host: HOST,
    idleMiB: idle.procMiB,
    jobs: JOBS,
    withJobsMiB: loaded?.procMiB ?? null,
    journalWired: template !== undefined,
  });
}

runBenchmark('agent-rss', main);

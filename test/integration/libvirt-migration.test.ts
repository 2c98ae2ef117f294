// Peer-to-peer live migration lab1 → lab2 driven and observed entirely through this client:
// one DOMAIN_MIGRATE_PERFORM3_PARAMS call to lab1's daemon with typed params, job stats polled
// while it runs, migration-iteration and job-completed events; then a migration that doesn't
// converge, tuned (downtime, speed) and aborted, leaving the guest running on the source.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  constants,
  isNoDomain,
  type LibvirtClient,
  LibvirtError,
  type Domain,
  type DomainEvent,
  type JobStats,
} from '../../agent/libvirt/index.js';
import { connectHost, createVm, destroyGuests, ensureLab, labHost, openPinhole, vmName, waitForDirtier } from '../support/libvirt-lab.js';
import { sleep, until } from '../support/wait.js';

const C = constants;
// Migration ports the lab's hosts allow (49152–49215); spread by pid so parallel runs differ.
const basePort = 49152 + (process.pid % 16) * 4;

// Generous timeout: ensureLab may wait for another run's `lab up`; each migration takes seconds.
describe('P2P live migration between lab1 and lab2', { timeout: 900_000 }, () => {
  let c1: LibvirtClient;
  let c2: LibvirtClient;
  const names: string[] = [];
  const closePinholes: Array<() => Promise<void>> = [];

  before(async () => {
    await ensureLab(2);
    c1 = await connectHost(1);
    c2 = await connectHost(2);
    const [lab1, lab2] = [labHost(1), labHost(2)];
    for (const port of [basePort, basePort + 1]) {
      closePinholes.push(await openPinhole(lab2.name, { src: lab1.migIp, dst: lab2.migIp, port }));
    }
  });
  after(async () => {
    await destroyGuests(names); // on both hosts
    for (const close of closePinholes) await close();
    await c1?.close();
    await c2?.close();
  });

  /** Polls job stats until `done` settles, keeping samples of active jobs. */
  async function sampleJobStats(c: LibvirtClient, dom: Domain, done: Promise<unknown>): Promise<JobStats[]> {
    let finished = false;
    void done.then(
      () => {
        finished = true;
      },
      () => {
        finished = true;
      },
    );
    const samples: JobStats[] = [];
    while (!finished) {
      const s = await c.domainGetJobStats(dom, 0, { timeoutMs: 40_000 }).catch(() => null);
      if (s && s.type !== C.VIR_DOMAIN_JOB_NONE) samples.push(s);
      await sleep(100);
    }
    return samples;
  }

  it('migrates with migrate_uri, listen_address, bandwidth and parallel.connections; sees iteration and job-completed events', async () => {
    const name = vmName('mig');
    names.push(name);
    const lab2 = labHost(2);
    const vm = await createVm(labHost(1).name, name, { memMiB: 256, dirtyMbps: 10 });
    const dom = await c1.domainLookupByUUID(vm.uuid);
    assert.equal((await c1.domainGetState(dom)).state, C.VIR_DOMAIN_RUNNING);

    const events: DomainEvent[] = [];
    const offs = [
      await c1.events.subscribe(C.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, (e) => events.push(e), dom),
      await c1.events.subscribe(C.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, (e) => events.push(e), dom),
      await c1.events.subscribe(C.VIR_DOMAIN_EVENT_ID_LIFECYCLE, (e) => events.push(e), dom),
    ];
    const destEvents: DomainEvent[] = [];
    const offDest = await c2.events.subscribe(C.VIR_DOMAIN_EVENT_ID_LIFECYCLE, (e) => {
      if (e.domain.uuid === vm.uuid) destEvents.push(e);
    });

    const t0 = Date.now();
    const perform = c1.domainMigratePerform3Params(
      dom,
      lab2.libvirtUri,
      {
        [C.VIR_MIGRATE_PARAM_URI]: `tcp://${lab2.migIp}:${basePort}`,
        [C.VIR_MIGRATE_PARAM_LISTEN_ADDRESS]: lab2.migIp,
        [C.VIR_MIGRATE_PARAM_BANDWIDTH]: 50, // MiB/s: long enough to watch, fast enough to converge
        [C.VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS]: 2,
      },
      C.VIR_MIGRATE_LIVE | C.VIR_MIGRATE_PEER2PEER | C.VIR_MIGRATE_PARALLEL,
    );
    const samples = await sampleJobStats(c1, dom, perform);
    await perform;
    const took = Date.now() - t0;

    // Job stats during the run: a live migration job with transfer counters.
    assert.ok(samples.length > 0, 'job stats sampled while migrating');
    const last = samples[samples.length - 1]!;
    assert.equal(last.typeName === 'VIR_DOMAIN_JOB_UNBOUNDED' || last.typeName === 'VIR_DOMAIN_JOB_BOUNDED', true, last.typeName);
    assert.equal(last.stats[C.VIR_DOMAIN_JOB_OPERATION], C.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT);
    assert.equal(typeof last.stats[C.VIR_DOMAIN_JOB_DATA_TOTAL], 'bigint');
    assert.ok((last.stats[C.VIR_DOMAIN_JOB_MEMORY_PROCESSED] as bigint) > 0n, 'memory transferred');

    // Events: at least one iteration, then job completed with its statistics.
    await until('job-completed event', async () => events.some((e) => e.kind === 'job-completed'), { timeoutMs: 10_000 });
    const iterations = events.filter((e) => e.kind === 'migration-iteration');
    assert.ok(iterations.length >= 1, 'migration-iteration events');
    const completed = events.find((e) => e.kind === 'job-completed');
    assert.ok(completed && completed.kind === 'job-completed');
    assert.equal(completed.stats[C.VIR_DOMAIN_JOB_OPERATION], C.VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT);
    assert.ok(typeof completed.stats[C.VIR_DOMAIN_JOB_TIME_ELAPSED] === 'bigint');
    assert.ok(
      events.some(
        (e) => e.kind === 'lifecycle' && e.event === C.VIR_DOMAIN_EVENT_STOPPED && e.detail === C.VIR_DOMAIN_EVENT_STOPPED_MIGRATED,
      ),
    );

    // The guest now runs on lab2 and no longer on lab1.
    const moved = await c2.domainLookupByUUID(vm.uuid);
    assert.equal((await c2.domainGetState(moved)).state, C.VIR_DOMAIN_RUNNING);
    const src = await c1.domainGetState(dom).catch((e: unknown) => (isNoDomain(e) ? null : Promise.reject(e)));
    assert.ok(src === null || src.state === C.VIR_DOMAIN_SHUTOFF, `source state ${JSON.stringify(src)}`);
    await until('RESUMED on lab2', async () => destEvents.some((e) => e.kind === 'lifecycle' && e.event === C.VIR_DOMAIN_EVENT_RESUMED), {
      timeoutMs: 10_000,
    });

    // Completed-job statistics, read on the destination.
    const done = await c2.domainGetJobStats(moved, C.VIR_DOMAIN_JOB_STATS_COMPLETED);
    assert.equal(done.type, C.VIR_DOMAIN_JOB_COMPLETED);
    assert.ok(typeof done.stats[C.VIR_DOMAIN_JOB_DOWNTIME] === 'bigint');

    for (const off of [...offs, offDest]) await off();
    console.log(
      `# migration took ${took} ms; ${samples.length} job-stats samples; ${iterations.length} iteration events; ` +
        `completed: ${Object.keys(completed.stats).length} stats`,
    );
  });

  it('tunes downtime and speed during a non-converging migration, aborts it, and the guest keeps running on lab1', async () => {
    const name = vmName('abort');
    names.push(name);
    const lab2 = labHost(2);
    const vm = await createVm(labHost(1).name, name, { memMiB: 512, dirtyMbps: 300 });
    const dom = await c1.domainLookupByUUID(vm.uuid);
    await waitForDirtier(labHost(1).name, name);

    // START_POST_COPY only makes sense during a migration: outside one it's a typed error.
    await assert.rejects(c1.domainMigrateStartPostCopy(dom), (e: unknown) => e instanceof LibvirtError && e.code !== 0);

    for (const variant of ['abortJob', 'abortJobFlags'] as const) {
      const iterations: number[] = [];
      const off = await c1.events.subscribe(C.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, (e) => iterations.push(e.iteration), dom);
      const perform = c1.domainMigratePerform3Params(
        dom,
        lab2.libvirtUri,
        {
          migrate_uri: `tcp://${lab2.migIp}:${basePort + 1}`,
          listen_address: lab2.migIp,
          bandwidth: 10, // MiB/s, far below the guest's dirty rate: never converges
        },
        C.VIR_MIGRATE_LIVE | C.VIR_MIGRATE_PEER2PEER,
      );
      const outcome = perform.then(
        () => 'completed',
        (e: unknown) => e,
      );

      await until(
        'migration transferring memory',
        async () => {
          const s = await c1.domainGetJobStats(dom, 0, { timeoutMs: 40_000 });
          return s.type !== C.VIR_DOMAIN_JOB_NONE && ((s.stats[C.VIR_DOMAIN_JOB_MEMORY_PROCESSED] as bigint | undefined) ?? 0n) > 0n;
        },
        { timeoutMs: 60_000, everyMs: 50 },
      );

      await c1.domainMigrateSetMaxDowntime(dom, 250);
      assert.equal(await c1.domainMigrateGetMaxDowntime(dom), 250);
      await c1.domainMigrateSetMaxSpeed(dom, 20);
      assert.equal(await c1.domainMigrateGetMaxSpeed(dom), 20);
      await sleep(500);
      const running = await c1.domainGetJobStats(dom);
      assert.notEqual(running.type, C.VIR_DOMAIN_JOB_NONE, 'still migrating: it cannot converge');

      if (variant === 'abortJob') await c1.domainAbortJob(dom);
      else await c1.domainAbortJobFlags(dom, 0);
      const err = await outcome;
      assert.ok(err instanceof LibvirtError, `perform should fail after abort, got ${String(err)}`);
      assert.match(err.message, /cancel|abort/i);

      assert.equal((await c1.domainGetState(dom)).state, C.VIR_DOMAIN_RUNNING, 'guest still running on lab1');
      await assert.rejects(c2.domainLookupByUUID(vm.uuid), (e: unknown) => isNoDomain(e), 'nothing left on lab2');
      const last = await c1.domainGetJobStats(dom, C.VIR_DOMAIN_JOB_STATS_COMPLETED);
      console.log(`# ${variant}: aborted with ${err.codeName}; ${iterations.length} iterations; last job type ${last.typeName}`);
      await off();
    }
  });
});

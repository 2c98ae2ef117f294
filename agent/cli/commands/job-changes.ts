/**
 * Changing a running job (ChangeMigrationParams), one command per change:
 * `set-speed` (bandwidth cap), `set-downtime` (maximum downtime) and
 * `postcopy` (switch to post-copy now), as virsh's migrate-setspeed,
 * migrate-setmaxdowntime and migrate-postcopy.
 */
import { unary } from '../../../shared/client.js';
import type { ChangeMigrationParamsRequest } from '../../../shared/generated/ferry/v1/ChangeMigrationParamsRequest.js';
import type { MigrationProgress__Output } from '../../../shared/generated/ferry/v1/MigrationProgress.js';
import { msFromProtoTime, protoTimeFromMs } from '../../../shared/proto-time.js';
import { type Agent, withAgent } from '../agent.js';
import { printResult } from '../output.js';
import type { GlobalOptions, Program } from '../program.js';
import { phaseName } from '../progress.js';
import { jobReply } from '../targets.js';
import { duration, type JobTarget, jobTarget, UINT32_MAX, wholeNumber } from '../values.js';
import { JOB_ARGUMENT } from './jobs.js';

type Change = Omit<ChangeMigrationParamsRequest, 'job'>;

async function change(options: GlobalOptions, target: JobTarget, params: Change, done: (status: MigrationProgress__Output) => string) {
  await withAgent(options, async (agent: Agent) => {
    const reply = await jobReply(agent, target, 'ChangeMigrationParams', (job) =>
      unary(agent.clients.migration, 'ChangeMigrationParams', { job, ...params }, agent.callOptions),
    );
    const { status } = reply;
    printResult(
      agent,
      'ferry.v1.ChangeMigrationParamsResponse',
      reply,
      () => `job ${status.jobId} (${phaseName(status)}): ${done(status)}`,
    );
  });
}

export function addJobChangeCommands(program: Program): void {
  program
    .command('set-speed')
    .description("change a running job's bandwidth cap (ChangeMigrationParams)")
    .argument(...JOB_ARGUMENT, jobTarget)
    .argument('<MIBPS>', 'the new cap in MiB/s, 0 = unlimited', wholeNumber(0, UINT32_MAX, 'MiB/s; 0 = unlimited'))
    .action(async (target, mibps, _options, command) => {
      await change(command.optsWithGlobals(), target, { maxBandwidthMibps: mibps }, () =>
        mibps === 0 ? 'bandwidth unlimited' : `bandwidth cap ${mibps} MiB/s`,
      );
    });

  program
    .command('set-downtime')
    .description("change a running job's maximum downtime (ChangeMigrationParams)")
    .argument(...JOB_ARGUMENT, jobTarget)
    .argument('<DURATION>', 'the new maximum downtime, e.g. 500ms', duration({ min: 1, max: 600_000, unit: 'ms' }))
    .action(async (target, ms, _options, command) => {
      await change(
        command.optsWithGlobals(),
        target,
        { maxDowntime: protoTimeFromMs(ms) },
        (status) => `maximum downtime ${Math.round(msFromProtoTime(status.maxDowntime))} ms`,
      );
    });

  program
    .command('postcopy')
    .description('switch a running job to post-copy now; its policy must allow post_copy (ChangeMigrationParams)')
    .argument(...JOB_ARGUMENT, jobTarget)
    .action(async (target, _options, command) => {
      await change(command.optsWithGlobals(), target, { startPostCopy: true }, () => 'switch to post-copy requested');
    });
}

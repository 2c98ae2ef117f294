/**
 * `ferryctl list`: the agent's jobs (ListMigrations), every page, newest
 * first, as a table with a header row; filters by VM, phase and activity.
 */
import { Option } from '@commander-js/extra-typings';
import { unary } from '../../../shared/client.js';
import type { MigrationProgress__Output } from '../../../shared/generated/ferry/v1/MigrationProgress.js';
import { MigrationPhase } from '../../../shared/generated/ferry/v1/MigrationPhase.js';
import { msFromProtoTime } from '../../../shared/proto-time.js';
import { withAgent } from '../agent.js';
import { choiceListOption } from '../options.js';
import { printResult, table } from '../output.js';
import type { Program } from '../program.js';
import { phaseName, recoveryLines } from '../progress.js';
import { resolveVm } from '../targets.js';
import { enumValue, INT32_MAX, vmRef, wholeNumber } from '../values.js';

export function addListCommand(program: Program): void {
  program
    .command('list')
    .description("the agent's jobs: running, queued and recently finished, newest first (ListMigrations)")
    .addOption(new Option('--vm <VM>', "only this VM's jobs (UUID or name)").argParser(vmRef))
    .addOption(
      choiceListOption(
        '--phase <PHASE>',
        'only jobs in this phase (repeatable, or comma-separated)',
        enumValue(MigrationPhase, 'MIGRATION_PHASE_'),
      ),
    )
    .option('--active', 'only jobs that have not ended')
    .addOption(
      new Option('--page-size <N>', 'jobs per call (every page is fetched); 0: the agent default').argParser(
        wholeNumber(0, INT32_MAX, 'jobs per page; the agent serves at most 500'),
      ),
    )
    .action(async (options, command) => {
      await withAgent(command.optsWithGlobals(), async (agent) => {
        const filters = {
          vmId: options.vm ? await resolveVm(agent, options.vm) : '',
          phases: options.phase ?? [],
          activeOnly: options.active === true,
          pageSize: options.pageSize ?? 0,
        };
        const jobs: MigrationProgress__Output[] = [];
        let pageToken = '';
        do {
          const page = await unary(agent.clients.migration, 'ListMigrations', { ...filters, pageToken }, agent.callOptions);
          jobs.push(...page.jobs);
          pageToken = page.nextPageToken;
        } while (pageToken);
        printResult(agent, 'ferry.v1.ListMigrationsResponse', { jobs }, () => jobTable(jobs));
      });
    });
}

function jobTable(jobs: readonly MigrationProgress__Output[]): string {
  const started = (j: MigrationProgress__Output) => (j.startedAt ? new Date(msFromProtoTime(j.startedAt)).toISOString() : '');
  const rows = table(
    ['JOB', 'VM', 'PHASE', 'PROGRESS', 'DESTINATION', 'STARTED'],
    jobs.map((j) => [j.jobId, j.vmId, phaseName(j), `${j.progressPercent}%`, j.dst, started(j)]),
  );
  // A paused post-copy needs a person's eyes: why, and what was tried, under the table.
  const paused = jobs.filter((j) => j.recovery && ['postcopy-paused', 'recovering'].includes(phaseName(j)));
  return [rows, ...paused.flatMap((j) => ['', `job ${j.jobId}:`, ...recoveryLines(j)])].join('\n');
}

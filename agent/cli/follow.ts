/**
 * Following one job (migrate, hibernate, watch): its WatchMigration stream
 * to the final phase, as a progress bar on a terminal, lines otherwise, or
 * JSON Lines with --json; then the summary. Ctrl-C follows the policy in
 * interrupt.ts. The exit status says how the job ended: 0 COMPLETED, 1 FAILED
 * or CANCELLED, 130 when interrupted.
 */
import { unary } from '../../shared/client.js';
import { errorMessage } from '../../shared/errors.js';
import type { MigrationProgress__Output } from '../../shared/generated/ferry/v1/MigrationProgress.js';
import type { WatchMigrationResponse__Output } from '../../shared/generated/ferry/v1/WatchMigrationResponse.js';
import type { Agent } from './agent.js';
import { CliExit, EXIT, operationFailed } from './exit.js';
import { printStreamed } from './output.js';
import { FINAL_PHASES, ProgressPrinter, phaseName, summary } from './progress.js';
import { readStream } from './stream.js';

export interface FollowOptions {
  /** Ctrl-C cancels the job (and waits for its end) instead of leaving it running. */
  cancelOnInterrupt: boolean;
  /** Ctrl-C came before the job was known (during Migrate): act on it at once. */
  interrupted?: boolean;
}

/** Follows the job to its end, printing progress and the summary; throws the CliExit an unsuccessful end deserves. */
export async function followJob(agent: Agent, jobId: string, options: FollowOptions): Promise<void> {
  const printer = agent.json ? undefined : new ProgressPrinter(process.stderr);
  const say = (line: string) => {
    printer?.end();
    process.stderr.write(`${line}\n`);
  };
  let last: MigrationProgress__Output | undefined;
  let cancelRequested = false;

  const reading = readStream(
    agent.clients.migration.WatchMigration({ job: { jobId } }),
    ({ status }: WatchMigrationResponse__Output) => {
      if (!status) return;
      last = status;
      if (agent.json) printStreamed('ferry.v1.WatchMigrationResponse', { status });
      else printer?.update(status);
    },
    (count, leave) => {
      const leaveSaying = (line: string) => {
        say(line);
        leave();
      };
      if (last && FINAL_PHASES.has(phaseName(last))) return;
      if (count === 1 && options.cancelOnInterrupt) {
        cancelRequested = true;
        say(`interrupted: cancelling job ${jobId} on ${agent.from} (Ctrl-C again to stop waiting)`);
        unary(agent.clients.migration, 'CancelMigration', { job: { jobId } }, agent.callOptions).catch((err: unknown) =>
          leaveSaying(`ferryctl: cancelling job ${jobId} failed: ${errorMessage(err)}`),
        );
        return;
      }
      leaveSaying(
        cancelRequested
          ? `interrupted: job ${jobId} was asked to cancel on ${agent.from}; \`ferryctl status ${jobId} --from ${agent.from}\` shows how it ended`
          : `interrupted: job ${jobId} continues on ${agent.from}; \`ferryctl cancel ${jobId} --from ${agent.from}\` stops it`,
      );
    },
  );
  if (options.interrupted) reading.interrupt();
  const ended = await reading.done;

  printer?.end();
  if (ended === 'left') throw new CliExit(EXIT.interrupted);
  if (!last) throw operationFailed('the agent ended the progress stream without a status');
  if (!agent.json) process.stdout.write(`${summary(last)}\n`);
  if (cancelRequested) throw new CliExit(EXIT.interrupted);
  if (phaseName(last) !== 'completed') throw new CliExit(EXIT.failed);
}

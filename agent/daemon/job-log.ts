/**
 * The "job" journal entry of each phase change of an outgoing job, with the
 * trace and span ids of its migration when tracing is on, so that
 * `journalctl JOB_ID=…` and a trace lead to each other.
 */
import { logJobTransition, type Logger } from '../log.js';
import type { MigrationStatus, TraceContext } from '../migration/index.js';
import { traceLogFields } from '../telemetry/tracing/index.js';

export function logTransition(log: Logger, s: MigrationStatus, previous: string | null, trace: TraceContext): void {
  const ids = traceLogFields(trace);
  logJobTransition(log, {
    jobId: s.jobId,
    vmId: s.vmId,
    direction: 'outgoing',
    from: previous?.toUpperCase() ?? null,
    to: s.phase.toUpperCase(),
    peer: s.dst,
    elapsedMs: s.elapsedMs,
    ...(s.error ? { error: { step: s.error.step, code: s.error.kind, message: s.error.message } } : {}),
    ...(ids.traceId ? { extra: ids } : {}),
  });
}

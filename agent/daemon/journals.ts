/**
 * The agent's journals under the state directory: outgoing jobs, incoming
 * reservations, answered Restore request ids and the maintenance record; old
 * finished jobs and restore answers pruned hourly.
 */
import type { AgentConfig } from '../config/index.js';
import { FileJournal } from '../journal/file-journal.js';
import type { Logger } from '../log.js';
import type { MaintenanceRecord } from '../maintenance/index.js';
import { type IncomingRecord, JobJournal, type JournaledJob, type RestoreRecord } from '../migration/index.js';

export function openJournals(config: AgentConfig, log: Logger) {
  const retentionMs = config.jobs.retentionS * 1000;
  const jobs = new FileJournal<JournaledJob>(config.stateDirectory, Date.now, 'jobs');
  const restores = new FileJournal<RestoreRecord>(config.stateDirectory, Date.now, 'restores');
  const prune = () => {
    const removed = jobs.prune(retentionMs, config.jobs.maxRetained) + restores.prune(retentionMs, config.jobs.maxRetained);
    if (removed > 0) log.info('old job records pruned', { removed });
  };
  prune();
  setInterval(prune, 3600_000).unref();
  return {
    jobs: new JobJournal(jobs, (jobId, err) => log.warn('job record not written', { jobId, error: String(err) }), Date.now),
    incoming: new FileJournal<IncomingRecord>(config.stateDirectory, Date.now, 'incoming'),
    restores,
    maintenance: new FileJournal<MaintenanceRecord>(config.stateDirectory, Date.now, 'maintenance'),
  };
}

/**
 * Restore with a request id (request-identity.ts): a retry gets the VM the
 * first call restored instead of a second libvirt restore (which would fail,
 * the domain being there already, and leave the caller unsure whether its
 * first call worked). Answers are kept for the jobs' retention period and
 * journaled, one record per request id, so a retry after an agent restart
 * is answered the same way.
 */
import type { Clock, HibernationFiles, Hypervisor, Journal } from '../ports.js';
import { identityOf, RequestsInFlight, type RequestIdentity } from '../jobs/request-identity.js';
import type { RestoreRequest } from '../types.js';
import { restoreHibernated } from './hibernation.js';

export interface RestoredVm {
  id: string;
  name: string;
}

/** What is journaled of one answered Restore with a request id. */
export interface RestoreRecord {
  request: RequestIdentity;
  vm: RestoredVm;
  restoredAt: number;
}

export interface RestoresDeps {
  hypervisor: Hypervisor;
  hibernationFiles: HibernationFiles;
  clock: Clock;
  retentionMs: number;
  /** Where answers survive a restart (agent/journal, subdirectory "restores"); none: memory only. */
  restoreJournal?: Journal<RestoreRecord>;
  /** A record that could not be written: the restore still happened, only a retry after a restart would not know it. */
  onRestoreJournalError?: (requestId: string, err: unknown) => void;
}

export class Restores {
  private readonly calls = new RequestsInFlight<RestoredVm>();
  private readonly answered = new Map<string, RestoreRecord>();

  constructor(private readonly deps: RestoresDeps) {
    for (const { data } of deps.restoreJournal?.load() ?? []) this.answered.set(data.request.id, data);
  }

  restore(request: RestoreRequest): Promise<RestoredVm> {
    const { requestId, ...asSent } = request;
    if (!requestId) return restoreHibernated(this.deps, asSent);
    const identity = identityOf(requestId, asSent);
    return this.calls.run(
      identity,
      'Restore request',
      () => {
        const record = this.answeredFor(requestId);
        return record && { fingerprint: record.request.fingerprint, answer: () => ({ ...record.vm }) };
      },
      async () => {
        const vm = await restoreHibernated(this.deps, asSent);
        const record: RestoreRecord = { request: identity, vm, restoredAt: this.deps.clock.now() };
        this.answered.set(requestId, record);
        await this.deps.restoreJournal
          ?.write(requestId, true, record)
          .catch((err: unknown) => this.deps.onRestoreJournalError?.(requestId, err));
        return { ...vm };
      },
    );
  }

  private answeredFor(requestId: string): RestoreRecord | undefined {
    const horizon = this.deps.clock.now() - this.deps.retentionMs;
    for (const [id, record] of this.answered) if (record.restoredAt < horizon) this.answered.delete(id);
    return this.answered.get(requestId);
  }
}

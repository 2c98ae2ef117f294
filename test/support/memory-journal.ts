// The Journal port in memory, for unit tests of what the core journals and
// restores; the file journal itself is tested in test/unit/journal.test.ts.
import type { Journal } from '../../agent/migration/ports.js';

export class MemoryJournal<T> implements Journal<T> {
  readonly records = new Map<string, { jobId: string; writtenAt: number; finished: boolean; data: T }>();
  writes = 0;

  async write(jobId: string, finished: boolean, data: T): Promise<void> {
    this.writes++;
    // A deep copy: what is on "disk" must not change with the object written.
    this.records.set(jobId, { jobId, writtenAt: Date.now(), finished, data: structuredClone(data) });
  }

  load() {
    return [...this.records.values()].map((r) => structuredClone(r)).sort((a, b) => a.writtenAt - b.writtenAt);
  }

  async remove(jobId: string): Promise<void> {
    this.records.delete(jobId);
  }
}

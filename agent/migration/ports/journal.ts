/**
 * The Journal port: where the core's records survive a restart.
 */

/**
 * Where records survive a restart (agent/journal satisfies this): one per
 * job, the newest write wins, finished records are pruned later.
 */
export interface Journal<T> {
  write(jobId: string, finished: boolean, data: T): Promise<void>;
  load(onCorrupt?: (file: string, err: unknown) => void): Array<{ jobId: string; writtenAt: number; finished: boolean; data: T }>;
  remove(jobId: string): Promise<void>;
}

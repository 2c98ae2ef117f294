/**
 * ListMigrations one page at a time (https://google.aip.dev/158). Jobs are
 * listed newest first, by acceptance time and then job id; a page token is
 * the position of the last job a page held, so the next page starts right
 * after it. A job accepted between two pages is newer than any position
 * already handed out and never shifts later pages (an offset would); a job
 * forgotten meanwhile (retention) is simply not listed.
 *
 * The token is opaque to callers (base64url of JSON) and carries a digest of
 * the filters it was made for: a token used with other filters would skip or
 * repeat jobs, so it is refused. page_size may change from page to page.
 */
import { createHash } from 'node:crypto';
import { invalidArgument } from '../../../shared/errors.js';
import type { MigrationPhase, MigrationStatus } from '../types.js';

/** A page holds this many jobs when the caller does not say. */
export const DEFAULT_PAGE_SIZE = 50;
/** A larger page_size is lowered to this (AIP-158: coerce, do not refuse). */
export const MAX_PAGE_SIZE = 500;

export interface JobQuery {
  /** Only this VM's jobs ('' or absent: every VM). */
  vmId?: string;
  /** Only jobs in one of these phases (empty or absent: any phase). */
  phases?: readonly MigrationPhase[];
  /** Only jobs that have not reached a final phase. */
  activeOnly?: boolean;
  /** 0 or absent: DEFAULT_PAGE_SIZE; above MAX_PAGE_SIZE: MAX_PAGE_SIZE. */
  pageSize?: number;
  /** '' or absent: the first page; else a nextPageToken from the same filters. */
  pageToken?: string;
}

export interface JobPage {
  jobs: MigrationStatus[];
  /** '' on the last page. */
  nextPageToken: string;
}

interface Position {
  /** Digest of the filters the token belongs to. */
  f: string;
  /** startedAt and jobId of the last job of the page. */
  s: number;
  j: string;
}

/** One page of `newestFirst` (already in listing order: startedAt, then job id, descending). */
export function pageOf(newestFirst: readonly MigrationStatus[], query: JobQuery): JobPage {
  const size = pageSizeOf(query.pageSize);
  const filters = filterDigest(query);
  const after = query.pageToken ? positionOf(query.pageToken, filters) : undefined;
  const phases = query.phases?.length ? new Set(query.phases) : undefined;
  const jobs: MigrationStatus[] = [];
  let more = false;
  for (const job of newestFirst) {
    if (after && !isOlder(job, after)) continue;
    if (query.vmId && job.vmId !== query.vmId) continue;
    if (phases && !phases.has(job.phase)) continue;
    if (query.activeOnly && job.finishedAt !== undefined) continue;
    if (jobs.length === size) {
      more = true;
      break;
    }
    jobs.push(job);
  }
  const last = jobs[jobs.length - 1];
  return { jobs, nextPageToken: more && last ? tokenOf({ f: filters, s: last.startedAt, j: last.jobId }) : '' };
}

function pageSizeOf(pageSize: number | undefined): number {
  if (pageSize === undefined || pageSize === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(pageSize) || pageSize < 0) {
    throw invalidArgument('page_size', `must be 0 (the default, ${DEFAULT_PAGE_SIZE}) or a positive number of jobs, not ${pageSize}`);
  }
  return Math.min(pageSize, MAX_PAGE_SIZE);
}

/** Whether a job comes after the position in the listing order (older, or as old with a smaller id). */
function isOlder(job: MigrationStatus, after: Position): boolean {
  return job.startedAt < after.s || (job.startedAt === after.s && job.jobId < after.j);
}

function filterDigest(query: JobQuery): string {
  const phases = [...new Set(query.phases ?? [])].sort();
  const text = JSON.stringify([query.vmId ?? '', phases, query.activeOnly === true]);
  return createHash('sha256').update(text).digest('base64url').slice(0, 16);
}

function tokenOf(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

function positionOf(token: string, filters: string): Position {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('page_token', 'is not a token this agent handed out: pass next_page_token unchanged, or none for the first page');
  }
  const p = parsed as Partial<Position> | null;
  if (!p || typeof p.f !== 'string' || typeof p.s !== 'number' || typeof p.j !== 'string') {
    throw invalidArgument('page_token', 'is not a token this agent handed out: pass next_page_token unchanged, or none for the first page');
  }
  if (p.f !== filters) {
    throw invalidArgument(
      'page_token',
      "was made for other filters (vm_id, phases, active_only): repeat the first call's filters, or start again without a token",
    );
  }
  return { f: p.f, s: p.s, j: p.j };
}

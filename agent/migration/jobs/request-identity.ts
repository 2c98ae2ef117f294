/**
 * Retries that are safe (https://google.aip.dev/155): a call that creates
 * something may carry a request id chosen by the caller. A retry with the
 * same id and the same request gets the first call's answer instead of a
 * second job; the same id with a different request is refused.
 *
 * Requests are compared by a fingerprint of the request as the caller sent
 * it (its fields checked one by one, unset policy fields left unset), not
 * of what the core resolved it to: the host's defaults may change between
 * two tries (SIGHUP), and a retry must still be recognised as one.
 */
import { createHash } from 'node:crypto';
import { FerryError } from '../../../shared/errors.js';

/** What identifies one call across retries (and, journaled, across a restart). */
export interface RequestIdentity {
  /** The caller's request id (a UUID). */
  id: string;
  /** sha256 of the request's canonical JSON, without the id. */
  fingerprint: string;
}

export function identityOf(id: string, request: unknown): RequestIdentity {
  return { id, fingerprint: createHash('sha256').update(canonicalJson(request)).digest('hex') };
}

/**
 * JSON with object keys sorted and undefined members left out, so that two
 * requests that say the same thing have the same text whatever order their
 * fields were filled in; arrays keep their order (a schedule's order matters).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * FAILED_PRECONDITION, not ALREADY_EXISTS or INVALID_ARGUMENT: the request
 * itself is well formed (so not INVALID_ARGUMENT, which gRPC keeps for
 * arguments wrong whatever the server's state), and nothing the caller asked
 * for was created or found (ALREADY_EXISTS already means "this VM has a
 * job", and a caller may take it for success). What is wrong is the state
 * the id is in on this agent, and sending the same call again cannot help
 * until the caller changes it: a new request id for a new request.
 */
export function reusedRequestId(identity: RequestIdentity, what: string): FerryError {
  return new FerryError(
    'FAILED_PRECONDITION',
    `request_id ${identity.id} was already used for a different ${what} on this agent: a retry must repeat the request unchanged, a new request needs a new request_id`,
    { field: 'request_id', reason: 'REQUEST_ID_REUSED' },
  );
}

/**
 * Calls under way by request id: a retry that arrives while the first call
 * is still being answered waits for that answer instead of starting a
 * second one (two clicks, or a client that timed out and retried at once).
 */
export class RequestsInFlight<T> {
  private readonly calls = new Map<string, { fingerprint: string; answer: Promise<T> }>();

  /**
   * The answer of the call with this id: the one in flight, else the one
   * `earlier` remembers, else a new one from `start`. A different request
   * under a known id is refused (reusedRequestId) before anything happens.
   */
  run(
    identity: RequestIdentity,
    what: string,
    earlier: () => { fingerprint: string; answer: () => T } | undefined,
    start: () => Promise<T>,
  ): Promise<T> {
    const pending = this.calls.get(identity.id);
    if (pending) return pending.fingerprint === identity.fingerprint ? pending.answer : Promise.reject(reusedRequestId(identity, what));
    const done = earlier();
    if (done)
      return done.fingerprint === identity.fingerprint ? Promise.resolve(done.answer()) : Promise.reject(reusedRequestId(identity, what));
    const answer = start();
    const entry = { fingerprint: identity.fingerprint, answer };
    this.calls.set(identity.id, entry);
    const forget = () => {
      if (this.calls.get(identity.id) === entry) this.calls.delete(identity.id);
    };
    answer.then(forget, forget);
    return answer;
  }
}

// A long-lived connection for the agent: reconnects with backoff when the daemon restarts or
// the connection dies, and re-subscribes events on each new connection.
//
// Rules (ioredis' habits, minus its auto-resend):
// - Status is one literal union, changed only in setStatus(), which notifies listeners.
// - Backoff is a function option: retryStrategy(attempt) → delay ms, or null to give up.
// - Every connect attempt gets an epoch; callbacks from an older attempt are ignored, so a slow
//   stale handshake can never mark a dead connection ready.
// - Calls in flight when a connection dies reject with InterruptedError and are NOT replayed:
//   migrate/destroy/save aren't idempotent; the caller decides. New calls wait for `ready`.
// - Events may be missed while disconnected; listeners see 'reconnecting' → 'ready' and should
//   re-read state (e.g. job stats) after a reconnect.
// - A call that lasts as long as its operation (a migration's perform, save, restore) gets a
//   connection of its own (withDedicatedConnection): libvirtd stops reading a client that has
//   max_client_requests calls in flight (default 5, src/remote/libvirtd.conf.in), and then
//   reads neither its short calls nor its keepalive answers, and closes it after
//   keepalive_interval × keepalive_count (30 s) with every call on it.

import { LibvirtClient, type ConnectOptions } from './client.js';
import type { Domain } from './domain.js';
import { ClosedError, ConnectionError, isDisconnected } from './errors.js';
import type { EventMap, SupportedEventId } from './events.js';

export type ClientStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface ReconnectOptions extends ConnectOptions {
  /** Delay before attempt n (1-based) after a failure, or null to stop. Default: 100·2^(n-1) ms, capped at 5 s, plus jitter. */
  retryStrategy?: (attempt: number, lastError: Error) => number | null;
  /** How long `client()` waits for a connection before rejecting (default 30 s). */
  readyTimeoutMs?: number;
  onStatus?: (status: ClientStatus, previous: ClientStatus, err?: Error) => void;
  /** A subscription could not be re-registered after a reconnect (e.g. its domain is gone). */
  onSubscriptionError?: (err: unknown, eventId: SupportedEventId, dom: Domain | undefined) => void;
}

export function defaultRetryStrategy(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 5_000) + Math.floor(Math.random() * 100);
}

interface Subscription {
  eventId: SupportedEventId;
  handler: (e: never) => void;
  dom: Domain | undefined;
  off?: () => Promise<void>;
}

export class ReconnectingClient {
  private status: ClientStatus = 'connecting';
  private current: LibvirtClient | null = null;
  private epoch = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastError: Error | null = null;
  private readonly waiters = new Set<{ resolve: (c: LibvirtClient) => void; reject: (e: Error) => void }>();
  private readonly subs = new Set<Subscription>();
  private readonly dedicated = new Set<LibvirtClient>();

  constructor(private readonly opts: ReconnectOptions) {
    void this.connect();
  }

  get state(): ClientStatus {
    return this.status;
  }

  private setStatus(next: ClientStatus, err?: Error): void {
    const prev = this.status;
    if (prev === next) return;
    this.status = next;
    try {
      this.opts.onStatus?.(next, prev, err);
    } catch {
      /* a listener can't break reconnection */
    }
  }

  /** The connected client; waits (up to readyTimeoutMs) while (re)connecting. */
  client(): Promise<LibvirtClient> {
    if (this.status === 'ready' && this.current?.isOpen) return Promise.resolve(this.current);
    if (this.status === 'closed') return Promise.reject(new ClosedError(this.opts.dialer.address));
    return new Promise((resolve, reject) => {
      const ms = this.opts.readyTimeoutMs ?? 30_000;
      const w = {
        resolve: (c: LibvirtClient) => {
          clearTimeout(t);
          resolve(c);
        },
        reject: (e: Error) => {
          clearTimeout(t);
          reject(e);
        },
      };
      const t = setTimeout(() => {
        this.waiters.delete(w);
        reject(
          new ConnectionError(
            this.opts.dialer.address,
            `not connected within ${ms} ms${this.lastError ? `: ${this.lastError.message}` : ''}`,
            { cause: this.lastError },
          ),
        );
      }, ms);
      this.waiters.add(w);
    });
  }

  /**
   * Runs fn on a connection of its own, opened once the shared one is ready and closed when fn
   * settles. Not reconnected: a call on it that the daemon never answers rejects when it drops.
   */
  async withDedicatedConnection<T>(fn: (client: LibvirtClient) => Promise<T>): Promise<T> {
    await this.client();
    const client = await LibvirtClient.connect(this.opts);
    this.dedicated.add(client);
    try {
      return await fn(client);
    } finally {
      this.dedicated.delete(client);
      await client.close().catch(() => undefined);
    }
  }

  /** Subscribes now (if connected) and again after every reconnect. */
  async subscribe<K extends SupportedEventId>(eventId: K, handler: (e: EventMap[K]) => void, dom?: Domain): Promise<() => Promise<void>> {
    const sub: Subscription = { eventId, handler: handler as (e: never) => void, dom };
    this.subs.add(sub);
    if (this.status === 'ready' && this.current) {
      try {
        await this.register(this.current, sub);
      } catch (err) {
        // Refused now: it must not be registered later either, by a reconnect, for nobody.
        this.subs.delete(sub);
        throw err;
      }
    }
    return async () => {
      this.subs.delete(sub);
      await sub.off?.().catch(() => {});
    };
  }

  async close(): Promise<void> {
    this.setStatus('closed');
    this.epoch++;
    if (this.timer) clearTimeout(this.timer);
    const err = new ClosedError(this.opts.dialer.address);
    for (const w of this.waiters) w.reject(err);
    this.waiters.clear();
    const c = this.current;
    this.current = null;
    await Promise.all([c?.close(), ...[...this.dedicated].map((d) => d.close().catch(() => undefined))]);
    this.dedicated.clear();
  }

  private async register(c: LibvirtClient, sub: Subscription): Promise<void> {
    sub.off = await c.events.subscribe(sub.eventId, sub.handler as (e: EventMap[typeof sub.eventId]) => void, sub.dom);
  }

  private async connect(): Promise<void> {
    const epoch = ++this.epoch;
    let client: LibvirtClient;
    try {
      client = await LibvirtClient.connect(this.opts);
      if (epoch !== this.epoch) {
        await client.close();
        return;
      }
      for (const sub of this.subs) {
        try {
          await this.register(client, sub);
        } catch (err) {
          // A dead connection means retry; anything else (a domain that no longer exists) is
          // that subscription's problem and must not keep the agent disconnected.
          if (isDisconnected(err)) throw err;
          try {
            this.opts.onSubscriptionError?.(err, sub.eventId, sub.dom);
          } catch {
            /* ignore */
          }
        }
      }
      if (epoch !== this.epoch) {
        await client.close();
        return;
      }
    } catch (err) {
      if (epoch !== this.epoch) return;
      return this.scheduleRetry(err instanceof Error ? err : new Error(String(err)));
    }
    this.current = client;
    this.attempt = 0;
    this.lastError = null;
    client.onClose((reason) => {
      if (epoch !== this.epoch || this.status === 'closed') return;
      this.current = null;
      this.scheduleRetry(reason);
    });
    this.setStatus('ready');
    for (const w of this.waiters) w.resolve(client);
    this.waiters.clear();
  }

  private scheduleRetry(err: Error): void {
    this.lastError = err;
    this.attempt++;
    const delay = (this.opts.retryStrategy ?? defaultRetryStrategy)(this.attempt, err);
    if (delay === null) {
      this.setStatus('closed', err);
      for (const w of this.waiters) w.reject(err);
      this.waiters.clear();
      return;
    }
    this.setStatus('reconnecting', err);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
    this.timer.unref?.();
  }
}

// Domain event subscriptions over CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY.
//
// The daemon assigns each registration a callbackID and tags every event MESSAGE with it, so
// events route by (procedure → decoder) then (callbackID → handler). Why the extra care:
// - An event can be queued by the daemon right behind the register reply, and be processed
//   before our await resumes and learns the callbackID. Such events are held in a small bounded
//   buffer and delivered as soon as the registration completes, instead of being lost.
// - A handler that throws must not break routing or the connection: exceptions are caught and
//   passed to onHandlerError.
// - libvirtd refuses a second registration of the same event id for the same domain (or for all
//   domains) on one connection ("event callback already tracked"). So subscribers of one
//   (event id, domain) share a single registration, as libvirt's own remote driver does; the last
//   one to leave deregisters it.

import { domainFromWire, domainToWire, type Domain } from './domain.js';
import {
  VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
  VIR_DOMAIN_EVENT_ID_LIFECYCLE,
  VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
  virDomainEventType,
} from './generated/constants.gen.js';
import { events as eventDefs, procedures, type EventDef } from './generated/remote_protocol.gen.js';
import type { CallOptions, Connection } from './rpc/connection.js';
import { fromWire, typedParamsToRecord, type TypedParam, type TypedValue } from './typed-params.js';
import { XdrReader } from './wire/xdr-reader.js';

export type LifecycleEvent = {
  kind: 'lifecycle';
  domain: Domain;
  callbackId: number;
  /** virDomainEventType (VIR_DOMAIN_EVENT_STARTED…) and its C name. */
  event: number;
  eventName: string;
  /** Per-type detail (virDomainEvent*DetailType). */
  detail: number;
};
export type MigrationIterationEvent = { kind: 'migration-iteration'; domain: Domain; callbackId: number; iteration: number };
export type JobCompletedEvent = {
  kind: 'job-completed';
  domain: Domain;
  callbackId: number;
  params: TypedParam[];
  stats: Record<string, TypedValue>;
};
export type DomainEvent = LifecycleEvent | MigrationIterationEvent | JobCompletedEvent;

/** Event ids this client can subscribe to, with the event each delivers. */
export interface EventMap {
  [VIR_DOMAIN_EVENT_ID_LIFECYCLE]: LifecycleEvent;
  [VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION]: MigrationIterationEvent;
  [VIR_DOMAIN_EVENT_ID_JOB_COMPLETED]: JobCompletedEvent;
}
export type SupportedEventId = keyof EventMap;

const eventTypeNames = new Map(Object.entries(virDomainEventType).map(([k, v]) => [v as number, k]));

type Decoder = { def: EventDef<{ callbackID: number }>; convert: (m: never) => DomainEvent };
const decoders = new Map<number, Decoder>([
  [
    eventDefs.DOMAIN_EVENT_CALLBACK_LIFECYCLE.number,
    {
      def: eventDefs.DOMAIN_EVENT_CALLBACK_LIFECYCLE,
      convert: (m: ReturnType<typeof eventDefs.DOMAIN_EVENT_CALLBACK_LIFECYCLE.decodeMsg>): DomainEvent => ({
        kind: 'lifecycle',
        domain: domainFromWire(m.msg.dom),
        callbackId: m.callbackID,
        event: m.msg.event,
        eventName: eventTypeNames.get(m.msg.event) ?? `EVENT_${m.msg.event}`,
        detail: m.msg.detail,
      }),
    },
  ],
  [
    eventDefs.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION.number,
    {
      def: eventDefs.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION,
      convert: (m: ReturnType<typeof eventDefs.DOMAIN_EVENT_CALLBACK_MIGRATION_ITERATION.decodeMsg>): DomainEvent => ({
        kind: 'migration-iteration',
        domain: domainFromWire(m.dom),
        callbackId: m.callbackID,
        iteration: m.iteration,
      }),
    },
  ],
  [
    eventDefs.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED.number,
    {
      def: eventDefs.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED,
      convert: (m: ReturnType<typeof eventDefs.DOMAIN_EVENT_CALLBACK_JOB_COMPLETED.decodeMsg>): DomainEvent => {
        const params = m.params.map(fromWire);
        return {
          kind: 'job-completed',
          domain: domainFromWire(m.dom),
          callbackId: m.callbackID,
          params,
          stats: typedParamsToRecord(params),
        };
      },
    },
  ],
]);
const SUPPORTED = new Set<number>([
  VIR_DOMAIN_EVENT_ID_LIFECYCLE,
  VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
  VIR_DOMAIN_EVENT_ID_JOB_COMPLETED,
]);

const UNROUTED_MAX = 256;

type Handler = (e: DomainEvent) => void;

/** One daemon registration and the subscribers that share it. */
interface Registration {
  callbackId: number;
  handlers: Set<Handler>;
}

/** A registration by key, with its subscribers counted from the moment they ask (before it is ready). */
interface Shared {
  users: number;
  ready: Promise<Registration>;
}

export class EventRouter {
  private readonly handlers = new Map<number, Registration>();
  /** By "eventId/uuid" ("eventId/*" for all domains). */
  private readonly registrations = new Map<string, Shared>();
  /** Deregistrations in flight, so that registering the same key again waits for them. */
  private readonly leaving = new Map<string, Promise<unknown>>();
  private unrouted: DomainEvent[] = [];

  constructor(
    /** Bound Connection.call of the connection the events arrive on. */
    private readonly call: Connection['call'],
    private readonly onHandlerError: (err: unknown, event: DomainEvent) => void,
    private readonly onDecodeError: (err: unknown, procedure: number) => void = () => {},
  ) {}

  /** Connection.onEvent hook: decode and deliver one event MESSAGE. Never throws. */
  handleMessage(procedure: number, payload: Buffer): void {
    const d = decoders.get(procedure);
    if (!d) return; // an event type we never subscribe to
    let event: DomainEvent;
    try {
      const r = new XdrReader(payload);
      event = d.convert(d.def.decodeMsg(r) as never);
    } catch (err) {
      this.onDecodeError(err, procedure);
      return;
    }
    const registration = this.handlers.get(event.callbackId);
    if (registration) for (const h of [...registration.handlers]) this.deliver(h, event);
    else {
      this.unrouted.push(event);
      if (this.unrouted.length > UNROUTED_MAX) this.unrouted.shift();
    }
  }

  private deliver(h: Handler, event: DomainEvent): void {
    try {
      h(event);
    } catch (err) {
      try {
        this.onHandlerError(err, event);
      } catch {
        /* the reporter itself must not break routing */
      }
    }
  }

  /**
   * Registers for `eventId` (optionally for one domain) and returns an async unsubscribe.
   * Unsubscribing stops delivery at once; the deregistration call (made when the last
   * subscriber of that event id and domain leaves) is best effort once the connection is gone
   * (the daemon drops registrations with the connection anyway).
   */
  async subscribe<K extends SupportedEventId>(
    eventId: K,
    handler: (e: EventMap[K]) => void,
    dom?: Domain,
    opts?: CallOptions,
  ): Promise<() => Promise<void>> {
    if (!SUPPORTED.has(eventId))
      throw new TypeError(`event id ${String(eventId)} is not supported by this client (supported: ${[...SUPPORTED].join(', ')})`);
    const key = `${eventId}/${dom?.uuid ?? '*'}`;
    const h = handler as Handler;
    let shared = this.registrations.get(key);
    if (!shared) {
      const created: Shared = { users: 0, ready: this.register(key, eventId, dom, opts) };
      created.ready.catch(() => {
        if (this.registrations.get(key) === created) this.registrations.delete(key);
      });
      this.registrations.set(key, created);
      shared = created;
    }
    shared.users++;
    let registration: Registration;
    try {
      registration = await shared.ready;
    } catch (err) {
      shared.users--;
      throw err;
    }
    registration.handlers.add(h);
    // Events that raced the register reply belong to its callback id: hand them over now.
    const early = this.unrouted.filter((e) => e.callbackId === registration.callbackId);
    if (early.length) {
      this.unrouted = this.unrouted.filter((e) => e.callbackId !== registration.callbackId);
      for (const e of early) this.deliver(h, e);
    }
    const joined = shared;
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      registration.handlers.delete(h);
      if (--joined.users > 0) return;
      this.handlers.delete(registration.callbackId);
      if (this.registrations.get(key) === joined) this.registrations.delete(key);
      const call = this.call(procedures.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, { callbackID: registration.callbackId }, opts);
      const settled = call.catch(() => undefined);
      this.leaving.set(key, settled);
      void settled.then(() => {
        if (this.leaving.get(key) === settled) this.leaving.delete(key);
      });
      await call;
    };
  }

  private async register(key: string, eventId: SupportedEventId, dom: Domain | undefined, opts?: CallOptions): Promise<Registration> {
    await this.leaving.get(key); // the daemon must have dropped the previous one first
    const ret = await this.call(
      procedures.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
      { eventID: eventId, dom: dom ? domainToWire(dom) : null },
      opts,
    );
    const registration: Registration = { callbackId: ret.callbackID, handlers: new Set() };
    this.handlers.set(registration.callbackId, registration);
    return registration;
  }

  get subscriptionCount(): number {
    return this.handlers.size;
  }
}

/**
 * Who may call what, enforced in one place for every method: a grpc-js server
 * interceptor installed whenever TLS is on. The caller's roles come from its
 * client certificate (agent/tls/identity.ts); the TLS listener has already
 * refused certificates that do not verify against the cluster CA.
 *
 *   ferry.v1.MigrationService/*  engine          orders and controls migrations
 *   ferry.v1.HostService/EnterMaintenance, ExitMaintenance
 *                                engine          they empty the host, or end that
 *   ferry.v1.HostService/*       engine or peer  read-only facts (a source agent
 *                                                reads a destination's free memory)
 *   ferry.v1.PeerService/*       peer            agent to agent
 *   grpc.health.v1.Health/*      anyone, even without a certificate: it tells
 *                                only SERVING or not, and probes (systemd,
 *                                load balancers) rarely hold a client certificate
 *   grpc.reflection.*            engine or peer  the schema is no secret, but
 *                                nothing outside the cluster needs it
 *   anything else                engine          (default deny for peers)
 * No certificate: UNAUTHENTICATED. A certificate without the role:
 * PERMISSION_DENIED naming the role that is missing.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { FerryError, type ErrorReason } from '../../shared/errors.js';
import { kindOfStatus, toServiceError } from '../../shared/grpc-status.js';
import { describeIdentity, identityOfPeerCertificate, type CertIdentity, type Role } from '../tls/identity.js';

export type Access = { kind: 'anyone' } | { kind: 'roles'; roles: readonly Role[] };

const RULES: ReadonlyArray<readonly [prefix: string, access: Access]> = [
  ['/ferry.v1.MigrationService/', { kind: 'roles', roles: ['engine'] }],
  // Before HostService's rule: the first rule that matches decides.
  ['/ferry.v1.HostService/EnterMaintenance', { kind: 'roles', roles: ['engine'] }],
  ['/ferry.v1.HostService/ExitMaintenance', { kind: 'roles', roles: ['engine'] }],
  ['/ferry.v1.HostService/', { kind: 'roles', roles: ['engine', 'peer'] }],
  ['/ferry.v1.PeerService/', { kind: 'roles', roles: ['peer'] }],
  ['/grpc.health.v1.Health/', { kind: 'anyone' }],
  ['/grpc.reflection.', { kind: 'roles', roles: ['engine', 'peer'] }],
];
const DEFAULT_ACCESS: Access = { kind: 'roles', roles: ['engine'] };

export function accessFor(path: string): Access {
  return RULES.find(([prefix]) => path.startsWith(prefix))?.[1] ?? DEFAULT_ACCESS;
}

export type Verdict = { ok: true } | { ok: false; code: grpc.status; details: string; reason: ErrorReason };

/** The decision alone, for tests and for the interceptor. */
export function authorize(path: string, caller: CertIdentity | null): Verdict {
  const access = accessFor(path);
  if (access.kind === 'anyone') return { ok: true };
  const needed = access.roles.join(' or ');
  const method = path.replace(/^\//, '');
  if (!caller) {
    return {
      ok: false,
      code: grpc.status.UNAUTHENTICATED,
      reason: 'CERTIFICATE_REQUIRED',
      details: `no client certificate: ${method} needs a certificate from the cluster CA with role ${needed} (ferryctl --cert/--key, or FERRY_CERT/FERRY_KEY)`,
    };
  }
  if (access.roles.some((role) => caller.roles.includes(role))) return { ok: true };
  return {
    ok: false,
    code: grpc.status.PERMISSION_DENIED,
    reason: 'ROLE_MISSING',
    details: `certificate ${describeIdentity(caller)} lacks role ${needed}, which ${method} requires`,
  };
}

/** The verified client certificate of a call, or null when there is none (or TLS is off). */
export function callerOf(call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } }): CertIdentity | null {
  const cert = call.getAuthContext().sslPeerCertificate;
  if (!cert || Object.keys(cert).length === 0) return null;
  return identityOfPeerCertificate(cert);
}

/**
 * Answers a refused call before its handler starts. List it after the RPC log
 * interceptor: grpc-js makes the last interceptor the outermost, so the
 * refusal goes out through the log's call and is logged like any answer.
 */
export function authInterceptor(): grpc.ServerInterceptor {
  return (method, call) => {
    const verdict = authorize(method.path, callerOf(call));
    if (verdict.ok) return new grpc.ServerInterceptingCall(call);
    // The same google.rpc.Status details as any other error (shared/grpc-status.ts).
    const answer = toServiceError(new FerryError(kindOfStatus(verdict.code), verdict.details, { reason: verdict.reason }));
    const refuse = () =>
      call.sendStatus({ code: verdict.code, details: answer.details ?? verdict.details, metadata: answer.metadata ?? new grpc.Metadata() });
    const listener = new grpc.ServerListenerBuilder()
      // The handler never starts: nothing of the request is read or acted on.
      .withOnReceiveMetadata(() => refuse())
      .withOnReceiveMessage(() => undefined)
      .withOnReceiveHalfClose(() => undefined)
      .build();
    const responder = new grpc.ResponderBuilder().withStart((next) => next(listener)).build();
    return new grpc.ServerInterceptingCall(call, responder);
  };
}

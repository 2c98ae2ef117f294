/**
 * The agent's current TLS material, reloadable without a restart: on SIGHUP
 * (main.ts forwards it) and when the files change (polled: renewals usually
 * replace files by rename, which a stat poll sees and fs.watch on a single
 * file can miss). A reload that fails keeps the previous material and says
 * why; one that succeeds tells every subscriber (the listener, the peer
 * clients). Connections already open keep the certificate they started with.
 */
import { unwatchFile, watchFile } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { clientCredentialsFromPem } from '../../shared/credentials.js';
import type { Logger } from '../log.js';
import { describeIdentity } from './identity.js';
import { loadTlsMaterial, sameMaterial, type TlsFiles, type TlsMaterial } from './material.js';
import { errorMessage } from '../../shared/errors.js';

/** What a reload did: `outcome` for programs, `summary` (one line) for systemd's STATUS=. */
export type TlsReload = { outcome: 'reloaded' | 'unchanged' | 'refused'; summary: string };

/** How often the files are polled for changes. */
const POLL_INTERVAL_MS = 5000;
/** Quiet time after a change before reloading. */
const SETTLE_MS = 500;
/** setTimeout's ceiling (about 24.8 days); later expiries are re-armed at reload. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class CertificateStore {
  private material: TlsMaterial;
  private credentials: grpc.ChannelCredentials;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private watching = false;
  private settleTimer: NodeJS.Timeout | undefined;

  /** Throws FerryError (FAILED_PRECONDITION) when the files are unusable: ferryd must not start. */
  constructor(
    private readonly files: TlsFiles,
    private readonly log: Pick<Logger, 'info' | 'warn' | 'error'>,
  ) {
    this.material = loadTlsMaterial(files);
    this.credentials = clientCredentialsFromPem(this.material);
    this.announce('TLS certificate loaded');
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Credentials for calling peers with this agent's certificate (new object after each reload). */
  get clientCredentials(): grpc.ChannelCredentials {
    return this.credentials;
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Re-reads the files; new material is in force when the outcome is "reloaded". */
  reload(reason: string): TlsReload {
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.files);
    } catch (err) {
      this.log.error('TLS reload refused: keeping the previous certificate', {
        reason,
        error: errorMessage(err),
        keeping: this.material.identity.subject,
        validTo: this.material.identity.validTo.toISOString(),
      });
      return { outcome: 'refused', summary: `TLS reload refused, the certificate in force is kept: ${errorMessage(err)}` };
    }
    if (sameMaterial(next, this.material)) {
      this.log.info('TLS reload: files unchanged', { reason });
      return { outcome: 'unchanged', summary: 'TLS files unchanged' };
    }
    this.material = next;
    this.credentials = clientCredentialsFromPem(next);
    this.announce('TLS certificate reloaded', reason);
    for (const listener of this.listeners) listener(next);
    const { identity } = next;
    return {
      outcome: 'reloaded',
      summary: `TLS certificate reloaded: ${describeIdentity(identity)}, valid until ${identity.validTo.toISOString()}`,
    };
  }

  /** Polls the three files and reloads when one changes. */
  watch(intervalMs = POLL_INTERVAL_MS): void {
    if (this.watching) return;
    this.watching = true;
    for (const path of new Set([this.files.caFile, this.files.certFile, this.files.keyFile])) {
      watchFile(path, { interval: intervalMs, persistent: false }, (now, before) => {
        if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
        // A renewal replaces key and certificate one after the other: reload
        // once both had their chance, not between them.
        clearTimeout(this.settleTimer);
        this.settleTimer = setTimeout(() => this.reload(`${path} changed`), SETTLE_MS).unref();
      });
    }
  }

  close(): void {
    if (this.watching) for (const path of new Set([this.files.caFile, this.files.certFile, this.files.keyFile])) unwatchFile(path);
    this.watching = false;
    clearTimeout(this.expiryTimer);
    clearTimeout(this.settleTimer);
    this.listeners.clear();
  }

  private announce(message: string, reason?: string): void {
    const { identity, warnings } = this.material;
    this.log.info(message, {
      ...(reason ? { reason } : {}),
      identity: describeIdentity(identity),
      subject: identity.subject,
      dns: identity.dnsNames,
      addresses: identity.ipAddresses,
      validTo: identity.validTo.toISOString(),
      fingerprint256: identity.fingerprint256,
    });
    for (const warning of warnings) this.log.warn(warning);
    this.armExpiry();
  }

  /** Our own certificate running out while ferryd runs: say so when it happens. */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const { identity } = this.material;
    const left = identity.validTo.getTime() - Date.now();
    if (left > MAX_TIMER_MS) return;
    this.expiryTimer = setTimeout(
      () => {
        this.log.error("this agent's TLS certificate has expired: engines and peers now refuse it; install a new one and send SIGHUP", {
          subject: identity.subject,
          validTo: identity.validTo.toISOString(),
          files: this.files,
        });
      },
      Math.max(0, left),
    ).unref();
  }
}

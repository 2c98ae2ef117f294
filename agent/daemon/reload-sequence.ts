/**
 * A reload as systemd follows it (sd_notify(3)): RELOADING=1, then each part
 * reloads (the configuration, the certificates) and says what it did, then
 * READY=1 with that in STATUS=, also when a part failed and kept what was in
 * force: the service is running either way, and `systemctl reload` returns.
 * Reloads run one after another; a SIGHUP during a reload waits for it.
 */
import { errorMessage } from '../../shared/errors.js';

export interface ReloadNotifications {
  reloading(): Promise<void>;
  reloaded(outcome: string): Promise<void>;
}

/** Reloads one thing and says what it did in one line; a failure is an outcome, not a throw. */
export type ReloadPart = () => string;

export interface ReloadLog {
  error(message: string, meta?: Record<string, unknown>): unknown;
}

/** The function to call on SIGHUP; its promise settles once READY=1 is sent. */
export function reloadSequence(notifier: ReloadNotifications, parts: readonly ReloadPart[], log: ReloadLog): () => Promise<void> {
  let previous = Promise.resolve();
  const once = async () => {
    await notifier.reloading();
    const outcomes = parts.map((part) => {
      try {
        return part();
      } catch (err) {
        // A part that throws is a bug; the reload still ends with READY=1.
        log.error('reload: a part failed unexpectedly', { error: errorMessage(err) });
        return `reload failed: ${errorMessage(err)}`;
      }
    });
    await notifier.reloaded(outcomes.join('; '));
  };
  return () => {
    previous = previous.then(once);
    return previous;
  };
}

/**
 * SIGHUP: re-read the configuration (file, FERRY_* variables, flags) and
 * apply what may change while migrations run: limits.* and policy.* (the
 * defaults of new jobs; running jobs keep the policy they started with).
 * Every other key needs a restart; a reload that changes one says so. An
 * invalid file changes nothing and is logged, as `systemctl reload` expects.
 */
import type { AgentConfig } from './agent-config.js';
import { errorMessage } from '../../shared/errors.js';

/** The sections a reload applies. */
export const RELOADABLE = ['limits', 'policy'] as const;

export interface ReloadLog {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
}

/** Loads the configuration again and hands it to apply; returns the config now in force. */
export function reloadConfig(
  current: AgentConfig,
  load: () => AgentConfig,
  apply: (next: AgentConfig) => void,
  log: ReloadLog,
): AgentConfig {
  let next: AgentConfig;
  try {
    next = load();
  } catch (err) {
    log.error('SIGHUP: the configuration is invalid; nothing was changed', { error: errorMessage(err) });
    return current;
  }
  try {
    apply(next);
  } catch (err) {
    log.error('SIGHUP: applying the configuration failed; nothing was changed', { error: errorMessage(err) });
    return current;
  }
  const needRestart = Object.keys(next).filter(
    (key) =>
      key !== 'source' &&
      !(RELOADABLE as readonly string[]).includes(key) &&
      JSON.stringify((next as unknown as Record<string, unknown>)[key]) !==
        JSON.stringify((current as unknown as Record<string, unknown>)[key]),
  );
  log.info('SIGHUP: configuration reloaded', { limits: next.limits, preset: next.policy.preset, file: next.source.file });
  if (needRestart.length > 0) log.warn('SIGHUP: these settings changed but take effect only after a restart', { keys: needRestart });
  return next;
}

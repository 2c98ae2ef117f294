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

export interface ConfigReload {
  /** The configuration now in force: the new one, or the current one when the reload failed. */
  config: AgentConfig;
  /** What the reload did, in one line, for systemd's STATUS= ("limits.max_outgoing 2 → 4"). */
  summary: string;
}

/** Loads the configuration again and hands it to apply. */
export function reloadConfig(
  current: AgentConfig,
  load: () => AgentConfig,
  apply: (next: AgentConfig) => void,
  log: ReloadLog,
): ConfigReload {
  let next: AgentConfig;
  try {
    next = load();
  } catch (err) {
    log.error('SIGHUP: the configuration is invalid; nothing was changed', { error: errorMessage(err) });
    return { config: current, summary: `reload failed, the configuration in force is kept: ${errorMessage(err)}` };
  }
  try {
    apply(next);
  } catch (err) {
    log.error('SIGHUP: applying the configuration failed; nothing was changed', { error: errorMessage(err) });
    return { config: current, summary: `reload failed, the configuration in force is kept: ${errorMessage(err)}` };
  }
  const changes = RELOADABLE.flatMap((section) => changedSettings(section, current[section], next[section]));
  const needRestart = Object.keys(next).filter(
    (key) =>
      key !== 'source' &&
      !(RELOADABLE as readonly string[]).includes(key) &&
      JSON.stringify((next as unknown as Record<string, unknown>)[key]) !==
        JSON.stringify((current as unknown as Record<string, unknown>)[key]),
  );
  log.info('SIGHUP: configuration reloaded', { changes, limits: next.limits, preset: next.policy.preset, file: next.source.file });
  if (needRestart.length > 0) log.warn('SIGHUP: these settings changed but take effect only after a restart', { keys: needRestart });
  const applied = changes.length > 0 ? `reloaded ${changes.join(', ')}` : 'reloaded, limits and policy unchanged';
  return { config: next, summary: needRestart.length > 0 ? `${applied}; ${needRestart.join(', ')} changed: restart to apply` : applied };
}

/** "limits.max_outgoing 2 → 4" for each key of a flat section that changed, named as in ferryd.yaml. */
function changedSettings(section: string, before: object, after: object): string[] {
  const old = before as Record<string, unknown>;
  return Object.entries(after as Record<string, unknown>)
    .filter(([name, value]) => JSON.stringify(value) !== JSON.stringify(old[name]))
    .map(([name, value]) => `${section}.${snakeCase(name)} ${JSON.stringify(old[name])} → ${JSON.stringify(value)}`);
}

/** maxOutgoing → max_outgoing: AgentConfig's names back to the file's. */
function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

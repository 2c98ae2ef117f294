/**
 * The agent's logger: JSON lines on stdout, which journald keeps as they are
 * (`journalctl -u ferryd -o cat | jq`), or short human-readable lines when
 * stdout is a terminal. Besides free-form messages, two kinds of line have a
 * fixed shape that operators can filter on: "rpc" (agent/rpc/logging.ts) and
 * "job" (logJobTransition below).
 */
import winston from 'winston';

export type Logger = winston.Logger;

export interface LoggerOptions {
  /** error, warn, info or debug (config key log.level). */
  level?: string;
  /** Human-readable lines instead of JSON; default: stdout is a terminal. */
  human?: boolean;
  /** Where lines go; default stdout (tests pass a stream to read them back). */
  stream?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  // FERRY_LOG_LEVEL is also a config key now; this fallback only serves a
  // main.ts that does not pass the configured level yet.
  const level = options.level ?? process.env.FERRY_LOG_LEVEL ?? 'info';
  const human = options.human ?? process.stdout.isTTY === true;
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console({ stderrLevels: [] });
  return winston.createLogger({
    level,
    format: human
      ? winston.format.combine(winston.format.timestamp({ format: 'HH:mm:ss.SSS' }), winston.format.colorize(), humanLine)
      : winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [transport],
  });
}

/** "12:00:01.234 info rpc method=/ferry.v1.HostService/GetStats code=OK durationMs=3". */
const humanLine = winston.format.printf(({ timestamp, level, message, ...meta }) => {
  const fields = Object.entries(meta)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)}`);
  return [timestamp, level, message, ...fields].join(' ');
});

/** One change of phase of a migration job, as the migration core sees it. */
export interface JobTransition {
  jobId: string;
  vmId: string;
  /** "outgoing" on the source, "incoming" on the destination. */
  direction: 'outgoing' | 'incoming';
  /** The previous phase (null for a new job), e.g. "QUEUED". */
  from: string | null;
  /** The new phase, e.g. "MIGRATING". */
  to: string;
  /** The other agent (destination or source), when known. */
  peer?: string;
  /** Time since the job was accepted. */
  elapsedMs?: number;
  /** Why, for FAILED and CANCELLED: the failed step and the message. */
  error?: { step: string; code: string; message: string };
  /** Anything else worth a field (bytes, downtime, migrate URI…). */
  extra?: Record<string, string | number | boolean>;
}

/**
 * Logs a job transition as one "job" line: info, or warn for FAILED, so an
 * operator can follow a migration with `journalctl -u ferryd | grep jobId`.
 */
export function logJobTransition(log: Logger, t: JobTransition): void {
  const level = t.to === 'FAILED' || t.to.endsWith('_FAILED') ? 'warn' : 'info';
  log.log(level, 'job', {
    jobId: t.jobId,
    vmId: t.vmId,
    direction: t.direction,
    from: t.from,
    to: t.to,
    ...(t.peer !== undefined ? { peer: t.peer } : {}),
    ...(t.elapsedMs !== undefined ? { elapsedMs: Math.round(t.elapsedMs) } : {}),
    ...(t.error ? { errorStep: t.error.step, errorCode: t.error.code, error: t.error.message } : {}),
    ...t.extra,
  });
}

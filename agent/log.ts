/**
 * The agent's logger: JSON lines on stdout (journald keeps them as they are)
 * or human-readable lines when stdout is a terminal.
 */
import winston from 'winston';

export type Logger = winston.Logger;

export function createLogger(level = process.env.FERRY_LOG_LEVEL ?? 'info'): Logger {
  const human = process.stdout.isTTY;
  return winston.createLogger({
    level,
    format: human
      ? winston.format.combine(winston.format.timestamp(), winston.format.colorize(), winston.format.simple())
      : winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}

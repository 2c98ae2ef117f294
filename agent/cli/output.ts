/**
 * What a command prints on stdout: canonical proto3 JSON of the RPC's
 * response with --json (shared/proto-json.ts), text otherwise. Messages and
 * progress for people go to stderr, so stdout stays what a script reads.
 */
import { formatProto3Json } from '../../shared/proto-json.js';
import type { Agent } from './agent.js';

/** One response: indented JSON of message type `typeName`, or the text `human()` makes. */
export function printResult(agent: Pick<Agent, 'json'>, typeName: string, message: object, human: () => string): void {
  process.stdout.write(`${agent.json ? formatProto3Json(typeName, message) : human()}\n`);
}

/** One message of a stream: a line of JSON (JSON Lines, one object per line). */
export function printStreamed(typeName: string, message: object): void {
  process.stdout.write(`${formatProto3Json(typeName, message, 'line')}\n`);
}

/** A table with a header row; columns left-aligned, two spaces apart, the last one unpadded. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** "name value" lines with the values aligned, for a message read by a person. */
export function fields(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(0, ...pairs.map(([name]) => name.length));
  return pairs.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n');
}

/** An enum value without its prefix, lower case: MIGRATION_PHASE_FAILED → failed. */
export function enumName(value: string | number, prefix: string): string {
  return String(value).replace(prefix, '').toLowerCase();
}

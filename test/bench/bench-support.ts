// What every benchmark shares: order statistics, rounding, an aligned text
// table, and the rule that a benchmark's last stdout line is its JSON summary
// (scripts/bench collects those lines).

/** The q-th percentile (0..100) by linear interpolation between closest ranks; NaN for no values. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (q / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Rounds to `digits` decimals (0: an integer). */
export function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Interquartile range: p75 − p25. */
  iqr: number;
}

/** Median, extremes and IQR of a sample, rounded to `digits`. */
export function spread(values: readonly number[], digits = 0): Spread {
  return {
    median: round(median(values), digits),
    min: round(Math.min(...values), digits),
    max: round(Math.max(...values), digits),
    iqr: round(percentile(values, 75) - percentile(values, 25), digits),
  };
}

/** An aligned plain-text table; columns of numbers (or "-" for none) are right-aligned. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const isNumber = (c: string | undefined) => /^-?[\d.]+$/.test(c ?? '');
  const numeric = head.map((_, i) => cells.some((r) => isNumber(r[i])) && cells.every((r) => isNumber(r[i]) || r[i] === '-'));
  const line = (r: string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** Prints the JSON summary as the benchmark's last line (what scripts/bench reads). */
export function printSummary(summary: { benchmark: string } & Record<string, unknown>): void {
  console.log(JSON.stringify(summary));
}

/** Runs a benchmark's main: a failure is printed and makes the exit code 1. */
export function runBenchmark(name: string, main: () => Promise<void>, cleanup: () => void = () => undefined): void {
  main()
    .catch((err: unknown) => {
      console.error(`${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    })
    .finally(cleanup);
}

/** `--name value` from the command line, or the default. */
export function arg(name: string, dflt: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
}

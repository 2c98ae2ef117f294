/**
 * "Did you mean …?" for unknown configuration keys: the closest candidate by
 * edit distance, if it is close enough to be a typo rather than a different
 * word.
 */
import { must } from '../../shared/must.js';

/** Levenshtein distance with transpositions counted as one edit (OSA). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  // d[i][j]: the distance between the first i characters of a and the first j of b.
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const cell = (i: number, j: number): number => must(d[i]?.[j], `edit distance cell [${i}][${j}]`);
  for (let i = 1; i < rows; i++) {
    const row = must(d[i], `edit distance row ${i}`);
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(cell(i - 1, j) + 1, cell(i, j - 1) + 1, cell(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, cell(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return cell(a.length, b.length);
}

/**
 * The candidate nearest to `word`, when the distance is at most a third of the
 * word's length (at least 1, at most 3), so "prot" finds "port" but "color"
 * finds nothing among "address" and "port". Case and -/_ are ignored.
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/-/g, '_');
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(norm(word), norm(candidate));
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/**
 * For values that exist by construction but that the type system cannot see:
 * a group of a regular expression that has just matched, an element at an
 * index the surrounding loop keeps in bounds. A broken invariant then fails
 * here, naming what was missing, instead of as an undefined somewhere later.
 */
export function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal error: ${what} is missing`);
  return value;
}

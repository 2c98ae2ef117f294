/**
 * What the SDK does when spans cannot be exported (a collector down or
 * refusing): it hands the error to OpenTelemetry's global error handler,
 * which says nothing by default. ferryd reports it as a warning, at most
 * once a minute with the count since the last one, so a collector that is
 * down is visible without filling the journal; migrations never wait on it.
 */
import { setGlobalErrorHandler } from '@opentelemetry/core';
import { errorMessage } from '../../../shared/errors.js';

const EVERY_MS = 60_000;

export function reportExportErrors(warn: (message: string, failures: number) => void, now: () => number = Date.now): void {
  let lastAt = Number.NEGATIVE_INFINITY;
  let failures = 0;
  setGlobalErrorHandler((err) => {
    failures++;
    if (now() - lastAt < EVERY_MS) return;
    lastAt = now();
    warn(errorMessage(err), failures);
    failures = 0;
  });
}

// The FerryError a call that must be refused was refused with; fails the
// test when the call succeeds, rethrows anything that is not a FerryError.
import assert from 'node:assert/strict';
import { isFerryError, type FerryError } from '../../shared/errors.js';

export async function refusal(promise: Promise<unknown>): Promise<FerryError> {
  try {
    await promise;
  } catch (err) {
    if (isFerryError(err)) return err;
    throw err;
  }
  assert.fail('the call succeeded');
}

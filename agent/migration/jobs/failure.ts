/** Turns whatever a step threw into the structured error a job ends with. */
import { isFerryError, errorMessage } from '../../../shared/errors.js';
import type { MigrationFailure, VmOnSource } from '../types.js';

export function failureOf(step: string, err: unknown, vmState?: VmOnSource): MigrationFailure {
  if (isFerryError(err)) {
    return {
      step,
      message: err.message,
      kind: err.kind,
      ...(err.details.libvirtCode !== undefined ? { libvirtCode: err.details.libvirtCode } : {}),
      ...(err.details.libvirtName !== undefined ? { libvirtName: err.details.libvirtName } : {}),
      ...(vmState ? { vmState } : {}),
    };
  }
  const message = errorMessage(err);
  return { step, message, kind: 'INTERNAL', ...(vmState ? { vmState } : {}) };
}

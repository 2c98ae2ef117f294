/**
 * Ferry's definition file of a hibernation (mode FILE's dstparams): the
 * domain XML plus what ties it to its saved state. Written by a hibernation
 * (outgoing/hibernation.ts) and by the destination of a cold migration that
 * moved one (incoming/cold-incoming.ts); read by Restore and by the source of
 * such a cold migration. Apart from both sides because both read and write it.
 */
import { invalidArgument } from '../../shared/errors.js';

export const DEFINITION_FORMAT = 'ferry.hibernation/v1';

/** Ferry's definition file of a hibernation (dstparams), as JSON. */
export interface DefinitionFile {
  format: typeof DEFINITION_FORMAT;
  vmId: string;
  savedAt: string;
  statePath: string;
  domainXml: string;
  /**
   * Set by a cold migration that moved the hibernation to another host: the
   * disks are not where the saved state's own definition says, so Restore
   * hands libvirt this domainXml instead.
   */
  relocatedFrom?: string;
}

/** INVALID_ARGUMENT naming `field` when the text is not a Ferry definition file. */
export function parseDefinition(text: string, file: string, field = 'dstparams'): DefinitionFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidArgument(field, `${file} is not a Ferry definition file (not JSON): it is corrupt or of another kind`);
  }
  const d = parsed as Partial<DefinitionFile>;
  if (d.format !== DEFINITION_FORMAT || typeof d.domainXml !== 'string' || typeof d.statePath !== 'string' || typeof d.vmId !== 'string') {
    throw invalidArgument(field, `${file} is not a ${DEFINITION_FORMAT} definition file: it is corrupt or of another kind`);
  }
  return d as DefinitionFile;
}

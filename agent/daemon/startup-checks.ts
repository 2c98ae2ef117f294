/**
 * What ferryd checks before it starts, shared by `ferryd run` (which exits 2
 * on a problem) and `ferryd check-config` (which checks and exits): the
 * configuration, every problem listed, then the TLS files it names, read and
 * verified. One place words the problems, so both print the same ones.
 */
import { ConfigError, loadConfig, type ConfigFlags, type LoadedConfig, type LoadOptions } from '../config/index.js';
import { errorMessage, isFerryError } from '../../shared/errors.js';

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: string };

/** The configuration, or every problem with it ("invalid configuration (2 problems): …"). */
export function checkConfiguration(flags: ConfigFlags, env: NodeJS.ProcessEnv, options: LoadOptions = {}): Checked<LoadedConfig> {
  try {
    return { ok: true, value: loadConfig(flags, env, options) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { ok: false, problem: err.message };
  }
}

/**
 * The TLS files, opened by `open` (the certificate store at start, the
 * material alone for check-config): what it refuses as "TLS: …". Anything
 * that is not a FerryError is a bug, not a problem with the files.
 */
export function checkTls<T>(open: () => T): Checked<T> {
  try {
    return { ok: true, value: open() };
  } catch (err) {
    if (!isFerryError(err)) throw err;
    return { ok: false, problem: `TLS: ${errorMessage(err)}` };
  }
}

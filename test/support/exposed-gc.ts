// V8's gc() in a test, for measuring memory that is held rather than garbage not yet collected.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** V8's gc(), which `node --expose-gc` would give (v8.setFlagsFromString, Node's docs on the v8 module). */
export function exposedGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

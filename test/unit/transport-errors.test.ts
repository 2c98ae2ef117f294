// What a call that never reached the agent failed on, read from grpc-js's own
// status texts (shared/transport-errors.ts), as grpc-js 1.14 writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FerryError } from '../../shared/errors.js';
import { cleanGrpcMessage, transportFailureOf } from '../../shared/transport-errors.js';

const made = (kind: 'UNAVAILABLE' | 'DEADLINE_EXCEEDED', message: string) => new FerryError(kind, cleanGrpcMessage(message));

test('each grpc-js failure is told by its cause', () => {
  const cases: Array<[string, string, string]> = [
    [
      'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ',
      'refused',
      'connect ECONNREFUSED 127.0.0.1:1',
    ],
    ['Name resolution failed for target dns:nowhere.invalid:54321', 'dns', 'Name resolution failed for target dns:nowhere.invalid:54321'],
    [
      'No connection established. Last error: Error: self-signed certificate in certificate chain. Resolution note: ',
      'server-untrusted',
      'self-signed certificate in certificate chain',
    ],
    [
      'No connection established. Last error: Error: certificate has expired. Resolution note: ',
      'server-expired',
      'certificate has expired',
    ],
    [
      "No connection established. Last error: Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: IP Address:127.0.0.1. Resolution note: ",
      'server-name',
      "Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: IP Address:127.0.0.1",
    ],
    [
      'No connection established. Last error: Error: 80FC4C8DFE7E0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n. Resolution note: ',
      'server-plaintext',
      'wrong version number',
    ],
    [
      'No connection established. Last error: Failed to connect (2026-12-03T22:41:41.207Z). Resolution note: ',
      'closed-after-connect',
      'Failed to connect',
    ],
    ['No connection established. Last error: Error: read ECONNRESET. Resolution note: ', 'reset', 'read ECONNRESET'],
    [
      'No connection established. Last error: Error: connect EHOSTUNREACH 198.18.0.9:54321. Resolution note: ',
      'unreachable',
      'connect EHOSTUNREACH 198.18.0.9:54321',
    ],
  ];
  for (const [message, kind, detail] of cases) {
    assert.deepEqual(transportFailureOf(made('UNAVAILABLE', message)), { kind, detail }, message);
  }
  assert.equal(
    transportFailureOf(made('DEADLINE_EXCEEDED', 'Deadline exceeded after 1.503s,name resolution: 0.002s,Waiting for LB pick'))?.kind,
    'timeout',
  );
  assert.equal(
    transportFailureOf(made('DEADLINE_EXCEEDED', 'Deadline exceeded after 30.001s,LB pick: 0.000s,remote_addr=127.0.0.1:5000'))?.kind,
    'no-answer',
  );
});

test("the agent's own errors (with a reason) and other kinds are not transport failures", () => {
  assert.equal(transportFailureOf(new FerryError('UNAVAILABLE', 'connect ECONNREFUSED', { reason: 'DESTINATION_UNREACHABLE' })), undefined);
  assert.equal(transportFailureOf(new FerryError('INTERNAL', 'connect ECONNREFUSED')), undefined);
});

test("grpc-js's bookkeeping leaves the message: no dangling Resolution note, no time stamp", () => {
  assert.equal(
    cleanGrpcMessage('No connection established. Last error: Failed to connect (2026-12-03T22:41:41.207Z). Resolution note: '),
    'No connection established. Last error: Failed to connect',
  );
  assert.equal(cleanGrpcMessage('the destination is busy'), 'the destination is busy');
});

// FerryError ↔ gRPC status with google.rpc.Status details: what the agent
// sends (toServiceError) is read back by the typed client (fromServiceError)
// with every detail, for every kind; and the details are the ones AIP-193
// names, readable by decodeStatus without Ferry's own types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { DEFAULT_REASON, FerryError, type ErrorDetails, type ErrorKind, fieldRequired, invalidArgument } from '../../shared/errors.js';
import { DEFAULT_RETRY_DELAY_MS, ERROR_DOMAIN, STATUS_DETAILS_KEY, fromServiceError, toServiceError } from '../../shared/grpc-status.js';
import { decodeStatus, encodeStatus } from '../../shared/status-details.js';

const KINDS = Object.keys(DEFAULT_REASON) as ErrorKind[];

/** What a grpc-js client sees for the status a handler answered. */
function received(answer: Partial<StatusObject>): ServiceError {
  const code = answer.code ?? status.UNKNOWN;
  const details = answer.details ?? '';
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
    code,
    details,
    metadata: answer.metadata ?? new Metadata(),
  });
}

function trailer(answer: Partial<StatusObject>): Buffer {
  const [bytes] = answer.metadata?.get(STATUS_DETAILS_KEY) ?? [];
  assert.ok(bytes instanceof Buffer, `${STATUS_DETAILS_KEY} is a binary trailer`);
  return bytes;
}

test('every kind travels with its reason and details and comes back the same', () => {
  assert.equal(KINDS.length, 13);
  for (const kind of KINDS) {
    const details: ErrorDetails = {
      field: 'policy.schedule[0]',
      step: 'perform',
      libvirtCode: 55,
      libvirtName: 'VIR_ERR_OPERATION_INVALID',
      subject: 'vm/x',
    };
    const answer = toServiceError(new FerryError(kind, `a ${kind} error`, details));
    assert.equal(answer.code, status[kind], kind);
    const back = fromServiceError(received(answer));
    assert.equal(back.kind, kind);
    assert.equal(back.message, `a ${kind} error`);
    assert.equal(back.reason, DEFAULT_REASON[kind], kind);
    const retry = kind === 'RESOURCE_EXHAUSTED' || kind === 'UNAVAILABLE' ? { retryDelayMs: DEFAULT_RETRY_DELAY_MS } : {};
    assert.deepEqual(back.details, { ...details, reason: DEFAULT_REASON[kind], ...retry }, kind);
  }
});

test('a reason the thrower names wins over the default, and its retry delay is kept', () => {
  const answer = toServiceError(
    new FerryError('RESOURCE_EXHAUSTED', 'busy: retry later', { reason: 'DESTINATION_BUSY', retryDelayMs: 2500 }),
  );
  const back = fromServiceError(received(answer));
  assert.equal(back.reason, 'DESTINATION_BUSY');
  assert.equal(back.details.retryDelayMs, 2500);
  assert.deepEqual(decodeStatus(trailer(answer)).retryInfo, { retryDelayMs: 2500 });
});

test('ErrorInfo: reason, domain ferry.v1, metadata with the field, step and libvirt code', () => {
  const err = new FerryError('FAILED_PRECONDITION', 'libvirt: Requested operation is not valid', {
    reason: 'LIBVIRT_ERROR',
    step: 'perform',
    libvirtCode: 55,
    libvirtName: 'VIR_ERR_OPERATION_INVALID',
  });
  const rich = decodeStatus(trailer(toServiceError(err)));
  assert.equal(rich.code, status.FAILED_PRECONDITION);
  assert.equal(rich.message, err.message);
  assert.deepEqual(rich.errorInfo, {
    reason: 'LIBVIRT_ERROR',
    domain: ERROR_DOMAIN,
    metadata: { step: 'perform', libvirt_code: '55', libvirt_name: 'VIR_ERR_OPERATION_INVALID' },
  });
});

test('INVALID_ARGUMENT carries BadRequest naming the field, and only it', () => {
  const bad = decodeStatus(trailer(toServiceError(invalidArgument('dst', 'port 0 is out of range 1-65535'))));
  assert.deepEqual(bad.badRequest, { fieldViolations: [{ field: 'dst', description: 'dst: port 0 is out of range 1-65535' }] });
  assert.equal(bad.errorInfo?.reason, 'INVALID_FIELD');
  assert.equal(bad.preconditionFailure, undefined);
  assert.equal(bad.retryInfo, undefined);
  const missing = decodeStatus(trailer(toServiceError(fieldRequired('vm_id', 'is required'))));
  assert.equal(missing.errorInfo?.reason, 'FIELD_REQUIRED');
  assert.equal(missing.badRequest?.fieldViolations[0]?.field, 'vm_id');
  const notFound = decodeStatus(
    trailer(toServiceError(new FerryError('NOT_FOUND', 'no job x', { field: 'job.job_id', reason: 'JOB_NOT_FOUND' }))),
  );
  assert.equal(notFound.badRequest, undefined);
});

test('FAILED_PRECONDITION carries PreconditionFailure: the reason as type, the VM (or field) as subject', () => {
  const err = new FerryError('FAILED_PRECONDITION', 'VM x is paused, not running', {
    reason: 'VM_NOT_RUNNING',
    subject: 'vm/x',
    field: 'vm_id',
  });
  assert.deepEqual(decodeStatus(trailer(toServiceError(err))).preconditionFailure, {
    violations: [{ type: 'VM_NOT_RUNNING', subject: 'vm/x', description: 'VM x is paused, not running' }],
  });
  const onField = new FerryError('FAILED_PRECONDITION', 'too old', { reason: 'HOST_FEATURE_MISSING', field: 'policy.compression' });
  assert.equal(decodeStatus(trailer(toServiceError(onField))).preconditionFailure?.violations[0]?.subject, 'policy.compression');
});

test('RetryInfo only for RESOURCE_EXHAUSTED and UNAVAILABLE', () => {
  for (const kind of KINDS) {
    const rich = decodeStatus(trailer(toServiceError(new FerryError(kind, 'x'))));
    const expected = kind === 'RESOURCE_EXHAUSTED' || kind === 'UNAVAILABLE' ? { retryDelayMs: DEFAULT_RETRY_DELAY_MS } : undefined;
    assert.deepEqual(rich.retryInfo, expected, kind);
  }
});

test('anything else thrown is INTERNAL with reason INTERNAL_ERROR', () => {
  const answer = toServiceError(new TypeError('x is undefined'));
  assert.equal(answer.code, status.INTERNAL);
  const back = fromServiceError(received(answer));
  assert.equal(back.reason, 'INTERNAL_ERROR');
  assert.equal(back.details.reason, 'INTERNAL_ERROR');
  assert.match(back.message, /internal error: x is undefined/);
});

test('a status without details (made by grpc-js itself) keeps its code, message and the default reason', () => {
  const back = fromServiceError(received({ code: status.UNAVAILABLE, details: 'connect ECONNREFUSED' }));
  assert.equal(back.kind, 'UNAVAILABLE');
  assert.equal(back.message, 'connect ECONNREFUSED');
  assert.equal(back.details.reason, undefined, 'nothing said by the server');
  assert.equal(back.reason, 'SERVICE_UNAVAILABLE');
});

test("a trailer that is not a google.rpc.Status, or a reason of another domain, is not taken as Ferry's", () => {
  const garbage = new Metadata();
  garbage.set(STATUS_DETAILS_KEY, Buffer.from([0xff, 0xff, 0xff]));
  const back = fromServiceError(received({ code: status.NOT_FOUND, details: 'gone', metadata: garbage }));
  assert.equal(back.kind, 'NOT_FOUND');
  assert.equal(back.details.reason, undefined);
  const foreign = new Metadata();
  foreign.set(
    STATUS_DETAILS_KEY,
    encodeStatus({ code: status.NOT_FOUND, message: 'gone', errorInfo: { reason: 'VM_NOT_FOUND', domain: 'example.com', metadata: {} } }),
  );
  assert.equal(fromServiceError(received({ code: status.NOT_FOUND, details: 'gone', metadata: foreign })).details.reason, undefined);
});

test('long messages are cut so that the trailers stay small', () => {
  const answer = toServiceError(invalidArgument('dst', 'x'.repeat(200_000)));
  assert.ok((answer.details ?? '').length <= 1024);
  const bytes = trailer(answer);
  assert.ok(bytes.length < 2048, `${bytes.length} bytes`);
  const rich = decodeStatus(bytes);
  assert.ok((rich.badRequest?.fieldViolations[0]?.description.length ?? 0) <= 512);
});

test("Migrate's check refusal: one PreconditionFailure violation per blocking finding, read back in order (and bounded)", () => {
  const violations = [
    { type: 'MIGRATION_CHECK_REASON_CPU_INCOMPATIBLE', subject: 'destination', description: 'no avx512f there' },
    { type: 'MIGRATION_CHECK_REASON_NETWORK_MISSING', subject: 'destination', description: 'no bridge br0 there' },
  ];
  const answer = toServiceError(
    new FerryError('FAILED_PRECONDITION', 'no avx512f there', { reason: 'MIGRATION_CHECK_FAILED', subject: 'vm/x', violations }),
  );
  assert.deepEqual(decodeStatus(trailer(answer)).preconditionFailure, { violations });
  const back = fromServiceError(received(answer));
  assert.equal(back.reason, 'MIGRATION_CHECK_FAILED');
  assert.deepEqual(back.details.violations, violations);
  assert.equal(back.details.subject, 'vm/x');

  const many = Array.from({ length: 40 }, (_, i) => ({
    type: 'MIGRATION_CHECK_REASON_DISK_PATH_MISSING',
    subject: 'destination',
    description: `${i} ${'x'.repeat(600)}`,
  }));
  const capped = decodeStatus(
    trailer(toServiceError(new FerryError('FAILED_PRECONDITION', 'many', { reason: 'MIGRATION_CHECK_FAILED', violations: many }))),
  );
  assert.equal(capped.preconditionFailure?.violations.length, 12);
  assert.ok(capped.preconditionFailure!.violations.every((v) => v.description.length <= 256));

  // Any other precondition error still makes its one violation, and reads back without a list.
  const single = fromServiceError(
    received(toServiceError(new FerryError('FAILED_PRECONDITION', 'not running', { reason: 'VM_NOT_RUNNING', subject: 'vm/x' }))),
  );
  assert.equal(single.details.violations, undefined);
});

#!/usr/bin/env python3
"""An independent client of ferry.v1 errors, run by error-details.test.ts.

It knows nothing of Ferry's code: its stubs come from proto/ferry/v1 and its
error messages from Google's google/rpc/status.proto and error_details.proto,
both compiled with Debian's protoc into STUBS. For each failure it makes one
call, reads google.rpc.Status from the grpc-status-details-bin trailer (decoded
here with status_pb2: Debian's python3-grpcio has no grpc_status module) and
checks the status code, ErrorInfo (reason, domain) and BadRequest,
PreconditionFailure or RetryInfo. Prints one JSON line per failure; exits 1
on the first mismatch, 2 on bad usage.

usage: read_errors.py STUBS HOST:PORT [open|closing]
"""
import json
import sys

if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["open"], ["closing"]):
    print(__doc__, file=sys.stderr)
    sys.exit(2)
sys.path.insert(0, sys.argv[1])
TARGET = sys.argv[2]
PHASE = sys.argv[3] if len(sys.argv) == 4 else "open"

import os  # noqa: E402

import google  # noqa: E402
import grpc  # noqa: E402

# Debian may ship "google" as a regular package (python3-protobuf): then the
# stubs' google/rpc is found only when added to its path explicitly.
google.__path__ = [*google.__path__, os.path.join(sys.argv[1], "google")]

from ferry.v1 import errors_pb2, migration_pb2, migration_pb2_grpc  # noqa: E402
from google.rpc import error_details_pb2, status_pb2  # noqa: E402

VM = "6f1c2a3e-9d4b-4c1e-8f7a-0b1c2d3e4f50"
SHUTOFF_VM = "0b1c2d3e-4f50-4c1e-8f7a-6f1c2a3e9d4b"


def rich_status(err):
    """google.rpc.Status from the trailer; None when there is none."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            status.ParseFromString(value)
            return status
    return None


def unpacked(status):
    details = {}
    for any_detail in status.details:
        for name, cls in (
            ("error_info", error_details_pb2.ErrorInfo),
            ("bad_request", error_details_pb2.BadRequest),
            ("precondition_failure", error_details_pb2.PreconditionFailure),
            ("retry_info", error_details_pb2.RetryInfo),
        ):
            if any_detail.Is(cls.DESCRIPTOR):
                message = cls()
                any_detail.Unpack(message)
                details[name] = message
    return details


def check(name, call, code, reason, field=None, subject=None, retry=False):
    try:
        call()
    except grpc.RpcError as err:
        problems = []
        if err.code() != code:
            problems.append(f"code {err.code()} instead of {code}")
        status = rich_status(err)
        if status is None:
            fail(name, ["no grpc-status-details-bin trailer"])
        if status.code != code.value[0]:
            problems.append(f"google.rpc.Status.code {status.code} instead of {code.value[0]}")
        details = unpacked(status)
        info = details.get("error_info")
        if info is None:
            fail(name, ["no google.rpc.ErrorInfo"])
        if info.reason != reason:
            problems.append(f"ErrorInfo.reason {info.reason!r} instead of {reason!r}")
        if info.domain != "ferry.v1":
            problems.append(f"ErrorInfo.domain {info.domain!r}")
        # The reason is a value of the contract's ErrorReason enum.
        try:
            errors_pb2.ErrorReason.Value(info.reason)
        except ValueError:
            problems.append(f"{info.reason!r} is not a ferry.v1.ErrorReason")
        if field is not None:
            if info.metadata.get("field") != field:
                problems.append(f"ErrorInfo.metadata field {info.metadata.get('field')!r} instead of {field!r}")
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                bad = details.get("bad_request")
                fields = [v.field for v in bad.field_violations] if bad else []
                if field not in fields:
                    problems.append(f"BadRequest names {fields} instead of {field!r}")
        if code == grpc.StatusCode.FAILED_PRECONDITION:
            pre = details.get("precondition_failure")
            violations = [(v.type, v.subject) for v in pre.violations] if pre else []
            if (reason, subject) not in violations:
                problems.append(f"PreconditionFailure {violations} instead of {(reason, subject)}")
        retry_info = details.get("retry_info")
        if retry and (retry_info is None or retry_info.retry_delay.ToMilliseconds() <= 0):
            problems.append("no RetryInfo with a positive delay")
        if problems:
            fail(name, problems)
        print(json.dumps({"failure": name, "code": err.code().name, "reason": info.reason, "field": info.metadata.get("field", "")}))
        return
    fail(name, ["the call succeeded"])


def fail(name, problems):
    print(json.dumps({"failure": name, "problems": problems}))
    sys.exit(1)


def main():
    channel = grpc.insecure_channel(TARGET)
    stub = migration_pb2_grpc.MigrationServiceStub(channel)
    C = grpc.StatusCode
    if PHASE == "closing":
        # Asked after the agent stopped accepting jobs: UNAVAILABLE says when to come back.
        check("Migrate while the agent shuts down", lambda: stub.Migrate(
            migration_pb2.MigrateRequest(vm_id=VM, dst="198.18.0.2", dstqemu="198.19.0.2"), timeout=10),
            C.UNAVAILABLE, "AGENT_SHUTTING_DOWN", retry=True)
        channel.close()
        return

    def migrate(**fields):
        request = {"vm_id": VM, "dst": "198.18.0.2", "dstqemu": "198.19.0.2"}
        request.update(fields)
        return lambda: stub.Migrate(migration_pb2.MigrateRequest(**request), timeout=10)

    check("Migrate with a malformed vm_id", migrate(vm_id="not-a-uuid"), C.INVALID_ARGUMENT, "INVALID_FIELD", field="vm_id")
    check("Migrate without vm_id", migrate(vm_id=""), C.INVALID_ARGUMENT, "FIELD_REQUIRED", field="vm_id")
    check("Migrate with a bad dst", migrate(dst="host:99999"), C.INVALID_ARGUMENT, "INVALID_FIELD", field="dst")
    check("Migrate of an unknown VM", migrate(), C.NOT_FOUND, "VM_NOT_FOUND")
    check("Migrate of a VM that is shut off", migrate(vm_id=SHUTOFF_VM), C.FAILED_PRECONDITION, "VM_NOT_RUNNING",
          field="vm_id", subject=f"vm/{SHUTOFF_VM}")
    unknown = migration_pb2.JobSelector(job_id="no-such-job")
    check("GetMigrationStatus of an unknown job",
          lambda: stub.GetMigrationStatus(migration_pb2.GetMigrationStatusRequest(job=unknown), timeout=10),
          C.NOT_FOUND, "JOB_NOT_FOUND", field="job.job_id")
    check("CancelMigration of an unknown job",
          lambda: stub.CancelMigration(migration_pb2.CancelMigrationRequest(job=unknown), timeout=10),
          C.NOT_FOUND, "JOB_NOT_FOUND", field="job.job_id")
    check("CancelMigration without a job",
          lambda: stub.CancelMigration(migration_pb2.CancelMigrationRequest(), timeout=10),
          C.INVALID_ARGUMENT, "FIELD_REQUIRED", field="job")
    check("SetMigrationLimits out of range",
          lambda: stub.SetMigrationLimits(migration_pb2.SetMigrationLimitsRequest(max_outgoing=100000), timeout=10),
          C.INVALID_ARGUMENT, "INVALID_FIELD", field="max_outgoing")
    channel.close()


main()

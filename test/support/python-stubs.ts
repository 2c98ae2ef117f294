// The contract compiled by an independent compiler: Debian's protoc and gRPC
// Python plugin (protobuf-compiler, protobuf-compiler-grpc), as any Python
// client of Ferry would build its stubs.
import { execFileSync } from 'node:child_process';
import { PROTO_FILES, PROTO_ROOT } from '../../shared/proto.js';

/** Writes ferry/v1/*_pb2.py and *_pb2_grpc.py into `out`; throws with protoc's message if it refuses the contract. */
export function compilePythonStubs(out: string): void {
  const plugin = execFileSync('sh', ['-c', 'command -v grpc_python_plugin'], { encoding: 'utf8' }).trim();
  execFileSync(
    'protoc',
    [`-I${PROTO_ROOT}`, '-I/usr/include', `--plugin=protoc-gen-grpc=${plugin}`, `--python_out=${out}`, `--grpc_out=${out}`, ...PROTO_FILES],
    { stdio: 'pipe' },
  );
}

// agent/transfer/ moves chunk and hole streams and knows nothing of where they come from: no
// libvirt, no gRPC, no migration core; node: modules, shared/, the host certificate reading of
// agent/tls/ and its own files only. Checked on the real tree with the dependency rule's parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listImports } from '../support/import-rules.js';
import { REPO_ROOT } from '../support/lab.js';

const ALLOWED = /^node:|^\.\/|^\.\.\/\.\.\/shared\/|^\.\.\/tls\//;

test('agent/transfer/ imports only node: modules, shared/, agent/tls/ and itself', () => {
  const imports = listImports(REPO_ROOT).filter((i) => i.file.startsWith('agent/transfer/'));
  assert.ok(imports.length > 10, `found ${imports.length} imports in agent/transfer/: is the checker looking at the tree?`);
  const outside = imports.filter((i) => !ALLOWED.test(i.specifier));
  assert.deepEqual(
    outside.map((i) => `${i.file}:${i.line} ${i.specifier}`),
    [],
  );
});

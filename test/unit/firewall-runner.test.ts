/**
 * The exec runner against stand-in binaries (small shell scripts in a temp
 * directory), so that flags, the one-time -w probe and error reporting are
 * checked without touching any real firewall.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ExecIptablesRunner, FlushTables, supportsWait } from '../../agent/firewall/iptables/runner.js';
import { isFerryError } from '../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-fw-runner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in that logs its argv and stdin, prints a version, and fails when stdin says FAIL. */
function fakeBinary(name: string, version: string): { path: string; log: string } {
  const path = join(dir, name);
  const log = `${path}.log`;
  writeFileSync(
    path,
    `#!/bin/sh
echo "ARGS $*" >> ${log}
case "$1" in --version) echo "${name} ${version} (nf_tables)"; exit 0;; esac
input=$(cat)
echo "STDIN $input" >> ${log}
case "$input" in *FAIL*) echo "${name}: line 2 failed: Bad rule (does a matching rule exist in that chain?)." >&2; exit 1;; esac
case "$*" in *-t\\ filter*) echo "*filter"; echo "COMMIT";; esac
exit 0
`,
  );
  chmodSync(path, 0o755);
  return { path, log };
}

describe('firewall iptables runner', () => {
  it('supportsWait follows the iptables-restore version', () => {
    assert.equal(supportsWait('iptables-restore v1.8.9 (nf_tables)'), true);
    assert.equal(supportsWait('iptables-restore v1.6.2'), true);
    assert.equal(supportsWait('iptables-restore v1.6.1'), false);
    assert.equal(supportsWait('iptables-restore v1.4.21'), false);
    assert.equal(supportsWait('whatever'), false);
  });

  it('restores with --noflush and -w N, probing the version once per binary', async () => {
    const restore = fakeBinary('iptables-restore', 'v1.8.9');
    const save = fakeBinary('iptables-save', 'v1.8.9');
    const runner = new ExecIptablesRunner({ binaries: { ipv4: { save: save.path, restore: restore.path } }, waitSeconds: 7 });
    await runner.restore('ipv4', '*filter\nCOMMIT\n', FlushTables.NoFlush);
    await runner.restore('ipv4', '*filter\nCOMMIT\n', FlushTables.NoFlush);
    await runner.restore('ipv4', '*filter\nCOMMIT\n', FlushTables.Flush);
    const lines = readFileSync(restore.log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('ARGS'));
    assert.deepEqual(lines, ['ARGS --version', 'ARGS --noflush -w 7', 'ARGS --noflush -w 7', 'ARGS -w 7']);
    assert.match(readFileSync(restore.log, 'utf8'), /STDIN \*filter\nCOMMIT/);
    assert.equal(await runner.save('ipv4', 'filter'), '*filter\nCOMMIT\n');
    assert.match(readFileSync(save.log, 'utf8'), /ARGS -t filter/);
  });

  it('an old iptables-restore gets no -w', async () => {
    const restore = fakeBinary('old-restore', 'v1.4.21');
    const runner = new ExecIptablesRunner({ binaries: { ipv6: { save: 'unused', restore: restore.path } } });
    await runner.restore('ipv6', '*filter\nCOMMIT\n', FlushTables.NoFlush);
    assert.match(readFileSync(restore.log, 'utf8'), /ARGS --noflush\n/);
  });

  it('a failure carries the command, its exit status, its stderr and the payload line it names', async () => {
    const restore = fakeBinary('failing-restore', 'v1.8.9');
    const runner = new ExecIptablesRunner({ binaries: { ipv4: { save: 'unused', restore: restore.path } } });
    await assert.rejects(runner.restore('ipv4', '*filter\n-D X FAIL\nCOMMIT\n', FlushTables.NoFlush), (e: unknown) => {
      assert.ok(isFerryError(e, 'INTERNAL'));
      assert.match(
        e.message,
        /failing-restore --noflush -w 5 failed \(exit 1\): failing-restore: line 2 failed: Bad rule .* \[payload line 2: -D X FAIL\]/,
      );
      return true;
    });
  });

  it('a missing binary is FAILED_PRECONDITION and says what to install or configure', async () => {
    const runner = new ExecIptablesRunner({ binaries: { ipv4: { save: join(dir, 'nope-save'), restore: join(dir, 'nope-restore') } } });
    await assert.rejects(
      runner.restore('ipv4', '', FlushTables.NoFlush),
      (e: unknown) => isFerryError(e, 'FAILED_PRECONDITION') && /install the iptables package, or set "firewall: none"/.test(e.message),
    );
    await assert.rejects(runner.save('ipv4', 'filter'), (e: unknown) => isFerryError(e, 'FAILED_PRECONDITION'));
  });

  it('a hung command is killed after timeoutMs', async () => {
    const path = join(dir, 'hang');
    writeFileSync(path, '#!/bin/sh\nexec sleep 10\n');
    chmodSync(path, 0o755);
    const runner = new ExecIptablesRunner({ binaries: { ipv4: { save: path, restore: path } }, timeoutMs: 200 });
    const t0 = Date.now();
    await assert.rejects(
      runner.save('ipv4', 'filter'),
      (e: unknown) => isFerryError(e, 'INTERNAL') && /signal SIGKILL.*killed after 200 ms/s.test(e.message),
    );
    assert.ok(Date.now() - t0 < 3000);
  });
});

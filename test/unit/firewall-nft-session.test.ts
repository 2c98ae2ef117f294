/**
 * The nft -i session's protocol, against a stand-in for nft that answers as
 * nft 1.0.6 does in interactive mode (each line one transaction; an error is
 * "Error: …", the line, and a caret line, on stderr; nothing on success): each
 * line gets its own error text or '', in order, and a session whose process
 * died rejects what was in flight and starts again.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { NftSession } from '../../agent/firewall/nftables/session.js';

const FAKE_NFT = `#!/bin/bash
[ "$1" = -i ] || exit 2
while IFS= read -r line; do
  case $line in
    "list table inet "*) printf 'Error: No such file or directory\\n%s\\n                 ^^^^^^^^^^^^^\\n' "$line" >&2 ;;
    *FAIL*) printf 'Error: Could not process rule: No such file or directory\\n%s\\n      ^^^^\\n' "$line" >&2 ;;
    *DIE*) exit 3 ;;
    *HANG*) sleep 30 ;;
    *) ;;
  esac
done
`;

function fakeNft(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fake-nft-'));
  const bin = join(dir, 'nft');
  writeFileSync(bin, FAKE_NFT);
  chmodSync(bin, 0o755);
  return bin;
}

describe('nft -i session', () => {
  it('each line gets its own stderr: empty on success, its error otherwise, in order', async () => {
    const s = new NftSession(fakeNft());
    try {
      const answers = await Promise.all([
        s.run('add element inet ferry pinholes4 { 1.2.3.4 . 5.6.7.8 . 49152 }'),
        s.run('delete element inet ferry pinholes4 { FAIL }'),
        s.run('add element inet ferry pinholes6 { ::1 . ::2 . 49153 }'),
      ]);
      assert.equal(answers[0], '');
      assert.equal(
        answers[1],
        'Error: Could not process rule: No such file or directory\ndelete element inet ferry pinholes4 { FAIL }\n      ^^^^',
      );
      assert.equal(answers[2], '');
      assert.equal(await s.run('add element inet ferry pinholes4 { again }'), '', 'the session goes on after an error');
    } finally {
      s.close();
    }
  });

  it('a line with a newline is refused; a process that dies fails what was in flight, and the next line starts a new one', async () => {
    const s = new NftSession(fakeNft());
    try {
      await assert.rejects(s.run('add element\ndelete element'), /one line/);
      await assert.rejects(s.run('DIE'), /nft -i exited \(3\)/);
      assert.equal(await s.run('add element inet ferry pinholes4 { after }'), '');
    } finally {
      s.close();
    }
  });

  it('a line nft does not answer in time kills the session: the line fails (the runner then uses nft -f -) and the next starts a new one', async () => {
    const s = new NftSession(fakeNft(), 300);
    try {
      const started = Date.now();
      await assert.rejects(s.run('add element inet ferry pinholes4 { HANG }'), /nft -i exited \(SIGKILL\)/);
      assert.ok(Date.now() - started < 5000, 'failed at the deadline, not when the process woke up');
      assert.equal(await s.run('add element inet ferry pinholes4 { after }'), '');
    } finally {
      s.close();
    }
  });

  it('a missing nft fails the line (the runner then uses nft -f -)', async () => {
    const s = new NftSession('/nonexistent/nft');
    await assert.rejects(s.run('add element inet ferry pinholes4 { x }'), /ENOENT/);
  });
});

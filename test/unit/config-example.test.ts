// systemd/ferryd.example.yaml documents every key: it must list each one,
// with a comment above it, at its default value, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseYaml } from '../../agent/config/load.js';
import { validateConfig } from '../../agent/config/validate.js';
import { FIELDS, FIELD_KEYS } from '../../agent/config/fields.js';

const EXAMPLE = fileURLToPath(new URL('../../../systemd/ferryd.example.yaml', import.meta.url));
const text = fs.readFileSync(EXAMPLE, 'utf8');
const lines = text.split('\n');
const { tree, locate } = parseYaml(text, 'example');

function leaf(key: string): unknown {
  return key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], tree);
}

test('the example has every key, each at its default', () => {
  for (const key of FIELD_KEYS) assert.deepEqual(leaf(key), FIELDS[key].default, key);
});

test('the example validates and gives the same config as no file at all', () => {
  const allReadable = () => undefined;
  const fromExample = validateConfig({ tree, checkReadable: allReadable });
  const fromDefaults = validateConfig({ tree: {}, checkReadable: allReadable });
  assert.deepEqual({ ...fromExample, source: null }, { ...fromDefaults, source: null });
});

test('every key in the example has a comment right above it', () => {
  for (const key of FIELD_KEYS) {
    const line = Number(locate(key)!.split(':')[1]);
    assert.ok(line > 1, `${key} located`);
    assert.match(lines[line - 2]!, /^\s*#\s*\S/, `a comment above ${key} (line ${line})`);
  }
});

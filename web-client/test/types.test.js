// The package's generated types hold what the README promises: typed events
// and hooks. test-types/usage.tsx must type-check against the generated
// `.d.ts` files; with its `@ts-expect-error` markers removed, it must fail on
// exactly the marked lines (so a type that went `any` is caught).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** @param {string[]} args */
function tsc(args) {
  const run = spawnSync(process.execPath, [TSC, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

test('the declarations build and a typed usage type-checks', () => {
  const built = tsc(['-p', 'tsconfig.types.json']);
  assert.equal(built.status, 0, built.out);
  const checked = tsc(['-p', 'test-types/tsconfig.json']);
  assert.equal(checked.status, 0, checked.out);
});

test('every misuse is a type error, on its own line', () => {
  const source = readFileSync(join(ROOT, 'test-types/usage.tsx'), 'utf8').split('\n');
  /** @type {number[]} */
  const expected = [];
  /** @type {string[]} */
  const stripped = [];
  for (const line of source) {
    if (line.trim().startsWith('// @ts-expect-error')) {
      expected.push(stripped.length + 2); // the next line, 1-based
      stripped.push('//');
    } else {
      stripped.push(line);
    }
  }
  assert.ok(expected.length >= 6, 'the usage file marks its misuses');
  const dir = mkdtempSync(join(tmpdir(), 'ovasabi-types-'));
  writeFileSync(join(dir, 'misuse.tsx'), stripped.join('\n'));
  const config = JSON.parse(readFileSync(join(ROOT, 'test-types/tsconfig.json'), 'utf8'));
  config.compilerOptions.baseUrl = join(ROOT, 'test-types');
  config.compilerOptions.typeRoots = [join(ROOT, 'node_modules/@types')];
  config.files = [join(dir, 'misuse.tsx')];
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config));
  const run = tsc(['-p', join(dir, 'tsconfig.json')]);
  assert.notEqual(run.status, 0, 'misuse must not type-check');
  const lines = [...run.out.matchAll(/misuse\.tsx\((\d+),\d+\): error/g)].map((m) => Number(m[1]));
  assert.deepEqual([...new Set(lines)].sort((a, b) => a - b), expected, run.out);
});

// The dashboard's chart library is uPlot as npm publishes it: the copy the
// server embeds (admin/vendor/) is the package's own file, of the version
// package.json pins, so that updating it is `npm install uplot@x` and a copy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

const here = (/** @type {string} */ path) => new URL(`../${path}`, import.meta.url);

test('the embedded uPlot is the pinned npm package, unchanged', (t) => {
  const pinned = JSON.parse(readFileSync(here('package.json'), 'utf8')).devDependencies.uplot;
  const installed = here('node_modules/uplot/package.json');
  if (!existsSync(installed)) {
    t.skip('node_modules/uplot is not installed (npm ci)');
    return;
  }
  assert.equal(JSON.parse(readFileSync(installed, 'utf8')).version, pinned);
  for (const [vendored, published] of [
    ['admin/vendor/uPlot.esm.js', 'node_modules/uplot/dist/uPlot.esm.js'],
    ['admin/vendor/uPlot.min.css', 'node_modules/uplot/dist/uPlot.min.css'],
    ['admin/vendor/uPlot.LICENSE', 'node_modules/uplot/LICENSE'],
  ]) {
    assert.ok(readFileSync(here(vendored)).equals(readFileSync(here(published))), `${vendored} differs from ${published}`);
  }
});

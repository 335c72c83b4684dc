// The client as a front-end developer adopts it: `npm pack` makes the package,
// a fresh project installs the tarball (offline: it has no dependencies),
// type-checks the React example against the package's own `.d.ts` files,
// bundles it with esbuild, and serves it from its own origin; in Chromium it
// shows presence and the named cursor of a visitor who joined on the demo.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { joinOnPage, launchBrowser, newCampaign, openPage, startServer, startSite, stopServer } from './support.js';

const CLIENT = new URL('..', import.meta.url).pathname;

/**
 * Packs the client and makes a fresh project that installs the tarball and
 * bundles the React example. Returns the project's folder.
 */
function freshProject() {
  const dir = mkdtempSync(join(tmpdir(), 'ovasabi-project-'));
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: CLIENT, encoding: 'utf8' }));
  const tarball = join(dir, packed[0].filename);
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'campaign-site', private: true, type: 'module' }));
  // Offline: the package has no dependencies, and React is an optional peer.
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app });
  // React itself comes from the client's dev dependencies (no registry in this test).
  for (const name of ['react', 'react-dom', 'scheduler', '@types/react', '@types/react-dom']) {
    const target = join(app, 'node_modules', name);
    mkdirSync(join(target, '..'), { recursive: true });
    symlinkSync(join(CLIENT, 'node_modules', name), target, 'dir');
  }
  copyFileSync(join(CLIENT, 'examples/react/app.tsx'), join(app, 'app.tsx'));
  copyFileSync(join(CLIENT, 'examples/react/index.html'), join(app, 'index.html'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'ES2022', moduleResolution: 'bundler', lib: ['ES2022', 'DOM', 'DOM.Iterable'],
      jsx: 'react-jsx', strict: true, noEmit: true, types: [],
    },
    files: ['app.tsx'],
  }));
  return { app, files: packed[0].files.map((/** @type {{ path: string }} */ f) => f.path) };
}

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./support.js').RunningServer} */
let server;
/** @type {{ origin: string, close: () => void }} */
let site;
/** @type {ReturnType<typeof freshProject>} */
let project;

before(async () => {
  project = freshProject();
  site = await startSite((path) => {
    const file = path === '/' ? 'index.html' : path.slice(1);
    return file.includes('/') ? null : join(project.app, file);
  });
  server = await startServer({
    db: join(mkdtempSync(join(tmpdir(), 'ovasabi-package-')), 'edge.db'),
    env: { OVASABI_CORS_ORIGINS: site.origin },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) await stopServer(server.child);
  site?.close();
});

test('the tarball holds the modules, their declarations, README and license, and nothing else', () => {
  const files = [...project.files].sort();
  assert.deepEqual(files, [
    'LICENSE', 'README.md', 'package.json',
    'src/motion.js', 'src/ovasabi.js', 'src/protocol.js', 'src/react.js',
    'types/motion.d.ts', 'types/ovasabi.d.ts', 'types/protocol.d.ts', 'types/react.d.ts',
  ]);
  const manifest = JSON.parse(readFileSync(join(project.app, 'node_modules/@ovasabi/edge-client/package.json'), 'utf8'));
  for (const entry of Object.values(manifest.exports)) {
    if (typeof entry === 'string') continue;
    for (const path of Object.values(entry)) assert.ok(files.includes(String(path).replace('./', '')), String(path));
  }
  assert.equal(manifest.license, 'MIT');
  assert.deepEqual(Object.keys(manifest.dependencies ?? {}), [], 'no runtime dependencies');
});

test('a fresh project type-checks and bundles the React example from the package', () => {
  const tsc = join(CLIENT, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project.app, encoding: 'utf8' });
  } catch (e) {
    assert.fail(`the example does not type-check against the package:\n${/** @type {any} */ (e).stdout}`);
  }
  execFileSync(join(CLIENT, 'node_modules/.bin/esbuild'), [
    'app.tsx', '--bundle', '--format=esm', '--jsx=automatic', '--outfile=bundle.js', '--log-level=warning',
    '--define:process.env.NODE_ENV="production"', '--preserve-symlinks',
  ], { cwd: project.app });
  assert.ok(readFileSync(join(project.app, 'bundle.js'), 'utf8').includes('OvasabiProvider'));
});

test('the React example shows presence and a joined visitor\'s named cursor, from another origin', { timeout: 90_000 }, async () => {
  const campaign = await newCampaign(server.base, { cursor: { names: true } });
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${site.origin}/?campaign=${campaign}&api=${encodeURIComponent(server.base)}`);
  await page.locator('#status', { hasText: 'connected' }).waitFor({ timeout: 15_000 });
  await page.locator('#active', { hasText: '1' }).waitFor({ timeout: 10_000 });
  await page.locator('#self').waitFor({ timeout: 10_000 });

  const ada = await openPage(browser, server.base, campaign, 'auto');
  await page.locator('#active', { hasText: '2' }).waitFor({ timeout: 10_000 });
  await joinOnPage(ada, 'Ada', 'ada@example.com');
  await ada.mouse.move(200, 250);
  await ada.mouse.move(240, 300, { steps: 5 });
  await page.locator('.cursor[data-name="Ada"]').waitFor({ timeout: 15_000 });
  await page.locator('#others', { hasText: 'Ada' }).waitFor({ timeout: 10_000 });
  const transport = await page.locator('#status').getAttribute('data-transport');
  assert.ok(transport === 'webtransport' || transport === 'sse', String(transport));
  assert.deepEqual(errors, []);
  await ada.context().close();
  await context.close();
});

// What the browser tests share: the server binary started on port 0 (and
// stopped), Debian's Chromium, fresh campaigns, and pages of the demo.
// Needs the server binary (cargo build -p ovasabi-edge; OVASABI_BIN to override).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const BIN = process.env.OVASABI_BIN ?? join(ROOT, 'target/debug/ovasabi-edge');
export const ADMIN = 'browser-test-admin-token';
export const SECRET = 'browser-test-session-secret-of-32-chars';

/**
 * @typedef {object} RunningServer
 * @property {import('node:child_process').ChildProcess} child
 * @property {string} base the HTTP origin
 * @property {string} http its HTTP address
 * @property {string} wt its WebTransport (UDP) address
 */

/**
 * Starts the server; resolves once it prints where it listens.
 * @param {{ db: string, http?: string, wt?: string, env?: Record<string, string> }} options
 * @returns {Promise<RunningServer>}
 */
export function startServer({ db, http = '127.0.0.1:0', wt = '127.0.0.1:0', env = {} }) {
  const child = spawn(BIN, [], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${db}`,
      OVASABI_HTTP_ADDR: http,
      OVASABI_WT_ADDR: wt,
      OVASABI_ADMIN_TOKEN: ADMIN,
      OVASABI_SESSION_SECRET: SECRET,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
    const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stdout) });
    lines.once('line', async (line) => {
      const base = line.replace('ovasabi-edge listening on ', '').trim();
      // A fixed WebTransport address stays; port 0's is read from the published URL.
      let address = wt;
      if (wt.endsWith(':0')) {
        const info = await (await fetch(`${base}/api/webtransport`)).json();
        address = `127.0.0.1:${new URL(info.url).port}`;
      }
      resolve({ child, base, http: new URL(base).host, wt: address });
    });
  });
}

/** @param {import('node:child_process').ChildProcess} child */
export function stopServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(undefined);
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}

/** Debian's Chromium, headless. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

let campaigns = 0;

/** A campaign slug no other test uses. */
export function freshSlug() {
  return `browser-${process.pid}-${++campaigns}`;
}

/**
 * A fresh active campaign, so that tests do not see each other.
 * @param {string} base
 * @param {Record<string, unknown>} [config] merged into the campaign's config
 */
export async function newCampaign(base, config = {}) {
  const slug = freshSlug();
  const response = await fetch(`${base}/api/campaign`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      slug,
      name: `Browser test ${slug}`,
      status: 'active',
      config: { locales: ['en', 'fr'], rate_limits: { quotes_per_minute: 100, joins_per_minute: 100 }, ...config },
    }),
  });
  assert.equal(response.status, 201, await response.text());
  return slug;
}

/**
 * A request to the server's API at `base`, as the admin token unless `key`
 * is null: its status and JSON body.
 * @param {string} base @param {string} method @param {string} path @param {unknown} [body] @param {string | null} [key]
 */
export async function callApi(base, method, path, body, key = ADMIN) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/**
 * Opens the demo page and waits until its live channel is up.
 * @param {import('playwright-core').Browser} browser
 * @param {string} base @param {string} campaign @param {'auto' | 'webtransport' | 'sse'} transport
 */
export async function openPage(browser, base, campaign, transport) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${base}/?campaign=${campaign}&transport=${transport}`);
  await page.waitForFunction(() => document.getElementById('transport')?.textContent !== 'connecting…');
  return page;
}

/**
 * Joins through the demo's form.
 * @param {import('playwright-core').Page} page @param {string} name @param {string} email
 */
export async function joinOnPage(page, name, email) {
  await page.getByLabel('Name').first().fill(name);
  await page.getByLabel('Email').first().fill(email);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.locator('#join-result', { hasText: 'Your referral code' }).waitFor();
}

/**
 * Sends a lead through the demo's form as Grace; resolves with its id.
 * @param {import('playwright-core').Page} page
 */
export async function sendLeadOnPage(page) {
  const form = page.locator('#quote-form');
  await form.getByLabel('Name').fill('Grace');
  await form.getByLabel('Email').fill('grace@example.com');
  await form.getByLabel('What do you need?').fill('A live campaign site');
  await form.getByRole('button', { name: 'Send' }).click();
  await page.locator('#quote-result', { hasText: 'received' }).waitFor();
  return form.getAttribute('data-quote-id');
}

/**
 * Serves files from a port of its own — a campaign site on another origin
 * than the API. `fileOf` maps a request path to a file (null: 404).
 * @param {(path: string) => string | null} fileOf
 * @returns {Promise<{ origin: string, close: () => void }>}
 */
export function startSite(fileOf) {
  const types = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html' };
  const site = createServer((req, res) => {
    const file = fileOf(new URL(req.url ?? '/', 'http://site').pathname);
    try {
      if (!file || file.includes('..')) throw new Error('not found');
      const body = readFileSync(file);
      const ext = /** @type {'.js' | '.css' | '.html'} */ (file.slice(file.lastIndexOf('.')));
      res.writeHead(200, { 'content-type': types[ext] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    site.listen(0, '127.0.0.1', () => {
      const address = /** @type {import('node:net').AddressInfo} */ (site.address());
      resolve({ origin: `http://127.0.0.1:${address.port}`, close: () => site.close() });
    });
  });
}

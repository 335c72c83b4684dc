// The client's connection as a visitor lives it, in real Chromium: live events
// at once even where UDP is swallowed, a fallback that returns to
// WebTransport once it works, a reload that keeps the visitor (and a lead's
// status), and cursors that carry the visitor's name.
//
// The server publishes its WebTransport URL on a UDP relay of the test's own,
// which swallows every packet until it is opened.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ADMIN, joinOnPage, launchBrowser, newCampaign, openPage, sendLeadOnPage, startServer, stopServer } from './support.js';

/**
 * A UDP relay on loopback to `target`: swallows every datagram until
 * `open()`, then forwards both ways (one upstream socket per client).
 * @param {number} target
 * @returns {Promise<{ port: number, open: () => void, close: () => void }>}
 */
function startRelay(target) {
  const front = dgram.createSocket('udp4');
  let forwarding = false;
  /** @type {Map<string, dgram.Socket>} */
  const upstreams = new Map();
  front.on('message', (message, from) => {
    if (!forwarding) return; // swallowed: no answer, no error
    const key = `${from.address}:${from.port}`;
    let upstream = upstreams.get(key);
    if (!upstream) {
      upstream = dgram.createSocket('udp4');
      upstream.on('message', (reply) => front.send(reply, from.port, from.address));
      upstream.bind(0, '127.0.0.1');
      upstreams.set(key, upstream);
    }
    upstream.send(message, target, '127.0.0.1');
  });
  return new Promise((resolve) => {
    front.bind(0, '127.0.0.1', () => {
      resolve({
        port: front.address().port,
        open: () => {
          forwarding = true;
        },
        close: () => {
          front.close();
          for (const upstream of upstreams.values()) upstream.close();
        },
      });
    });
  });
}

/** A UDP port free now. @returns {Promise<number>} */
function freeUdpPort() {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./support.js').RunningServer} */
let server;
/** @type {Awaited<ReturnType<typeof startRelay>>} */
let relay;

before(async () => {
  const wtPort = await freeUdpPort();
  relay = await startRelay(wtPort);
  server = await startServer({
    db: join(mkdtempSync(join(tmpdir(), 'ovasabi-connection-')), 'edge.db'),
    wt: `127.0.0.1:${wtPort}`,
    env: { OVASABI_WT_PUBLIC_URL: `https://127.0.0.1:${relay.port}/wt` },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) await stopServer(server.child);
  relay?.close();
});

/** A page of the server's origin with nothing on it, to run the client in. */
async function blankPage() {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/healthz`);
  return page;
}

test('live events arrive at once while WebTransport\'s UDP is swallowed', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const page = await blankPage();
  const first = await page.evaluate(async (campaign) => {
    const { connect } = await import('/client/ovasabi.js');
    const started = performance.now();
    const live = await connect({ campaign, storage: null });
    Object.assign(globalThis, { live });
    return new Promise((resolve) => {
      live.on('presence', ({ active }) => resolve({ ms: performance.now() - started, active, transport: live.transport }));
    });
  }, campaign);
  console.log(`first presence after ${first.ms.toFixed(0)} ms (connect() to event, in the page)`);
  assert.equal(first.active, 1);
  assert.ok(first.ms < 500, `presence after ${first.ms} ms`);
  assert.equal(first.transport, null, 'WebTransport was still being tried');
  // Then the cursors fall back to the event stream, and the page is connected.
  await page.waitForFunction(() => /** @type {any} */ (globalThis).live.transport === 'sse', null, { timeout: 10_000 });
  await page.waitForFunction(() => /** @type {any} */ (globalThis).live.state === 'connected', null, { timeout: 10_000 });
  await page.context().close();
});

test('a page that fell back returns to WebTransport once it works', { timeout: 90_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const page = await blankPage();
  /** @param {import('playwright-core').Page} page @param {string} name */
  const start = (page, name) => page.evaluate(async ([campaign, name]) => {
    const { connect } = await import('/client/ovasabi.js');
    const live = await connect({ campaign, storage: null, webTransportTimeoutMs: 1000, webTransportRetryMs: 500 });
    /** @type {string[]} */
    const transports = [];
    live.on('status', ({ transport }) => transports.push(String(transport)));
    Object.assign(globalThis, { [name]: live, transports });
  }, [campaign, name]);
  await start(page, 'live');
  await page.waitForFunction(() => /** @type {any} */ (globalThis).live.transport === 'sse', null, { timeout: 10_000 });
  relay.open();
  await page.waitForFunction(() => /** @type {any} */ (globalThis).live.transport === 'webtransport', null, { timeout: 30_000 });
  await page.waitForFunction(() => /** @type {any} */ (globalThis).live.state === 'connected', null, { timeout: 10_000 });
  // The cursor channel works: another visitor's move arrives as a datagram.
  const other = await blankPage();
  await start(other, 'live');
  await other.waitForFunction(() => /** @type {any} */ (globalThis).live.transport === 'webtransport', null, { timeout: 15_000 });
  await other.evaluate(() => {
    const live = /** @type {any} */ (globalThis).live;
    live.moveCursor(100, 200);
    setInterval(() => live.moveCursor(100 + Math.random(), 200), 100);
  });
  await page.waitForFunction(() => /** @type {any} */ (globalThis).live.shown.size > 0, null, { timeout: 10_000 });
  const seen = await page.evaluate(() => /** @type {any} */ (globalThis).transports);
  assert.ok(seen.includes('sse') && seen.at(-1) === 'webtransport', seen.join(' → '));
  await page.context().close();
  await other.context().close();
});

test('a reload keeps the visitor, and the status of a lead sent before it arrives', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const page = await openPage(browser, server.base, campaign, 'auto');
  const token = await page.evaluate(() => /** @type {any} */ (globalThis).ovasabiLive.token);
  const id = await sendLeadOnPage(page);

  await page.reload();
  await page.waitForFunction(() => document.body.dataset.liveState === 'connected', null, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => /** @type {any} */ (globalThis).ovasabiLive.token), token, 'the same visitor');
  const patched = await fetch(`${server.base}/api/quote/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'in_review' }),
  });
  assert.equal(patched.status, 200);
  await page.locator('#feed li', { hasText: 'Your quote is now: in review' }).waitFor({ timeout: 10_000 });
  await page.context().close();
});

test('a joined visitor\'s cursor carries their name to the other page', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base, { cursor: { names: true }, presence: { members: true, pages: true } });
  const ada = await openPage(browser, server.base, campaign, 'auto');
  const grace = await openPage(browser, server.base, campaign, 'sse');
  await joinOnPage(ada, 'Ada', 'ada@example.com');
  await ada.waitForFunction(() => /** @type {any} */ (globalThis).ovasabiLive.self?.name === 'Ada', null, { timeout: 10_000 });
  await ada.mouse.move(300, 300);
  await ada.mouse.move(320, 340, { steps: 5 });
  const label = grace.locator('.remote-cursor .cursor-name', { hasText: 'Ada' });
  await label.waitFor({ timeout: 10_000 });
  const arrow = grace.locator('.remote-cursor', { has: grace.locator('.cursor-name', { hasText: 'Ada' }) });
  const colour = await arrow.evaluate((el) => getComputedStyle(el).color);
  assert.match(colour, /^rgb/, 'drawn in the member\'s colour');
  await grace.locator('#others', { hasText: 'Ada' }).waitFor({ timeout: 10_000 });
  // With the campaign's presence on, a visitor on another page is listed with it.
  const visitors = await grace.evaluate(() => /** @type {any} */ (globalThis).ovasabiLive.visitors);
  assert.ok(visitors.some((/** @type {{ name: string | null }} */ v) => v.name === 'Ada'), JSON.stringify(visitors));
  // The arrow is Ada's own: her page does not draw herself.
  assert.equal(await ada.locator('.remote-cursor .cursor-name', { hasText: 'Ada' }).count(), 0);
  await ada.context().close();
  await grace.context().close();
});

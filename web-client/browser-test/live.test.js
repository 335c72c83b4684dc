// Real Chromium (Debian's, driven by playwright-core) against the real server:
// two pages in one campaign over WebTransport, over the SSE fallback, and mixed;
// events reaching the right pages; presence; reconnection after a restart; and
// the demo page served from another origin than the API's; and the API
// description's viewer at /api/docs.
// Needs the server binary (cargo build -p ovasabi-edge; OVASABI_BIN to override).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ADMIN, ROOT, freshSlug, joinOnPage, launchBrowser, newCampaign, openPage as open, sendLeadOnPage, startServer, startSite, stopServer } from './support.js';

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./support.js').RunningServer} */
let server;

before(async () => {
  server = await startServer({ db: join(mkdtempSync(join(tmpdir(), 'ovasabi-browser-')), 'edge.db') });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) await stopServer(server.child);
});

/**
 * Opens the demo page and waits until its live channel is up.
 * @param {string} base @param {string} campaign @param {'auto' | 'webtransport' | 'sse'} transport
 */
function openPage(base, campaign, transport) {
  return open(browser, base, campaign, transport);
}

/** @param {import('playwright-core').Page} page */
function transportOf(page) {
  return page.locator('#transport').textContent();
}

/**
 * Moves the mouse on `from` and waits until `to` draws a remote cursor there.
 * @param {import('playwright-core').Page} from @param {import('playwright-core').Page} to
 * @param {number} x @param {number} y
 */
async function seesMove(from, to, x, y) {
  await from.mouse.move(x - 30, y - 30);
  await from.mouse.move(x, y, { steps: 5 });
  await to.waitForFunction(
    ([x, y]) => [...document.querySelectorAll('.remote-cursor')].some((dot) => {
      const m = /translate\(([\d.]+)px, ([\d.]+)px\)/.exec(/** @type {HTMLElement} */ (dot).style.transform);
      return m !== null && Math.abs(Number(m[1]) - x) < 3 && Math.abs(Number(m[2]) - y) < 3;
    }),
    [x, y],
    { timeout: 10_000 },
  );
}

/** @param {import('playwright-core').Page} page @param {number} n */
async function countIs(page, n) {
  await page.waitForFunction((n) => document.getElementById('active')?.textContent === String(n), n, { timeout: 15_000 });
}

test('two pages see each other move over WebTransport', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const a = await openPage(server.base, campaign, 'webtransport');
  const b = await openPage(server.base, campaign, 'webtransport');
  assert.equal(await transportOf(a), 'WebTransport');
  assert.equal(await transportOf(b), 'WebTransport');
  await countIs(a, 2);
  await seesMove(a, b, 200, 300);
  await seesMove(b, a, 420, 150);
  await a.context().close();
  await b.context().close();
});

test('two pages see each other move over the SSE fallback', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const a = await openPage(server.base, campaign, 'sse');
  const b = await openPage(server.base, campaign, 'sse');
  assert.match(await transportOf(a) ?? '', /Server-Sent Events/);
  await countIs(b, 2);
  await seesMove(a, b, 250, 350);
  await seesMove(b, a, 500, 120);
  await a.context().close();
  await b.context().close();
});

test('a WebTransport page and a fallback page see each other', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const modern = await openPage(server.base, campaign, 'webtransport');
  const fallback = await openPage(server.base, campaign, 'sse');
  await seesMove(modern, fallback, 300, 200);
  await seesMove(fallback, modern, 150, 450);
  await modern.context().close();
  await fallback.context().close();
});

test('joining on one page shows up on the other', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const a = await openPage(server.base, campaign, 'auto');
  const b = await openPage(server.base, campaign, 'auto');
  await joinOnPage(a, 'Ada', 'ada@example.com');
  await b.locator('#feed li', { hasText: 'Ada joined' }).waitFor({ timeout: 10_000 });
  await a.context().close();
  await b.context().close();
});

test('a quote status reaches only the page that sent it', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const sender = await openPage(server.base, campaign, 'auto');
  const other = await openPage(server.base, campaign, 'auto');
  const id = await sendLeadOnPage(sender);
  const patched = await fetch(`${server.base}/api/quote/${id}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ status: 'in_review' }),
  });
  assert.equal(patched.status, 200);
  await sender.locator('#feed li', { hasText: 'Your quote is now: in review' }).waitFor({ timeout: 10_000 });
  await other.locator('#feed li', { hasText: 'Someone asked for a quote' }).waitFor();
  await other.waitForTimeout(500);
  assert.equal(await other.locator('#feed li', { hasText: 'Your quote' }).count(), 0);
  await sender.context().close();
  await other.context().close();
});

test('a campaign file\'s own event and leaderboard show live; a missed event is replayed', { timeout: 60_000 }, async () => {
  const slug = freshSlug();
  const file = [
    `slug = "${slug}"`,
    'name = "Custom events"',
    'status = "active"',
    '[config.leaderboard]',
    'enabled = true',
    '[config.event_types."announcement"]',
    '[config.event_types."announcement".fields]',
    'title = { type = "string", required = true, max_chars = 60 }',
  ].join('\n');
  const applied = await fetch(`${server.base}/api/campaign/${slug}/file`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/toml' },
    body: file,
  });
  assert.equal(applied.status, 200, await applied.text());
  /** @param {string} title */
  const announce = async (title) => {
    const sent = await fetch(`${server.base}/api/campaign/${slug}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'announcement', data: { title } }),
    });
    const text = await sent.text();
    assert.equal(sent.status, 202, text);
    return JSON.parse(text).id;
  };
  const page = await openPage(server.base, slug, 'sse');
  try {
    // The demo page shows the campaign's own event in its feed...
    await page.waitForFunction(() => document.body.dataset.liveState === 'connected', null, { timeout: 10_000 });
    await announce('Launch day');
    await page.locator('#feed li', { hasText: 'announcement — title: Launch day' }).waitFor({ timeout: 10_000 });
    // ...and its leaderboard, updated live after a referral.
    const ada = await (await fetch(`${server.base}/api/user/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ campaign: slug, email: 'ada@example.com', name: 'Ada' }),
    })).json();
    await fetch(`${server.base}/api/user/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ campaign: slug, email: 'b@example.com', name: 'B', referral_code: ada.referral_code }),
    });
    await page.locator('#leaderboard li', { hasText: 'Ada — 1' }).waitFor({ timeout: 10_000 });

    // The client package in the browser: `on('<name>')` receives the data;
    // a client that comes back with the id it last saw gets what it missed.
    /** @param {string} slug @param {string | null} lastId @param {string} into */
    const listen = (slug, lastId, into) => page.evaluate(async ([slug, lastId, into]) => {
      const { Live } = await import('/client/ovasabi.js');
      /** @type {import('../src/ovasabi.js').Live<{ announcement: { title: string } }>} */
      const live = new Live({ campaign: /** @type {string} */ (slug), transport: 'sse', storage: null });
      const scope = /** @type {any} */ (globalThis);
      scope[/** @type {string} */ (into)] = { live, titles: [] };
      live.on('announcement', (data) => scope[/** @type {string} */ (into)].titles.push(data.title));
      live.lastEventId = lastId;
      await live.start();
    }, [slug, lastId, into]);
    /** @param {string} into @param {string} title */
    const heard = (into, title) => page.waitForFunction(
      ([into, title]) => /** @type {any} */ (globalThis)[into]?.titles.includes(title),
      [into, title],
      { timeout: 10_000 },
    );
    await listen(slug, null, 'first');
    await page.waitForFunction(() => /** @type {any} */ (globalThis).first.live.state === 'connected', null, { timeout: 10_000 });
    await announce('Second');
    await heard('first', 'Second');
    const lastId = await page.evaluate(() => {
      const { live } = /** @type {any} */ (globalThis).first;
      live.close();
      return /** @type {string} */ (live.lastEventId);
    });
    await announce('Missed while away');
    await listen(slug, lastId, 'back');
    await heard('back', 'Missed while away');
    assert.deepEqual(await page.evaluate(() => /** @type {any} */ (globalThis).back.titles), ['Missed while away']);
  } finally {
    await page.context().close();
  }
});

test('presence goes up and down as pages open and close', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base);
  const a = await openPage(server.base, campaign, 'auto');
  await countIs(a, 1);
  const b = await openPage(server.base, campaign, 'sse');
  const c = await openPage(server.base, campaign, 'webtransport');
  await countIs(a, 3);
  await b.context().close();
  await countIs(a, 2);
  await c.context().close();
  await countIs(a, 1);
  await a.context().close();
});

test('pages reconnect and resume after the server restarts', { timeout: 90_000 }, async () => {
  const db = join(mkdtempSync(join(tmpdir(), 'ovasabi-restart-')), 'edge.db');
  let own = await startServer({ db });
  const campaign = await newCampaign(own.base);
  const a = await openPage(own.base, campaign, 'auto');
  const b = await openPage(own.base, campaign, 'sse');
  await countIs(a, 2);
  await stopServer(own.child);
  await a.waitForFunction(() => document.body.dataset.liveState === 'reconnecting', null, { timeout: 15_000 });
  own = await startServer({ db, http: own.http, wt: own.wt });
  try {
    for (const page of [a, b]) {
      await page.waitForFunction(() => document.body.dataset.liveState === 'connected', null, { timeout: 30_000 });
    }
    await countIs(a, 2);
    await countIs(b, 2);
    await seesMove(a, b, 333, 222);
    await seesMove(b, a, 111, 444);
    // Events published after the restart arrive too.
    await fetch(`${own.base}/api/user/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ campaign, email: 'linus@example.com', name: 'Linus' }),
    });
    await b.locator('#feed li', { hasText: 'Linus joined' }).waitFor({ timeout: 10_000 });
  } finally {
    await a.context().close();
    await b.context().close();
    await stopServer(own.child);
  }
});

/**
 * Serves the demo page and the client's modules from a port of its own: a
 * campaign site on another origin than the API. Resolves with its origin.
 */
function startDemoSite() {
  return startSite((path) => {
    const file = path === '/'
      ? 'demo/index.html'
      : path.startsWith('/demo/') ? path.slice(1) : path.startsWith('/client/') ? `src/${path.slice('/client/'.length)}` : null;
    return file && join(ROOT, 'web-client', file);
  });
}

test('a page on an allowed origin uses the API, events and WebTransport on another', { timeout: 60_000 }, async () => {
  const allowed = await startDemoSite();
  const foreign = await startDemoSite();
  const slug = freshSlug();
  const created = await fetch(`${server.base}/api/campaign`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ slug, name: 'Cross-origin', status: 'active', config: { origins: [allowed.origin] } }),
  });
  assert.equal(created.status, 201, await created.text());
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('page error:', e));
    await page.goto(`${allowed.origin}/?campaign=${slug}&transport=webtransport&api=${encodeURIComponent(server.base)}`);
    await page.waitForFunction(() => document.getElementById('transport')?.textContent === 'WebTransport', null, { timeout: 15_000 });
    await countIs(page, 1);
    await joinOnPage(page, 'Ada', 'ada@example.com');
    await page.locator('#feed li', { hasText: 'Ada joined' }).waitFor({ timeout: 10_000 });

    // The same page on an origin the campaign does not allow gets nothing.
    const refused = await context.newPage();
    await refused.goto(`${foreign.origin}/?campaign=${slug}&transport=auto&api=${encodeURIComponent(server.base)}`);
    const outcome = await refused.evaluate(async ([base, slug]) => {
      try {
        await fetch(`${base}/api/session`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ campaign: slug }),
        });
        return 'answered';
      } catch {
        return 'refused';
      }
    }, [server.base, slug]);
    assert.equal(outcome, 'refused');
    await refused.waitForTimeout(1000);
    assert.equal(await transportOf(refused), 'connecting…', 'never connects');
  } finally {
    await context.close();
    allowed.close();
    foreign.close();
  }
});

test('the API description renders in the browser, from the server alone', { timeout: 60_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  /** @type {string[]} */
  const foreign = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(server.base)) foreign.push(request.url());
  });
  /** @type {string[]} */
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(`${server.base}/api/docs`);
  await page.waitForSelector('details summary');
  const summaries = await page.$$eval('summary', (nodes) => nodes.map((n) => n.textContent));
  assert.ok(summaries.some((s) => s.includes('/api/quote') && s.includes('Send a lead')), summaries.join('\n'));
  assert.ok(summaries.some((s) => s.includes('/api/campaign/{slug}/events')));
  // An operation opens to its body schema and its answers.
  await page.click('summary:has-text("/api/user/register")');
  const opened = await page.textContent('details[open]');
  assert.ok(opened?.includes('"email"') && opened.includes('422'), opened ?? '');
  assert.ok(await page.textContent('body').then((t) => t?.includes('lead.status')), 'the live events');
  assert.deepEqual(foreign, [], 'no CDN: every request goes to the server');
  assert.deepEqual(errors, []);
  await context.close();
});

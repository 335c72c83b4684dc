// Real Chromium against the real server: the campaign team's dashboard at
// /admin, signed in with named keys of each role. What a campaign manager
// does in a day — watch, act on leads, fix deliveries, correct
// translations, run the team — done on the page and checked through the API.
// No request the page makes carries the key in its URL.
// Needs the server binary (cargo build -p ovasabi-edge; OVASABI_BIN to override).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ADMIN, launchBrowser, newCampaign, startServer, stopServer } from './support.js';

/** Where screenshots go (a CI artifact; not committed). */
const OUTPUT = new URL('./output/', import.meta.url).pathname;

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./support.js').RunningServer} */
let server;
/** The webhook receiver: answers 500 while `failing`, then 200. */
/** @type {{ failing: boolean, seen: { id: string, status: number }[], url: string, close: () => void }} */
const receiver = { failing: false, seen: [], url: '', close: () => {} };

before(async () => {
  const hook = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = receiver.failing ? 500 : 200;
      receiver.seen.push({ id: String(req.headers['ovasabi-delivery']), status });
      res.writeHead(status).end(status === 200 ? 'ok' : 'receiver down');
    });
  });
  await new Promise((resolve) => hook.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (hook.address());
  receiver.url = `http://127.0.0.1:${address.port}/hook`;
  receiver.close = () => hook.close();
  server = await startServer({
    db: join(mkdtempSync(join(tmpdir(), 'ovasabi-admin-')), 'edge.db'),
    env: {
      OVASABI_WEBHOOK_URL: receiver.url,
      OVASABI_WEBHOOK_ALLOW_HTTP: 'true',
      OVASABI_WEBHOOK_ALLOW_PRIVATE: 'true',
      OVASABI_WEBHOOK_MAX_ATTEMPTS: '1',
      OVASABI_WEBHOOK_SECRET: 'browser-test-webhook-secret',
    },
  });
  browser = await launchBrowser();
  mkdirSync(OUTPUT, { recursive: true });
});

after(async () => {
  await browser?.close();
  if (server) await stopServer(server.child);
  receiver.close();
});

/**
 * A request to the API as the admin token.
 * @param {string} method @param {string} path @param {unknown} [body]
 */
async function asAdmin(method, path, body) {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/**
 * A named key of `campaign` with `role`; its text.
 * @param {string} campaign @param {'viewer' | 'editor' | 'owner'} role
 */
async function makeKey(campaign, role) {
  const made = await asAdmin('POST', '/api/admin/keys', { name: `${role} of ${campaign}`, role, campaign });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return /** @type {string} */ (made.body.token);
}

/**
 * Opens /admin in a fresh context and signs in with `key`; every URL the
 * page asks for is recorded in `urls`.
 * @param {string} key
 * @param {{ width: number, height: number }} [viewport]
 */
async function signedIn(key, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  /** @type {string[]} */
  const urls = [];
  page.on('request', (request) => urls.push(request.url()));
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/admin`);
  await page.getByLabel('Team key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: /./ }).waitFor();
  return { page, urls, close: () => context.close() };
}

/** @param {string[]} urls @param {string} key */
function noUrlCarries(urls, key) {
  assert.ok(urls.length > 0);
  for (const url of urls) assert.ok(!url.includes(key) && !url.includes(encodeURIComponent(key)), `a URL carries the key: ${url}`);
}

/** @param {string} campaign */
function lead(campaign) {
  return { campaign, name: 'Grace Hopper', email: 'grace@example.com', message: 'A campaign site for the spring', company: 'Navy' };
}

test('a wrong key is refused with the API’s message; the right one opens the dashboard', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.base}/admin`);
  await page.getByLabel('Team key').fill('ovk_not-a-key-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#sign-in-error', { hasText: 'needs a team key' }).waitFor();
  assert.equal(await page.locator('#app').isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused key is not kept');
  await context.close();

  const campaign = await newCampaign(server.base);
  const key = await makeKey(campaign, 'viewer');
  const { page: signed, urls, close } = await signedIn(key);
  assert.match((await signed.locator('#who').textContent()) ?? '', new RegExp(`viewer of ${campaign}`));
  // The key is in this tab's sessionStorage only.
  assert.equal(await signed.evaluate(() => localStorage.length), 0);
  assert.equal(await signed.evaluate((k) => Object.values(sessionStorage).includes(k), key), true);
  for (const name of ['Leads', 'Participants', 'Deliveries', 'Translations', 'Campaigns', 'Team']) {
    await signed.getByRole('link', { name }).click();
    await signed.getByRole('heading', { level: 2, name }).waitFor();
  }
  noUrlCarries(urls, key);
  await close();
});

test('a viewer reads leads but has no status control, and the API refuses it', async () => {
  const campaign = await newCampaign(server.base);
  const posted = await fetch(`${server.base}/api/quote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(lead(campaign)),
  });
  const { id } = await posted.json();
  const key = await makeKey(campaign, 'viewer');
  const { page, urls, close } = await signedIn(key);
  await page.getByRole('link', { name: 'Leads' }).click();
  const row = page.locator(`#leads tr[data-id="${id}"]`);
  await row.waitFor();
  assert.equal(await row.locator('select').count(), 0, 'no status control for a viewer');
  assert.equal(await row.locator('[data-status]').textContent(), 'new');
  const refused = await page.evaluate(async ([id, key]) => {
    const response = await fetch(`/api/quote/${id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'in_review' }),
    });
    return { status: response.status, body: await response.json() };
  }, [id, key]);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'role_required');
  noUrlCarries(urls, key);
  await close();
});

test('a lead posted over REST appears within a second; its status changed on the page is the API’s', async () => {
  const campaign = await newCampaign(server.base);
  const key = await makeKey(campaign, 'editor');
  const { page, urls, close } = await signedIn(key);
  await page.getByRole('link', { name: 'Leads' }).click();
  await page.locator('#leads .empty').waitFor();
  await page.locator('#stream-state', { hasText: 'live' }).waitFor();
  const sent = Date.now();
  const posted = await fetch(`${server.base}/api/quote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(lead(campaign)),
  });
  assert.equal(posted.status, 201);
  const { id } = await posted.json();
  const row = page.locator(`#leads tr[data-id="${id}"]`);
  await row.waitFor({ timeout: 1000 });
  console.log(`the lead was on the page ${Date.now() - sent} ms after it was posted`);
  await row.getByLabel('Status of the lead from Grace Hopper').selectOption('in_review');
  await page.locator('#message', { hasText: 'is now in_review' }).waitFor();
  const listed = await asAdmin('GET', `/api/quote?campaign=${campaign}`);
  assert.equal(listed.body.quotes[0].status, 'in_review');
  // An illegal move is not offered; the next one is.
  const options = await row.locator('select option').allTextContents();
  assert.deepEqual(options, ['in_review', '→ contacted']);
  noUrlCarries(urls, key);
  await close();
});

test('a dead delivery is retried from the page and delivered', async () => {
  const campaign = await newCampaign(server.base);
  const key = await makeKey(campaign, 'editor');
  receiver.failing = true;
  const posted = await fetch(`${server.base}/api/quote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(lead(campaign)),
  });
  assert.equal(posted.status, 201);
  const { page, urls, close } = await signedIn(key);
  await page.getByRole('link', { name: 'Deliveries' }).click();
  const row = page.locator('#deliveries tr[data-id]').filter({ hasText: 'lead.created' });
  await row.waitFor({ timeout: 10_000 });
  assert.match((await row.textContent()) ?? '', /500/);
  const entry = await row.getAttribute('data-id');
  receiver.failing = false;
  await row.getByRole('button', { name: `Retry entry ${entry}` }).click();
  await page.locator('#message', { hasText: `Entry ${entry} is back in line` }).waitFor();
  // Delivered: the receiver took it, and the dead list empties by itself.
  await page.locator('#deliveries .empty').waitFor({ timeout: 10_000 });
  assert.ok(receiver.seen.some((r) => r.id === entry && r.status === 200), 'the receiver got it');
  const delivered = await asAdmin('GET', `/api/outbox?campaign=${campaign}&state=delivered`);
  assert.ok(delivered.body.entries.some((/** @type {any} */ e) => String(e.id) === entry));
  noUrlCarries(urls, key);
  await close();
});

test('a translation saved on the page is what POST /api/translate serves', async () => {
  const campaign = await newCampaign(server.base);
  const seeded = await asAdmin('PUT', '/api/translate/override', { campaign, target: 'fr', text: 'Join', translation: 'Rejoindre' });
  assert.equal(seeded.status, 200);
  const key = await makeKey(campaign, 'editor');
  const { page, urls, close } = await signedIn(key);
  await page.getByRole('link', { name: 'Translations' }).click();
  const edit = page.getByLabel('Translation of "Join"');
  await edit.waitFor();
  assert.equal(await edit.inputValue(), 'Rejoindre');
  await edit.fill('Rejoignez-nous');
  await page.locator('tr[data-text="Join"]').getByRole('button', { name: 'Save' }).click();
  await page.locator('#message', { hasText: 'Saved' }).waitFor();
  await page.getByLabel('Text (en)').fill('Send');
  await page.getByLabel('Translation', { exact: true }).fill('Envoyer');
  await page.getByRole('button', { name: 'Save translation' }).click();
  await page.locator('tr[data-text="Send"]').waitFor();
  const served = await fetch(`${server.base}/api/translate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ campaign, target: 'fr', texts: ['Join', 'Send'] }),
  });
  const body = await served.json();
  assert.deepEqual(
    body.translations.map((/** @type {any} */ t) => [t.text, t.origin]),
    [['Rejoignez-nous', 'override'], ['Envoyer', 'override']],
  );
  noUrlCarries(urls, key);
  await close();
});

test('the Live chart draws the campaign’s hours after some joins, at 1280 px and on a phone', async () => {
  const campaign = await newCampaign(server.base);
  for (const name of ['Ada', 'Grace', 'Edsger']) {
    const joined = await fetch(`${server.base}/api/user/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ campaign, email: `${name.toLowerCase()}@example.com`, name }),
    });
    assert.equal(joined.status, 201);
  }
  const key = await makeKey(campaign, 'viewer');
  for (const [label, viewport] of /** @type {const} */ ([['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]])) {
    const { page, urls, close } = await signedIn(key, viewport);
    await page.locator('#live-chart canvas').waitFor();
    await page.locator('summary', { hasText: 'Figures per hour' }).click();
    const joins = await page.locator('[data-joins]').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-joins'))));
    assert.ok(joins.reduce((a, b) => a + b, 0) >= 3, `joins per hour: ${joins}`);
    assert.ok(Number(await page.locator('#live-chart').getAttribute('data-points')) >= 1);
    assert.equal(await page.locator('.card .figure').nth(1).textContent(), '3');
    // Nothing wider than the screen; every view reachable.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `${label}: ${overflow} px wider than the viewport`);
    await page.screenshot({ path: join(OUTPUT, `admin-live-${label}.png`), fullPage: true });
    noUrlCarries(urls, key);
    await close();
  }
});

test('an owner runs the team: a key made (shown once) and revoked, a campaign paused, the audit log exported', async () => {
  const campaign = await newCampaign(server.base);
  const key = await makeKey(campaign, 'owner');
  const { page, urls, close } = await signedIn(key);
  await page.getByRole('link', { name: 'Campaigns' }).click();
  await page.getByRole('button', { name: `Pause Browser test ${campaign}` }).click();
  await page.locator('#message', { hasText: 'is now paused' }).waitFor();
  assert.equal((await asAdmin('GET', `/api/campaign/${campaign}`)).body.status, 'paused');
  // Its configuration, read-only, and its document.
  await page.locator('summary', { hasText: `(${campaign})` }).click();
  await page.getByRole('button', { name: `The document of Browser test ${campaign}` }).click();
  const doc = (await page.locator(`pre[data-document="${campaign}"]`).textContent()) ?? '';
  assert.match(doc, /## Endpoints/);
  assert.match(doc, /\| status \| `paused` \|/, 'the campaign as it stands');

  await page.getByRole('link', { name: 'Team' }).click();
  await page.getByLabel('Who holds it').fill('Linus (agency)');
  await page.getByLabel('Role').selectOption('editor');
  await page.getByRole('button', { name: 'Make a key' }).click();
  const token = (await page.locator('#new-token').textContent()) ?? '';
  assert.match(token, /^ovk_/);
  const whoami = await fetch(`${server.base}/api/admin/whoami`, { headers: { authorization: `Bearer ${token}` } });
  const holder = await whoami.json();
  assert.deepEqual([holder.name, holder.role, holder.campaign], ['Linus (agency)', 'editor', campaign], 'the key works');
  await page.getByRole('button', { name: 'Revoke the key of Linus (agency)' }).click();
  await page.locator('#message', { hasText: 'revoked' }).waitFor();
  const refused = await fetch(`${server.base}/api/admin/whoami`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(refused.status, 401);

  // The audit log shows what happened, and exports through fetch.
  await page.getByRole('link', { name: 'Live', exact: true }).click();
  await page.getByRole('link', { name: 'Team' }).click();
  for (const action of ['key.revoked', 'key.created', 'campaign.updated']) {
    await page.locator(`#audit tr[data-action="${action}"]`).first().waitFor();
  }
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
  const csv = readFileSync(/** @type {string} */ (await download.path()), 'utf8');
  assert.match(csv, /^id,at,actor,action,campaign,target,before,after,actor_key_id/);
  assert.match(csv, /key\.revoked/);
  noUrlCarries(urls, key);
  await close();
});

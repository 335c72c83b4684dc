// Real Chromium against the real server: the bot defence as its two sides
// see it. A bot that fills a campaign's honeypot is answered like anyone
// (201, the same shape) and counted nowhere; the team finds what was held in
// the dashboard's Spam view, and "Not spam" puts a lead where leads are.
// The demo page's honeypot is hidden from people and sent when filled; with a
// CAPTCHA whose script cannot load, the page works on and says why a form
// cannot be sent.
// Needs the server binary (cargo build -p ovasabi-edge; OVASABI_BIN to override).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ADMIN, callApi, launchBrowser, newCampaign, openPage, startServer, stopServer } from './support.js';

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./support.js').RunningServer} */
let server;

before(async () => {
  server = await startServer({ db: join(mkdtempSync(join(tmpdir(), 'ovasabi-spam-')), 'edge.db') });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) await stopServer(server.child);
});

/**
 * A request to the API, as the admin token unless `key` is null.
 * @param {string} method @param {string} path @param {unknown} [body] @param {string | null} [key]
 */
const call = (method, path, body, key = ADMIN) => callApi(server.base, method, path, body, key);

/** A public form sent as a visitor would (no key). @param {string} path @param {unknown} body */
const post = (path, body) => call('POST', path, body, null);

/**
 * A named key of `campaign` with `role`; its text.
 * @param {string} campaign @param {'viewer' | 'editor' | 'owner'} role
 */
async function makeKey(campaign, role) {
  const made = await call('POST', '/api/admin/keys', { name: `${role} of ${campaign}`, role, campaign });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return /** @type {string} */ (made.body.token);
}

/**
 * Opens /admin in a fresh context, signed in with `key`.
 * @param {string} key
 */
async function signedIn(key) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/admin`);
  await page.getByLabel('Team key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: /./ }).waitFor();
  return { page, close: () => context.close() };
}

/** The campaign's counts as the team sees them. @param {string} campaign */
async function counts(campaign) {
  const metrics = await call('GET', `/api/campaign/${campaign}/metrics`);
  assert.equal(metrics.status, 200, JSON.stringify(metrics.body));
  return { users: metrics.body.users, leads: metrics.body.leads };
}

/** @param {string} campaign @param {string} [state] */
async function spamOf(campaign, state) {
  const listed = await call('GET', `/api/spam?campaign=${campaign}${state ? `&state=${state}` : ''}`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return /** @type {{ spam: any[], counts: { held: number, released: number, passed: number } }} */ (listed.body);
}

/** @param {string} campaign */
async function leadIds(campaign) {
  const listed = await call('GET', `/api/quote?campaign=${campaign}&limit=200`);
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  return listed.body.quotes.map((/** @type {any} */ q) => q.id);
}

/** @param {string} campaign @param {Record<string, unknown>} [extra] */
function lead(campaign, extra = {}) {
  return { campaign, name: 'Grace Hopper', email: 'grace@example.com', message: 'A campaign site for the spring', company: 'Navy', ...extra };
}

test('the honeypot’s name is the team’s: the public view of the campaign does not show it', async () => {
  const campaign = await newCampaign(server.base, { forms: { honeypot: 'website' } });
  const seen = await call('GET', `/api/campaign/${campaign}`, undefined, null);
  assert.equal(seen.status, 200);
  assert.equal(seen.body.config.forms.honeypot, undefined, JSON.stringify(seen.body.config.forms));
  assert.ok(!JSON.stringify(seen.body).includes('website'), 'the name appears nowhere in the public view');
  const team = await call('GET', `/api/campaign/${campaign}`);
  assert.equal(team.body.config.forms.honeypot, 'website');
});

test('a lead that fills the honeypot is answered 201, held out of the leads, and released from the Spam view into Leads', async () => {
  const campaign = await newCampaign(server.base, { forms: { honeypot: 'website' } });
  const real = await post('/api/quote', lead(campaign, { website: '' }));
  assert.equal(real.status, 201, JSON.stringify(real.body));
  const bot = await post('/api/quote', lead(campaign, { email: 'bot@spam.example', message: 'Cheap followers', website: 'http://spam.example' }));
  assert.equal(bot.status, 201, JSON.stringify(bot.body));
  // Answered exactly like the real one: nothing tells the bot.
  assert.deepEqual(Object.keys(bot.body).sort(), Object.keys(real.body).sort());
  assert.equal(bot.body.status, 'new');
  assert.notEqual(bot.body.id, real.body.id);
  // Held: not a lead, not counted.
  assert.deepEqual(await leadIds(campaign), [real.body.id]);
  assert.equal((await counts(campaign)).leads, 1);
  const held = await spamOf(campaign, 'held');
  assert.deepEqual(held.counts, { held: 1, released: 0, passed: 0 });
  assert.equal(held.spam.length, 1);
  assert.equal(held.spam[0].id, bot.body.id, 'listed under the id its sender was answered with');
  assert.equal(held.spam[0].form, 'lead');
  assert.equal(held.spam[0].reason, 'honeypot');
  assert.equal(held.spam[0].email, 'bot@spam.example');
  assert.equal(held.spam[0].submission.message, 'Cheap followers');

  const key = await makeKey(campaign, 'editor');
  const { page, close } = await signedIn(key);
  // The Leads view shows the real lead only.
  await page.getByRole('link', { name: 'Leads' }).click();
  await page.locator(`#leads tr[data-id="${real.body.id}"]`).waitFor();
  assert.equal(await page.locator(`#leads tr[data-id="${bot.body.id}"]`).count(), 0, 'a held lead is not in Leads');

  // The Spam view: the counts, and the held lead with its reason in words.
  await page.getByRole('link', { name: 'Spam' }).click();
  await page.getByRole('heading', { level: 2, name: 'Spam' }).waitFor();
  const row = page.locator(`#spam tr[data-id="${bot.body.id}"]`);
  await row.waitFor();
  assert.equal(await page.locator('#spam-state').inputValue(), 'held', 'held is shown first');
  assert.equal(await page.locator('#spam-held').textContent(), '1');
  assert.equal(await page.locator('#spam-released').textContent(), '0');
  assert.equal(await row.getAttribute('data-state'), 'held');
  assert.equal(await row.locator('td.reason').textContent(), 'honeypot');
  const text = (await row.textContent()) ?? '';
  for (const shown of ['lead', 'bot@spam.example', 'Grace Hopper', 'Cheap followers']) assert.ok(text.includes(shown), `the row shows ${shown}: ${text}`);

  // Not spam: released, replayed, and in Leads under the same id.
  await row.getByRole('button', { name: 'Not spam' }).click();
  await page.locator('#message', { hasText: 'is released' }).waitFor();
  await page.locator('#spam .empty').waitFor();
  assert.equal(await page.locator('#spam-held').textContent(), '0');
  assert.equal(await page.locator('#spam-released').textContent(), '1');
  await page.locator('#spam-state').selectOption('released');
  const released = page.locator(`#spam tr[data-id="${bot.body.id}"][data-state="released"]`);
  await released.waitFor();
  assert.match((await released.locator('td.status').textContent()) ?? '', /^released .* by editor of /);
  assert.equal(await released.getByRole('button', { name: 'Not spam' }).count(), 0, 'released once');
  await page.getByRole('link', { name: 'Leads' }).click();
  await page.locator(`#leads tr[data-id="${bot.body.id}"]`).waitFor();
  await page.locator(`#leads tr[data-id="${real.body.id}"]`).waitFor();
  await close();

  // The API agrees: a lead now, counted; the spam released by the key; audited.
  assert.deepEqual((await leadIds(campaign)).sort(), [real.body.id, bot.body.id].sort());
  assert.equal((await counts(campaign)).leads, 2);
  const after = await spamOf(campaign);
  assert.deepEqual(after.counts, { held: 0, released: 1, passed: 0 });
  assert.equal(after.spam[0].state, 'released');
  assert.equal(after.spam[0].released_by, `editor of ${campaign}`);
  assert.ok(after.spam[0].released_at);
  const again = await call('POST', `/api/spam/${bot.body.id}/release`);
  assert.equal(again.status, 409);
  assert.equal(again.body.code, 'not_held');
  const audit = await call('GET', '/api/admin/audit?limit=100');
  assert.ok(
    audit.body.entries.some((/** @type {any} */ e) => e.action === 'spam.released' && e.campaign === campaign),
    JSON.stringify(audit.body.entries.slice(0, 5)),
  );
});

test('a viewer reads the Spam view but has no “Not spam”, and the API refuses it', async () => {
  const campaign = await newCampaign(server.base, { forms: { honeypot: 'website' } });
  const bot = await post('/api/quote', lead(campaign, { website: 'http://spam.example' }));
  assert.equal(bot.status, 201);
  const key = await makeKey(campaign, 'viewer');
  const { page, close } = await signedIn(key);
  await page.getByRole('link', { name: 'Spam' }).click();
  const row = page.locator(`#spam tr[data-id="${bot.body.id}"]`);
  await row.waitFor();
  assert.equal(await row.getByRole('button').count(), 0, 'no action for a viewer');
  await close();
  const refused = await call('POST', `/api/spam/${bot.body.id}/release`, undefined, key);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'role_required');
  assert.deepEqual(await leadIds(campaign), []);
});

test('a join that fills the honeypot is answered 201 and counted nowhere', async () => {
  const campaign = await newCampaign(server.base, { forms: { honeypot: 'website' } });
  const bot = await post('/api/user/register', { campaign, email: 'bot@spam.example', name: 'Bot', website: 'http://spam.example' });
  assert.equal(bot.status, 201, JSON.stringify(bot.body));
  assert.equal(bot.body.display_name, 'Bot');
  assert.equal((await counts(campaign)).users, 0);
  const participants = await call('GET', `/api/campaign/${campaign}/participants`);
  assert.deepEqual(participants.body.participants, []);
  const held = await spamOf(campaign, 'held');
  assert.equal(held.spam.length, 1);
  assert.equal(held.spam[0].form, 'join');
  assert.equal(held.spam[0].reason, 'honeypot');
  assert.equal(held.spam[0].email, 'bot@spam.example');
  assert.equal(held.spam[0].submission.own_code, bot.body.referral_code, 'answered with the code it would have had');

  // A person's join, with the honeypot left empty, counts; and is answered alike.
  const person = await post('/api/user/register', { campaign, email: 'ada@example.com', name: 'Ada', website: '' });
  assert.equal(person.status, 201, JSON.stringify(person.body));
  assert.deepEqual(Object.keys(bot.body).sort(), Object.keys(person.body).sort());
  assert.equal((await counts(campaign)).users, 1);
});

test('on the demo page the honeypot is hidden from people, and what a bot puts in it is held', async () => {
  const campaign = await newCampaign(server.base, { forms: { honeypot: 'website' } });
  const page = await openPage(browser, server.base, campaign, 'sse');
  // Out of sight, out of the tab order and of the accessibility tree.
  for (const form of ['#join-form', '#quote-form']) {
    const trap = page.locator(`${form} input[name="website"]`);
    assert.equal(await trap.getAttribute('tabindex'), '-1');
    assert.equal(await trap.getAttribute('autocomplete'), 'off');
    const box = await trap.boundingBox();
    assert.ok(box && box.x + box.width <= 0, `${form}: the honeypot is off-screen (${JSON.stringify(box)})`);
  }
  assert.equal(await page.getByRole('textbox', { name: 'Leave this empty' }).count(), 0);
  assert.equal(await page.locator('.captcha:not([hidden])').count(), 0, 'no CAPTCHA without one configured');

  // A person joins: counted.
  await page.getByLabel('Name').first().fill('Ada');
  await page.getByLabel('Email').first().fill('ada@example.com');
  await page.getByRole('button', { name: 'Join' }).click();
  await page.locator('#join-result', { hasText: 'Your referral code' }).waitFor();
  assert.equal((await counts(campaign)).users, 1);

  // A bot fills every field: answered as received, held.
  const form = page.locator('#quote-form');
  await form.getByLabel('Name').fill('Bot');
  await form.getByLabel('Email').fill('bot@spam.example');
  await form.getByLabel('What do you need?').fill('Cheap followers');
  await form.locator('input[name="website"]').fill('http://spam.example', { force: true });
  await form.getByRole('button', { name: 'Send' }).click();
  await page.locator('#quote-result', { hasText: 'received' }).waitFor();
  const id = await form.getAttribute('data-quote-id');
  assert.deepEqual(await leadIds(campaign), []);
  const held = await spamOf(campaign, 'held');
  assert.deepEqual(held.spam.map((s) => [s.id, s.reason]), [[id, 'honeypot']]);
  await page.context().close();
});

test('with a CAPTCHA whose script cannot load, the demo page works on and says why a form is refused', async () => {
  const campaign = await newCampaign(server.base, {
    forms: { captcha: { provider: 'turnstile', site_key: '1x00000000000000000000AA' } },
  });
  const seen = await call('GET', `/api/campaign/${campaign}`, undefined, null);
  assert.equal(seen.body.config.forms.captcha.provider, 'turnstile', 'the CAPTCHA is in the public view');
  // The page's policy allows its own scripts only; the test keeps the
  // provider unreachable either way.
  const context = await browser.newContext();
  await context.route('https://challenges.cloudflare.com/**', (route) => route.abort());
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/?campaign=${campaign}&transport=sse`);
  await page.waitForFunction(() => document.getElementById('transport')?.textContent !== 'connecting…');
  await page.locator('#join-form .captcha', { hasText: 'could not load' }).waitFor();
  await page.getByLabel('Name').first().fill('Ada');
  await page.getByLabel('Email').first().fill('ada@example.com');
  await page.getByRole('button', { name: 'Join' }).click();
  await page.locator('#join-result.error', { hasText: 'could not load, so this form cannot be sent' }).waitFor();
  // The rest of the page is alive.
  await page.locator('body[data-live-state="connected"]').waitFor();
  assert.equal((await counts(campaign)).users, 0);
  const refused = await post('/api/user/register', { campaign, email: 'ada@example.com', name: 'Ada' });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.code, 'captcha_required');
  assert.equal(refused.body.field, 'captcha_token');
  await context.close();
});

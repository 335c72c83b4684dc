// Real Chromium against the real server: the referral fraud review as the
// team sees it. A referral from a disposable address is flagged and moves
// no public figure; an editor approves it in the dashboard's Review view,
// and the leaderboard on a visitor's page moves at once.
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
  server = await startServer({ db: join(mkdtempSync(join(tmpdir(), 'ovasabi-review-')), 'edge.db') });
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

/** Joins `campaign` as a visitor would. @param {string} campaign @param {string} email @param {string} name @param {string} [code] */
async function joinAs(campaign, email, name, code) {
  const joined = await call('POST', '/api/user/register', { campaign, email, name, ...(code ? { referral_code: code } : {}) }, null);
  assert.equal(joined.status, 201, JSON.stringify(joined.body));
  return joined.body;
}

test('an editor approves a flagged referral in the Review view and another page’s leaderboard moves', { timeout: 60_000 }, async () => {
  const campaign = await newCampaign(server.base, { leaderboard: { enabled: true } });
  const ana = await joinAs(campaign, 'ana@example.com', 'Ana');
  await joinAs(campaign, 'eve@mailinator.com', 'Eve', ana.referral_code);
  const flagged = await call('GET', `/api/campaign/${campaign}/referrals?status=flagged`);
  assert.equal(flagged.body.referrals.length, 1, JSON.stringify(flagged.body));
  const referral = flagged.body.referrals[0];
  assert.deepEqual(referral.signals, ['disposable_email']);
  const board = await call('GET', `/api/campaign/${campaign}/leaderboard`, undefined, null);
  assert.deepEqual(board.body.top, [], 'a flagged referral is on no leaderboard');

  // A visitor's page, showing the leaderboard live.
  const visitor = await openPage(browser, server.base, campaign, 'sse');

  const made = await call('POST', '/api/admin/keys', { name: 'Reviewer', role: 'editor', campaign });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await page.goto(`${server.base}/admin`);
  await page.getByLabel('Team key').fill(made.body.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#who').filter({ hasText: /./ }).waitFor();
  await page.getByRole('link', { name: 'Review' }).click();
  await page.getByRole('heading', { level: 2, name: 'Review' }).waitFor();
  const row = page.locator(`#review tr[data-id="${referral.id}"]`);
  await row.waitFor();
  assert.equal(await row.getAttribute('data-status'), 'flagged');
  const text = (await row.textContent()) ?? '';
  for (const shown of ['Ana', 'eve@mailinator.com', 'disposable email domain', 'unknown']) assert.ok(text.includes(shown), `the row shows ${shown}: ${text}`);

  await row.getByRole('button', { name: 'Approve the referral of eve@mailinator.com' }).click();
  await page.locator('#message', { hasText: '1 approved' }).waitFor();
  await page.locator('#review .empty').waitFor();
  // The visitor's page hears it.
  await visitor.locator('#leaderboard li', { hasText: 'Ana — 1' }).waitFor({ timeout: 10_000 });
  await context.close();
  await visitor.context().close();

  const counted = await call('GET', `/api/campaign/${campaign}/referrals`);
  assert.equal(counted.body.referrals[0].status, 'counted');
  assert.equal(counted.body.referrals[0].reviewed_by, 'Reviewer');
  const audit = await call('GET', '/api/admin/audit?limit=50');
  assert.ok(audit.body.entries.some((/** @type {any} */ e) => e.action === 'referral.approved' && e.campaign === campaign), JSON.stringify(audit.body.entries.slice(0, 3)));
});

// Real Chromium against the real server and a real SMTP server
// (scripts/smtp-sink, aiosmtpd): a visitor joins a campaign that verifies
// emails, opens the link from the mail they received, and another page
// sees the join counted live.
// Needs the server binary (cargo build -p ovasabi-edge) and aiosmtpd.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { ADMIN, ROOT, launchBrowser, newCampaign, openPage, startServer, stopServer } from './support.js';

/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('./support.js').RunningServer} */
let server;
/** @type {import('node:child_process').ChildProcess} */
let smtp;
const mails = mkdtempSync(join(tmpdir(), 'ovasabi-mails-'));

/** A port free now. @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (probe.address());
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the SMTP sink; resolves with its port. @returns {Promise<number>} */
function startSmtp() {
  smtp = spawn('python3', [join(ROOT, 'scripts/smtp-sink'), '--dir', mails, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    smtp.once('exit', (code) => reject(new Error(`smtp-sink exited (${code}): pip install aiosmtpd`)));
    const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (smtp.stdout) });
    lines.once('line', (line) => resolve(Number(line.replace('listening on ', ''))));
  });
}

/** The mails received for `address`, once there is one. @param {string} address */
async function mailsTo(address) {
  for (let i = 0; i < 200; i += 1) {
    const found = readdirSync(mails)
      .filter((name) => name.endsWith('.json'))
      .sort()
      .map((name) => JSON.parse(readFileSync(join(mails, name), 'utf8')))
      .filter((mail) => mail.rcpt_tos.includes(address));
    if (found.length) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no mail to ${address}`);
}

before(async () => {
  const smtpPort = await startSmtp();
  const http = `127.0.0.1:${await freePort()}`;
  server = await startServer({
    db: join(mkdtempSync(join(tmpdir(), 'ovasabi-browser-')), 'edge.db'),
    http,
    env: {
      OVASABI_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      OVASABI_MAIL_FROM: 'Ovasabi <hello@ovasabi.test>',
      OVASABI_PUBLIC_URL: `http://${http}`,
    },
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) await stopServer(server.child);
  smtp?.kill();
});

test('a join counts once the link from its mail is opened, live on another page', async () => {
  const slug = await newCampaign(server.base, { forms: { join: { verify: 'email' } } });
  const watcher = await openPage(browser, server.base, slug, 'sse');
  const visitor = await openPage(browser, server.base, slug, 'sse');
  await visitor.getByLabel('Name').first().fill('Ada');
  await visitor.getByLabel('Email').first().fill('ada.browser@example.com');
  await visitor.getByRole('button', { name: 'Join' }).click();
  await visitor.locator('#join-result', { hasText: 'open the link we mailed you' }).waitFor();
  const counts = async () => (await (await fetch(`${server.base}/api/campaign/${slug}/metrics`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  })).json()).users;
  assert.equal(await counts(), 0, 'a pending join counts nowhere');

  const [mail] = await mailsTo('ada.browser@example.com');
  assert.match(mail.headers.subject, /^Confirm your email/);
  const link = /https?:\/\/\S+\/v\/\S+/.exec(mail.text)?.[0];
  assert.ok(link, mail.text);
  // The person opens the link (in the same browser): the page confirms.
  await visitor.goto(link);
  await visitor.locator('#join-result', { hasText: 'Your email is confirmed' }).waitFor();
  assert.ok(!visitor.url().includes('verify='), 'the token leaves the address bar');
  // Everyone else sees the join, live.
  await watcher.locator('#feed li', { hasText: 'Ada joined' }).waitFor({ timeout: 10_000 });
  assert.equal(await counts(), 1);
  await watcher.context().close();
  await visitor.context().close();
});

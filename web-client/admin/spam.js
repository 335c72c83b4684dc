// The Spam view: what the campaign's bot defence caught (its honeypot, its
// minimum time) and held, answered to the sender as a success; and what was
// let through unverified while the CAPTCHA provider was down. An editor's
// "Not spam" replays a held submission as if it had just arrived.
// Its own module (views.js is long enough); it shares views.js's helpers,
// which it calls only once both modules are loaded.

import { send, getJson } from './api.js';
import { debounce, empty, h, needCampaign, q, table, when } from './views.js';

/** @typedef {import('./app.js').Context} Context */

/** @type {Record<string, string>} a reason in words */
const REASONS = {
  honeypot: 'honeypot',
  too_fast: 'too fast',
  captcha_unavailable: 'CAPTCHA unavailable (let through)',
};

/** @type {Record<string, string>} what an empty list of a state says */
const NOTHING = {
  held: 'Nothing is held: no join or lead filled the honeypot or came too fast.',
  released: 'Nothing was released yet.',
  passed: 'Nothing was let through unverified: the CAPTCHA provider was always reachable.',
  all: 'Nothing was caught: every join and lead went through.',
};

/** @param {any} item a listed submission */
function summary(item) {
  const sent = item.submission ?? {};
  if (item.form === 'lead') return [sent.company ? `${sent.company}: ` : '', sent.message ?? ''].join('');
  return `Join as ${sent.name ?? '?'}${sent.referral_code ? ` with the friend’s code ${sent.referral_code}` : ''}`;
}

/** @param {HTMLElement} main @param {Context} ctx */
export async function spam(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const slug = ctx.campaign.slug;
  const state = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'spam-state' }, ['held', 'released', 'passed', 'all'].map((s) => h('option', { value: s }, s)))
  );
  const figures = {
    held: h('span', { class: 'figure', id: 'spam-held' }, '…'),
    released: h('span', { class: 'figure', id: 'spam-released' }, '…'),
    passed: h('span', { class: 'figure', id: 'spam-passed' }, '…'),
  };
  const card = (/** @type {HTMLElement} */ figure, /** @type {string} */ label) =>
    h('div', { class: 'card' }, figure, h('div', { class: 'label' }, label));
  const list = h('div', { id: 'spam' });
  main.append(
    h('h2', null, 'Spam'),
    h(
      'p',
      { class: 'hint' },
      'Joins and leads the bot defence caught: they were answered as a success and held here, counted nowhere. ',
      ctx.can('editor') ? '“Not spam” replays one as if it had just arrived: the lead appears in Leads, the join becomes a participant, with their mails and events. ' : '',
      'What came while the CAPTCHA provider was down went through and is listed as let through.',
    ),
    h('div', { class: 'cards' }, card(figures.held, 'held'), card(figures.released, 'released'), card(figures.passed, 'let through')),
    h(
      'div',
      { class: 'toolbar' },
      h('label', null, 'State', state),
      h('button', { type: 'button', class: 'quiet', onclick: () => load().catch(ctx.fail) }, 'Refresh'),
    ),
    list,
  );
  const load = async () => {
    const only = state.value === 'all' ? '' : `&state=${q(state.value)}`;
    const page = await getJson(`/api/spam?campaign=${q(slug)}${only}&limit=200`);
    for (const [name, figure] of Object.entries(figures)) {
      figure.textContent = String(page.counts?.[name] ?? 0);
    }
    /** @type {any[]} */
    const found = page.spam;
    if (found.length === 0) {
      list.replaceChildren(empty(NOTHING[state.value] ?? NOTHING.all));
      return;
    }
    list.replaceChildren(
      table(
        'Submissions caught, newest first',
        ['When', 'Form', 'Why', 'Who', 'What', 'State', ''],
        found.map((item) =>
          h(
            'tr',
            { 'data-id': item.id, 'data-state': item.state, 'data-reason': item.reason },
            h('td', null, when(item.created_at)),
            h('td', null, item.form),
            h('td', { class: 'reason' }, REASONS[item.reason] ?? item.reason),
            h('td', null, item.submission?.name ?? '', h('br'), h('span', { class: 'hint' }, item.email)),
            h('td', { class: 'clip' }, summary(item)),
            h(
              'td',
              { class: 'status' },
              item.state === 'released' ? `released ${when(item.released_at)}${item.released_by ? ` by ${item.released_by}` : ''}` : item.state,
            ),
            h(
              'td',
              null,
              ctx.can('editor') && item.state === 'held'
                ? h(
                    'button',
                    { type: 'button', class: 'quiet', onclick: () => release(item), 'aria-label': `Not spam: the ${item.form} from ${item.email}` },
                    'Not spam',
                  )
                : '',
            ),
          ),
        ),
      ),
    );
  };
  /** @param {any} item */
  const release = async (item) => {
    try {
      const released = await send('POST', `/api/spam/${q(item.id)}/release`);
      const who = released.submission?.name ?? released.email;
      ctx.done(
        released.form === 'lead'
          ? `The lead from ${who} is released: it is in Leads now.`
          : `${who} is released: they have joined the campaign.`,
      );
    } catch (e) {
      ctx.fail(e);
    }
    await load().catch(ctx.fail);
  };
  state.addEventListener('change', () => load().catch(ctx.fail));
  await load();
  // What is held, let through or released arrives as `team.spam` (and what
  // is written, as a lead or a join, with their own events).
  const again = debounce(() => load().catch(ctx.fail), 500);
  ctx.on('team.lead', again);
  ctx.on('user.joined', again);
  ctx.on('team.spam', again);
}

// The Review view: referrals the fraud checks flagged (the same network or
// device as the referrer, an address like an existing one or at a
// disposable domain, a burst, a pointer that moved like a script). A
// flagged referral counts nowhere public until an editor approves it;
// a rejection is final. Several can be decided at once.
// Its own module (views.js is long enough); it shares views.js's helpers.

import { send, getJson } from './api.js';
import { debounce, empty, h, needCampaign, q, table, when } from './views.js';

/** @typedef {import('./app.js').Context} Context */

/** @type {Record<string, string>} a signal in words */
const SIGNALS = {
  same_network: 'same network as the referrer (or another of their referrals)',
  same_device: 'same device as the referrer',
  similar_email: 'email like an existing participant’s',
  disposable_email: 'disposable email domain',
  too_many: 'more referrals this hour than the campaign allows',
  low_humanity: 'pointer moved like a script',
};

/** @type {Record<string, string>} what an empty list of a status says */
const NOTHING = {
  flagged: 'Nothing to review: no referral raised a signal.',
  rejected: 'No referral was rejected.',
  counted: 'No referral counts yet.',
  all: 'No referrals yet.',
};

/** @param {number | null | undefined} score */
function humanity(score) {
  if (score === null || score === undefined) return 'unknown (no pointer moved)';
  const words = score >= 0.7 ? 'moved like a person' : score < 0.3 ? 'moved like a script' : 'unclear';
  return `${score.toFixed(2)} — ${words}`;
}

/** @param {HTMLElement} main @param {Context} ctx */
export async function review(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const slug = ctx.campaign.slug;
  const editor = ctx.can('editor');
  const status = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'review-status' }, ['flagged', 'rejected', 'counted', 'all'].map((s) => h('option', { value: s }, s)))
  );
  const list = h('div', { id: 'review' });
  /** @type {Set<number>} */
  const chosen = new Set();
  const bulk = (/** @type {'approve' | 'reject'} */ decision, /** @type {string} */ label) =>
    h('button', { type: 'button', class: decision === 'reject' ? 'quiet' : '', 'data-bulk': decision, onclick: () => decide([...chosen], decision) }, label);
  main.append(
    h('h2', null, 'Review'),
    h(
      'p',
      { class: 'hint' },
      'Referrals that raised a fraud signal. They count nowhere public — not on the leaderboard, in milestones, in a referrer’s count or in the metrics — until approved. ',
      editor ? 'Approving one counts it from now on, live; rejecting one is final. ' : '',
      'The humanity score says how the joiner’s pointer moved on the page; unknown is not suspicious (keyboard and screen-reader users move none).',
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('label', null, 'Status', status),
      editor ? bulk('approve', 'Approve selected') : '',
      editor ? bulk('reject', 'Reject selected') : '',
      h('button', { type: 'button', class: 'quiet', onclick: () => load().catch(ctx.fail) }, 'Refresh'),
    ),
    list,
  );
  const load = async () => {
    chosen.clear();
    const page = await getJson(`/api/campaign/${q(slug)}/referrals?status=${q(status.value)}&limit=500`);
    /** @type {any[]} */
    const found = page.referrals;
    if (found.length === 0) {
      list.replaceChildren(empty(NOTHING[status.value] ?? NOTHING.all));
      return;
    }
    list.replaceChildren(
      table(
        'Referrals, oldest first',
        ['', 'When', 'Referrer', 'Joined', 'Signals', 'Humanity', 'Status', ''],
        found.map((r) => row(r)),
      ),
    );
  };
  /** @param {any} r a referral */
  const row = (r) => {
    const flagged = r.status === 'flagged' && editor;
    const pick = flagged
      ? h('input', {
          type: 'checkbox',
          'aria-label': `Select the referral of ${r.referred_email} by ${r.referrer_email}`,
          onchange: (/** @type {Event} */ e) => {
            const box = /** @type {HTMLInputElement} */ (e.target);
            if (box.checked) chosen.add(r.id);
            else chosen.delete(r.id);
          },
        })
      : '';
    const signals = r.signals.length ? h('ul', { class: 'signals' }, r.signals.map((/** @type {string} */ s) => h('li', { 'data-signal': s }, SIGNALS[s] ?? s))) : '—';
    const reviewed = r.reviewed_at ? ` ${when(r.reviewed_at)}${r.reviewed_by ? ` by ${r.reviewed_by}` : ''}` : '';
    return h(
      'tr',
      { 'data-id': r.id, 'data-status': r.status },
      h('td', null, pick),
      h('td', null, when(r.created_at)),
      h('td', null, r.referrer_name, h('br'), h('span', { class: 'hint' }, r.referrer_email)),
      h('td', null, r.referred_name, h('br'), h('span', { class: 'hint' }, r.referred_email)),
      h('td', null, signals),
      h('td', { class: 'humanity' }, humanity(r.humanity)),
      h('td', { class: 'status' }, `${r.status}${reviewed}`),
      h(
        'td',
        null,
        flagged
          ? [
              h('button', { type: 'button', 'data-decide': 'approve', onclick: () => decide([r.id], 'approve'), 'aria-label': `Approve the referral of ${r.referred_email}` }, 'Approve'),
              ' ',
              h('button', { type: 'button', class: 'quiet', 'data-decide': 'reject', onclick: () => decide([r.id], 'reject'), 'aria-label': `Reject the referral of ${r.referred_email}` }, 'Reject'),
            ]
          : '',
      ),
    );
  };
  /** @param {number[]} ids @param {'approve' | 'reject'} decision */
  const decide = async (ids, decision) => {
    if (ids.length === 0) {
      ctx.fail(new Error('Select the referrals to decide first.'));
      return;
    }
    if (decision === 'reject' && !confirm(`Reject ${ids.length === 1 ? 'this referral' : `${ids.length} referrals`}? A rejection is final.`)) return;
    try {
      const answer = await send('POST', `/api/campaign/${q(slug)}/referrals/review`, { ids, decision });
      /** @type {any[]} */
      const results = answer.results;
      const done = results.filter((x) => x.outcome === (decision === 'approve' ? 'approved' : 'rejected')).length;
      const skipped = results.length - done;
      ctx.done(`${done} ${decision === 'approve' ? 'approved: they count now' : 'rejected'}${skipped ? `; ${skipped} had been decided already` : ''}.`);
    } catch (e) {
      ctx.fail(e);
    }
    await load().catch(ctx.fail);
  };
  status.addEventListener('change', () => load().catch(ctx.fail));
  await load();
  // New referrals arrive with joins; another editor's decisions move the
  // leaderboard.
  const again = debounce(() => load().catch(ctx.fail), 500);
  ctx.on('user.joined', again);
  ctx.on('leaderboard', again);
}

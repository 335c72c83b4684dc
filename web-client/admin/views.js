// The dashboard's views. Each renders into `main` from the documented API
// and acts through it; what the key's role may not do has no control.
// Every text from the server is set as text (`h` never parses HTML).
// The Spam and Review views are in spam.js and review.js, which use the
// helpers exported here.

import { api, download, getJson, send } from './api.js';
import uPlot from '/admin/uPlot.esm.js';
import { review } from './review.js';
import { spam } from './spam.js';

/** @typedef {import('./app.js').Context} Context */

/**
 * An element: `h('td', { class: 'num' }, 3)`. Attributes starting with
 * `on` are listeners; `null`/`false` attributes and children are left out.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...any} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** @param {string | null | undefined} at */
export function when(at) {
  if (!at) return '—';
  const date = new Date(at);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** @param {string} text */
export const empty = (text) => h('p', { class: 'empty' }, text);

/**
 * A table with a caption for screen readers.
 * @param {string} caption @param {string[]} head @param {HTMLElement[]} rows
 */
export function table(caption, head, rows) {
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      null,
      h('caption', { class: 'sr-only' }, caption),
      h('thead', null, h('tr', null, head.map((name) => h('th', { scope: 'col' }, name)))),
      h('tbody', null, rows),
    ),
  );
}

/** A campaign is needed; says what to do without one. @param {HTMLElement} main @param {Context} ctx */
export function needCampaign(main, ctx) {
  if (ctx.campaign) return false;
  main.append(
    h('h2', null, 'No campaign yet'),
    empty(
      ctx.can('owner') && !ctx.me.campaign
        ? 'Create one from a campaign file (ovasabi-edge campaigns apply, or PUT /api/campaign/{slug}/file) and it appears here.'
        : 'This key sees no campaign. Ask an owner for a key of the campaign you run.',
    ),
  );
  return true;
}

/**
 * Runs `task` at most once per `ms`, the last call winning.
 * @param {() => void} task @param {number} ms
 */
export function debounce(task, ms) {
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(task, ms);
  };
}

export const q = encodeURIComponent;

// ---------------------------------------------------------------- Live

/** @param {HTMLElement} main @param {Context} ctx */
async function live(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const slug = ctx.campaign.slug;
  const figures = {
    active: h('span', { class: 'figure', id: 'active-now' }, '…'),
    users: h('span', { class: 'figure' }, '…'),
    leads: h('span', { class: 'figure' }, '…'),
    referrals: h('span', { class: 'figure' }, '…'),
  };
  const card = (/** @type {HTMLElement} */ figure, /** @type {string} */ label) =>
    h('div', { class: 'card' }, figure, h('div', { class: 'label' }, label));
  const chart = h('div', { class: 'chart', id: 'live-chart', role: 'img', 'aria-label': 'Visitors, joins, leads and referrals per hour' });
  const hours = h('div');
  const funnel = h('div');
  const board = h('div');
  main.append(
    h('h2', null, `Live: ${ctx.campaign.name}`),
    h(
      'div',
      { class: 'cards' },
      card(figures.active, 'visitors now'),
      card(figures.users, 'joined'),
      card(figures.leads, 'leads'),
      card(figures.referrals, 'referrals'),
    ),
    h('h3', null, 'Over the campaign, per hour'),
    chart,
    hours,
    h('h3', null, 'Funnel by source'),
    funnel,
    ctx.campaign.config?.leaderboard?.enabled ? h('h3', null, 'Leaderboard') : '',
    board,
  );
  /** @type {uPlot | null} */
  let plot = null;
  const load = async () => {
    const metrics = await getJson(`/api/campaign/${q(slug)}/metrics`);
    figures.active.textContent = String(metrics.active ?? 0);
    figures.users.textContent = String(metrics.users ?? 0);
    figures.leads.textContent = String(metrics.leads ?? 0);
    figures.referrals.textContent = String(metrics.referrals ?? 0);
    /** @type {{ hour: string, visitors: number, joins: number, leads: number, referrals: number }[]} */
    const series = metrics.series ?? [];
    const data = /** @type {uPlot.AlignedData} */ ([
      series.map((s) => Date.parse(s.hour) / 1000),
      series.map((s) => s.visitors),
      series.map((s) => s.joins),
      series.map((s) => s.leads),
      series.map((s) => s.referrals),
    ]);
    const busy = series.filter((s) => s.visitors || s.joins || s.leads || s.referrals);
    hours.replaceChildren(
      busy.length === 0
        ? empty('Nothing yet: the chart fills in as visitors come (sampled every minute), join, send leads and refer friends.')
        : h(
            'details',
            null,
            h('summary', null, `Figures per hour (${busy.length} ${busy.length === 1 ? 'hour' : 'hours'} with activity)`),
            table(
              'Figures per hour',
              ['Hour', 'Visitors', 'Joins', 'Leads', 'Referrals'],
              busy
                .slice(-200)
                .reverse()
                .map((s) =>
                  h(
                    'tr',
                    { 'data-hour': s.hour },
                    h('td', null, when(s.hour)),
                    h('td', { class: 'num' }, s.visitors),
                    h('td', { class: 'num', 'data-joins': s.joins }, s.joins),
                    h('td', { class: 'num' }, s.leads),
                    h('td', { class: 'num' }, s.referrals),
                  ),
                ),
            ),
          ),
    );
    const width = Math.max(280, chart.clientWidth || main.clientWidth || 600);
    if (plot) {
      plot.setData(data);
    } else {
      plot = new uPlot(
        {
          width,
          height: 300,
          series: [
            {},
            { label: 'Visitors', stroke: '#0b57d0', width: 2 },
            { label: 'Joins', stroke: '#146c2e', width: 2 },
            { label: 'Leads', stroke: '#b3261e', width: 2 },
            { label: 'Referrals', stroke: '#7b3fa0', width: 2 },
          ],
          // At least a day across, from zero up: one busy hour is a point
          // in its day, not a stretched axis.
          scales: {
            x: { time: true, auto: false },
            y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
          },
          axes: [{}, { label: 'per hour' }],
        },
        data,
        chart,
      );
    }
    const hoursAt = data[0];
    if (hoursAt.length > 0) {
      const first = hoursAt[0];
      plot.setScale('x', { min: first, max: Math.max(hoursAt[hoursAt.length - 1] + 3600, first + 86_400) });
    }
    chart.dataset.points = String(series.length);
    const total = await getJson(`/api/campaign/${q(slug)}/funnel`);
    /** @type {{ source: string, visitors: number, joins: number, leads: number }[]} */
    const sources = total.sources ?? [];
    funnel.replaceChildren(
      sources.length === 0
        ? empty('No visits recorded yet. Sources are the utm_source of the link a visitor came by, or the site that referred them.')
        : table(
            'Funnel by source',
            ['Source', 'Visitors', 'Joins', 'Leads'],
            [...sources, total.total].map((row) =>
              h(
                'tr',
                null,
                h('td', null, row.source),
                h('td', { class: 'num' }, row.visitors),
                h('td', { class: 'num' }, row.joins),
                h('td', { class: 'num' }, row.leads),
              ),
            ),
          ),
    );
    if (ctx.campaign.config?.leaderboard?.enabled) {
      const top = (await getJson(`/api/campaign/${q(slug)}/leaderboard`)).top ?? [];
      board.replaceChildren(
        top.length === 0
          ? empty('No referrals yet.')
          : h('ol', null, top.map((/** @type {any} */ s) => h('li', null, `${s.display_name} — ${s.count}`))),
      );
    }
  };
  await load();
  const again = debounce(() => load().catch(ctx.fail), 1000);
  ctx.on('presence', (data) => {
    figures.active.textContent = String(data.active);
  });
  ctx.on('team.lead', again);
  ctx.on('user.joined', again);
  ctx.on('referral.milestone', again);
  if (onResize) window.removeEventListener('resize', onResize);
  onResize = () => {
    if (chart.isConnected) plot?.setSize({ width: Math.max(280, chart.clientWidth), height: 300 });
  };
  window.addEventListener('resize', onResize);
}

/**
 * The Live chart's resize listener (one, whichever Live view is shown).
 * @type {(() => void) | null}
 */
let onResize = null;

// ---------------------------------------------------------------- Leads

/** @type {Record<string, string[]>} */
const NEXT = { new: ['in_review'], in_review: ['contacted'], contacted: ['won', 'lost'], won: [], lost: [] };

/** @param {HTMLElement} main @param {Context} ctx */
async function leads(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const slug = ctx.campaign.slug;
  const filter = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'lead-filter' }, ['', 'new', 'in_review', 'contacted', 'won', 'lost'].map((s) => h('option', { value: s }, s || 'every status')))
  );
  const list = h('div', { id: 'leads' });
  main.append(
    h('h2', null, 'Leads'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', null, 'Status', filter),
      h('button', { type: 'button', class: 'quiet', onclick: () => exportLeads().catch(ctx.fail) }, 'Export CSV'),
    ),
    list,
  );
  const exportLeads = () =>
    download(`/api/quote?campaign=${q(slug)}${filter.value ? `&status=${q(filter.value)}` : ''}`, `leads-${slug}.csv`);
  const load = async () => {
    const status = filter.value;
    const found = (await getJson(`/api/quote?campaign=${q(slug)}&limit=200${status ? `&status=${q(status)}` : ''}`)).quotes;
    if (found.length === 0) {
      list.replaceChildren(
        empty(status ? `No ${status} leads.` : 'No leads yet: they appear here the moment a visitor sends the quote form.'),
      );
      return;
    }
    list.replaceChildren(
      table(
        'Leads, newest first',
        ['Received', 'Name', 'Email', 'Company', 'Message', 'Status'],
        found.map((/** @type {any} */ lead) => h('tr', { 'data-id': lead.id }, ...leadCells(lead))),
      ),
    );
  };
  /** @param {any} lead */
  const leadCells = (lead) => [
    h('td', null, when(lead.created_at)),
    h('td', null, lead.name),
    h('td', null, h('a', { href: `mailto:${lead.email}` }, lead.email)),
    h('td', null, lead.company ?? ''),
    h('td', { class: 'clip' }, lead.message),
    h('td', { class: 'status' }, statusControl(lead)),
  ];
  /** @param {any} lead */
  const statusControl = (lead) => {
    const next = NEXT[lead.status] ?? [];
    if (!ctx.can('editor') || next.length === 0) return h('span', { 'data-status': lead.status }, lead.status);
    const select = /** @type {HTMLSelectElement} */ (
      h(
        'select',
        { 'aria-label': `Status of the lead from ${lead.name}`, 'data-status': lead.status },
        h('option', { value: lead.status, selected: true }, lead.status),
        next.map((s) => h('option', { value: s }, `→ ${s}`)),
      )
    );
    select.addEventListener('change', async () => {
      select.disabled = true;
      try {
        const moved = await send('PATCH', `/api/quote/${q(lead.id)}`, { status: select.value });
        ctx.done(`The lead from ${moved.name} is now ${moved.status}.`);
        select.closest('td')?.replaceChildren(statusControl(moved));
      } catch (e) {
        ctx.fail(e);
        select.value = lead.status;
        select.disabled = false;
      }
    });
    return select;
  };
  filter.addEventListener('change', () => load().catch(ctx.fail));
  await load();
  ctx.on('team.lead', debounce(() => load().catch(ctx.fail), 150));
}

// ---------------------------------------------------------------- Participants

/** @param {HTMLElement} main @param {Context} ctx */
async function participants(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const slug = ctx.campaign.slug;
  const search = /** @type {HTMLInputElement} */ (h('input', { type: 'search', id: 'participant-search', placeholder: 'ada@ or Ada' }));
  const list = h('div');
  const more = h('div');
  main.append(
    h('h2', null, 'Participants'),
    h(
      'form',
      { class: 'toolbar', role: 'search', onsubmit: (/** @type {Event} */ e) => (e.preventDefault(), load(null).catch(ctx.fail)) },
      h('label', null, 'Search by email or name (the start of it)', search),
      h('button', { type: 'submit' }, 'Search'),
      h(
        'button',
        {
          type: 'button',
          class: 'quiet',
          onclick: () => download(`/api/campaign/${q(slug)}/participants${query()}`, `participants-${slug}.csv`).catch(ctx.fail),
        },
        'Export CSV',
      ),
    ),
    list,
    more,
  );
  const query = () => (search.value.trim() ? `?search=${q(search.value.trim())}` : '');
  /** @type {HTMLElement | null} */
  let body = null;
  /** @param {string | null} cursor */
  const load = async (cursor) => {
    const sep = query() ? '&' : '?';
    const page = await getJson(
      `/api/campaign/${q(slug)}/participants${query()}${sep}limit=100${cursor ? `&cursor=${q(cursor)}` : ''}`,
    );
    const rows = page.participants.map((/** @type {any} */ p) =>
      h(
        'tr',
        null,
        h('td', null, p.display_name),
        h('td', null, p.email),
        h('td', null, when(p.joined_at)),
        h('td', { class: 'num' }, p.referral_count),
        h('td', null, h('code', null, p.referral_code)),
        h('td', null, p.attribution?.utm_source ?? ''),
      ),
    );
    if (!cursor) {
      if (rows.length === 0) {
        list.replaceChildren(empty(search.value ? 'Nobody matches.' : 'Nobody has joined yet.'));
        more.replaceChildren();
        return;
      }
      const t = table('Participants', ['Name', 'Email', 'Joined', 'Referrals', 'Code', 'Source'], rows);
      body = t.querySelector('tbody');
      list.replaceChildren(t);
    } else {
      body?.append(...rows);
    }
    more.replaceChildren(
      page.next_cursor
        ? h('button', { type: 'button', class: 'quiet', onclick: () => load(page.next_cursor).catch(ctx.fail) }, 'Show more')
        : '',
    );
  };
  await load(null);
}

// ---------------------------------------------------------------- Deliveries

/** @param {HTMLElement} main @param {Context} ctx */
async function deliveries(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const slug = ctx.campaign.slug;
  const state = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'delivery-state' }, ['dead', 'pending', 'delivered', 'all'].map((s) => h('option', { value: s }, s)))
  );
  const list = h('div', { id: 'deliveries' });
  const suppressed = h('div', { id: 'suppressions' });
  main.append(
    h('h2', null, 'Deliveries'),
    h('p', { class: 'hint' }, 'What must leave the building: webhooks to the CRM and receivers, and mails. A dead entry failed every attempt; retry it once the receiver is fixed.'),
    h('div', { class: 'toolbar' }, h('label', null, 'State', state)),
    list,
    h('h3', null, 'Suppressed addresses'),
    h('p', { class: 'hint' }, 'Their mail server refused mail for good: no mail is sent to them any more.'),
    suppressed,
  );
  const loadSuppressed = async () => {
    const rows = (await getJson(`/api/mail/suppressions?campaign=${q(slug)}&limit=200`)).suppressions;
    suppressed.replaceChildren(
      rows.length === 0
        ? empty('No address refused mail.')
        : table(
          'Suppressed addresses',
          ['Address', 'Refusal', 'Since'],
          rows.map((/** @type {any} */ r) => h('tr', null, h('td', null, r.email), h('td', { class: 'clip' }, r.reason), h('td', null, when(r.created_at)))),
        ),
    );
  };
  const load = async () => {
    const entries = (await getJson(`/api/outbox?campaign=${q(slug)}&state=${q(state.value)}&limit=200`)).entries;
    if (entries.length === 0) {
      list.replaceChildren(
        empty(state.value === 'dead' ? 'Nothing is dead: every delivery went through or is still being tried.' : `No ${state.value} entries.`),
      );
      return;
    }
    list.replaceChildren(
      table(
        'Outbox entries',
        ['Id', 'Kind', 'Event', 'Receiver', 'Attempts', 'Last error', 'Written', ''],
        entries.map((/** @type {any} */ e) => {
          const undelivered = !e.delivered_at;
          return h(
            'tr',
            { 'data-id': e.id },
            h('td', { class: 'num' }, e.id),
            h('td', null, e.kind),
            h('td', null, e.event_type),
            h('td', { class: 'clip' }, e.target_url ?? 'the default receiver'),
            h('td', { class: 'num' }, e.attempts),
            h('td', { class: 'clip' }, e.last_error ?? ''),
            h('td', null, when(e.created_at)),
            h(
              'td',
              null,
              ctx.can('editor') && undelivered
                ? h('button', { type: 'button', onclick: () => retry(e.id), 'aria-label': `Retry entry ${e.id}` }, 'Retry')
                : e.delivered_at
                  ? `delivered ${when(e.delivered_at)}`
                  : '',
            ),
          );
        }),
      ),
    );
  };
  /** @param {number} id */
  const retry = async (id) => {
    try {
      await send('POST', `/api/outbox/${id}/retry`);
      ctx.done(`Entry ${id} is back in line: it is sent again now.`);
      await load();
    } catch (e) {
      ctx.fail(e);
    }
  };
  state.addEventListener('change', () => load().catch(ctx.fail));
  await Promise.all([load(), loadSuppressed()]);
  ctx.on('team.delivery', debounce(() => Promise.all([load(), loadSuppressed()]).catch(ctx.fail), 150));
}

// ---------------------------------------------------------------- Translations

/** @param {HTMLElement} main @param {Context} ctx */
async function translations(main, ctx) {
  if (needCampaign(main, ctx)) return;
  const campaign = ctx.campaign;
  /** @type {string[]} */
  const locales = campaign.config?.locales ?? [];
  const source = locales[0];
  const targets = locales.slice(1);
  main.append(h('h2', null, 'Translations'));
  if (targets.length === 0) {
    main.append(empty(`The campaign is in ${source ?? 'one language'} only: add locales to its campaign file to translate it.`));
    return;
  }
  const target = /** @type {HTMLSelectElement} */ (h('select', { id: 'translation-target' }, targets.map((l) => h('option', { value: l }, l))));
  const origin = /** @type {HTMLSelectElement} */ (
    h('select', { id: 'translation-origin' }, h('option', { value: '' }, 'machine and human'), h('option', { value: 'machine' }, 'machine only'), h('option', { value: 'override' }, 'human only'))
  );
  const list = h('div', { id: 'translations' });
  const newText = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'new-text', required: true }));
  const newTranslation = /** @type {HTMLTextAreaElement} */ (h('textarea', { id: 'new-translation', required: true }));
  main.append(
    h('p', { class: 'hint' }, `Machine translations from ${source} (LibreTranslate) are kept and served again; a human translation always wins over them.`),
    h('div', { class: 'toolbar' }, h('label', null, 'Language', target), h('label', null, 'Origin', origin)),
    ctx.can('editor')
      ? h(
          'form',
          { id: 'new-override', onsubmit: (/** @type {Event} */ e) => (e.preventDefault(), save(null, newText.value, newTranslation.value)) },
          h('h3', null, 'A human translation'),
          h(
            'div',
            { class: 'form-row' },
            h('label', { class: 'grow' }, `Text (${source})`, newText),
            h('label', { class: 'grow' }, 'Translation', newTranslation),
            h('button', { type: 'submit' }, 'Save translation'),
          ),
        )
      : '',
    list,
  );
  /**
   * Saves a human translation of `text` (of the entry `entry`, whose format
   * and context it keeps).
   * @param {any} entry @param {string} text @param {string} translation
   */
  const save = async (entry, text, translation) => {
    /** @type {Record<string, unknown>} */
    const body = { campaign: campaign.slug, target: target.value, source: entry?.source ?? source, text, translation };
    // A listed entry is overridden under its own stored context (which may
    // be only the hash of a long one).
    if (entry) body.context_key = entry.context_key;
    try {
      await send('PUT', '/api/translate/override', body);
      ctx.done(`Saved: "${text}" is "${translation}" in ${target.value}.`);
      if (!entry) {
        newText.value = '';
        newTranslation.value = '';
      }
      await load();
    } catch (e) {
      ctx.fail(e);
    }
  };
  const load = async () => {
    const entries = (
      await getJson(`/api/translate/memory?campaign=${q(campaign.slug)}&target=${q(target.value)}${origin.value ? `&origin=${origin.value}` : ''}&limit=200`)
    ).entries;
    if (entries.length === 0) {
      list.replaceChildren(empty(`No ${target.value} translations yet: they are kept as the page asks for them (POST /api/translate), or add one above.`));
      return;
    }
    list.replaceChildren(
      table(
        `Translations to ${target.value}`,
        ['Text', 'Translation', 'Origin', 'Where', 'Changed', 'Last served'],
        entries.map((/** @type {any} */ e, /** @type {number} */ i) => {
          const edit = /** @type {HTMLTextAreaElement} */ (h('textarea', { 'aria-label': `Translation of "${e.text}"`, id: `translation-${i}` }));
          edit.value = e.translation;
          return h(
            'tr',
            { 'data-text': e.text },
            h('td', { class: 'clip' }, e.text),
            h(
              'td',
              { class: 'clip' },
              ctx.can('editor')
                ? h('div', null, edit, h('button', { type: 'button', class: 'quiet', onclick: () => save(e, e.text, edit.value) }, 'Save'))
                : e.translation,
            ),
            h('td', null, e.origin === 'override' ? 'human' : 'machine'),
            h('td', null, [e.format, e.context?.page, e.context?.hint].filter(Boolean).join(' · ')),
            h('td', null, when(e.updated_at)),
            h('td', null, when(e.last_used_at)),
          );
        }),
      ),
    );
  };
  target.addEventListener('change', () => load().catch(ctx.fail));
  origin.addEventListener('change', () => load().catch(ctx.fail));
  await load();
}

// ---------------------------------------------------------------- Campaigns

/** @type {Record<string, [string, string][]>} status → [label, next status] */
const MOVES = {
  draft: [['Open', 'active']],
  active: [['Pause', 'paused'], ['End', 'ended']],
  paused: [['Resume', 'active'], ['End', 'ended']],
  ended: [],
};

/** @param {HTMLElement} main @param {Context} ctx */
async function campaigns(main, ctx) {
  main.append(h('h2', null, 'Campaigns'));
  if (ctx.campaigns.length === 0) {
    needCampaign(main, ctx);
    return;
  }
  /** @param {any} c @param {string} status */
  const move = async (c, status) => {
    try {
      await send('PATCH', `/api/campaign/${q(c.slug)}`, { status });
      await ctx.reloadCampaigns();
      ctx.done(`${c.name} is now ${status}.`);
    } catch (e) {
      ctx.fail(e);
    }
  };
  main.append(
    table(
      'Campaigns',
      ['Name', 'Slug', 'Status', 'Opens', 'Closes', ''],
      ctx.campaigns.map((c) =>
        h(
          'tr',
          { 'data-slug': c.slug },
          h('td', null, c.name),
          h('td', null, h('code', null, c.slug)),
          h('td', { class: 'status' }, c.status),
          h('td', null, when(c.starts_at)),
          h('td', null, when(c.ends_at)),
          h(
            'td',
            null,
            ctx.can('editor')
              ? (MOVES[c.status] ?? []).map(([label, status]) => {
                  if (status !== 'ended') {
                    return h('button', { type: 'button', class: 'quiet', onclick: () => move(c, status), 'aria-label': `${label} ${c.name}` }, label);
                  }
                  // Ending is for good: asked twice.
                  const end = h('button', { type: 'button', class: 'quiet', 'aria-label': `End ${c.name}…` }, 'End…');
                  end.addEventListener('click', () =>
                    end.replaceWith(h('button', { type: 'button', class: 'danger', onclick: () => move(c, 'ended') }, `End ${c.name} for good`)),
                  );
                  return end;
                })
              : '',
          ),
        ),
      ),
    ),
    h('h3', null, 'Configuration'),
    h(
      'p',
      { class: 'hint' },
      'Read-only here. A campaign is configured in its campaign file (campaigns/NNN_<slug>.toml in the deployment; its document names it), applied with ',
      h('code', null, 'ovasabi-edge campaigns apply'),
      ' or PUT /api/campaign/{slug}/file; ',
      h('code', null, 'ovasabi-edge campaigns docs'),
      ' writes its document (docs/campaign/), the page developer’s guide to its endpoints and events. ',
      h('a', { href: '/api/docs' }, 'The API reference'),
      '.',
    ),
    ...ctx.campaigns.map((c) => {
      const doc = h('div');
      const show = async () => {
        try {
          const text = await (await api(`/api/campaign/${q(c.slug)}/document`)).text();
          doc.replaceChildren(h('pre', { class: 'document', 'data-document': c.slug }, text));
        } catch (e) {
          ctx.fail(e);
        }
      };
      return h(
        'details',
        null,
        h('summary', null, `${c.name} (${c.slug})`),
        h('pre', null, JSON.stringify(c.config, null, 2)),
        h('button', { type: 'button', class: 'quiet', onclick: show, 'aria-label': `The document of ${c.name}` }, 'Its document: endpoints, events, file'),
        doc,
      );
    }),
  );
}

// ---------------------------------------------------------------- Team

const ROLES = ['viewer', 'editor', 'owner'];

/** @param {HTMLElement} main @param {Context} ctx */
async function team(main, ctx) {
  const me = ctx.me;
  main.append(
    h('h2', null, 'Team'),
    h('p', null, `You are signed in as ${me.name}, ${me.role === 'viewer' ? 'a' : 'an'} ${me.role}${me.campaign ? ` of ${me.campaign}` : ' of every campaign'}.`),
  );
  if (ctx.can('owner')) await keys(main, ctx);
  await audit(main, ctx);
}

/** @param {HTMLElement} main @param {Context} ctx */
async function keys(main, ctx) {
  const name = /** @type {HTMLInputElement} */ (h('input', { id: 'key-name', required: true, maxlength: 80, placeholder: 'Ada (marketing)' }));
  const role = /** @type {HTMLSelectElement} */ (h('select', { id: 'key-role' }, ROLES.map((r) => h('option', { value: r }, r))));
  const scope = /** @type {HTMLSelectElement} */ (
    h(
      'select',
      { id: 'key-campaign' },
      ctx.me.campaign ? null : h('option', { value: '' }, 'every campaign'),
      ctx.campaigns.map((c) => h('option', { value: c.slug }, c.name)),
    )
  );
  const made = h('div', { 'aria-live': 'polite' });
  const list = h('div', { id: 'keys' });
  main.append(
    h('h3', null, 'Keys'),
    h(
      'form',
      { id: 'new-key', onsubmit: (/** @type {Event} */ e) => (e.preventDefault(), create()) },
      h(
        'div',
        { class: 'form-row' },
        h('label', { class: 'grow' }, 'Who holds it', name),
        h('label', null, 'Role', role),
        h('label', null, 'Limited to', scope),
        h('button', { type: 'submit' }, 'Make a key'),
      ),
    ),
    made,
    list,
  );
  const create = async () => {
    try {
      const answer = await send('POST', '/api/admin/keys', {
        name: name.value,
        role: role.value,
        ...(scope.value ? { campaign: scope.value } : {}),
      });
      name.value = '';
      const token = h('code', { class: 'token', id: 'new-token' }, answer.token);
      made.replaceChildren(
        h('p', null, `The key of ${answer.key.name} — copy it now and hand it over privately: it is not shown again.`),
        token,
        h(
          'button',
          {
            type: 'button',
            class: 'quiet',
            onclick: () => navigator.clipboard?.writeText(answer.token).then(() => ctx.done('Copied.'), () => ctx.fail(new Error('could not copy: select the key and copy it'))),
          },
          'Copy',
        ),
      );
      await load();
    } catch (e) {
      ctx.fail(e);
    }
  };
  const load = async () => {
    const all = (await getJson('/api/admin/keys')).keys;
    if (all.length === 0) {
      list.replaceChildren(empty('No named keys yet: make one for each person or system, so that the audit log says who did what.'));
      return;
    }
    list.replaceChildren(
      table(
        'Keys',
        ['Name', 'Role', 'Campaign', 'Key', 'Made', 'By', ''],
        all.map((/** @type {any} */ k) =>
          h(
            'tr',
            { 'data-key': k.id },
            h('td', null, k.name),
            h('td', null, k.role),
            h('td', null, k.campaign ?? 'every campaign'),
            h('td', null, h('code', null, k.hint)),
            h('td', null, when(k.created_at)),
            h('td', null, k.created_by),
            h(
              'td',
              null,
              k.revoked_at
                ? `revoked ${when(k.revoked_at)}`
                : h('button', { type: 'button', class: 'quiet', onclick: () => revoke(k), 'aria-label': `Revoke the key of ${k.name}` }, 'Revoke'),
            ),
          ),
        ),
      ),
    );
  };
  /** @param {any} k */
  const revoke = async (k) => {
    try {
      await send('DELETE', `/api/admin/keys/${k.id}`);
      ctx.done(`The key of ${k.name} is revoked: it opens nothing from now on.`);
      await load();
    } catch (e) {
      ctx.fail(e);
    }
  };
  await load();
}

/** @param {HTMLElement} main @param {Context} ctx */
async function audit(main, ctx) {
  const list = h('div', { id: 'audit' });
  const more = h('div');
  main.append(
    h('h3', null, 'Audit log'),
    h(
      'div',
      { class: 'toolbar' },
      h('button', { type: 'button', class: 'quiet', onclick: () => download('/api/admin/audit', 'audit.csv').catch(ctx.fail) }, 'Export CSV'),
    ),
    list,
    more,
  );
  /** @param {unknown} value */
  const short = (value) => (value === null || value === undefined ? '' : JSON.stringify(value));
  /** @type {HTMLElement | null} */
  let body = null;
  /** @param {number | null} before */
  const load = async (before) => {
    const page = await getJson(`/api/admin/audit?limit=100${before ? `&before=${before}` : ''}`);
    const rows = page.entries.map((/** @type {any} */ e) =>
      h(
        'tr',
        { 'data-action': e.action },
        h('td', null, when(e.at)),
        h('td', null, e.actor),
        h('td', null, e.action),
        h('td', null, e.campaign ?? ''),
        h('td', { class: 'clip' }, e.target),
        h('td', { class: 'clip' }, h('code', null, short(e.before))),
        h('td', { class: 'clip' }, h('code', null, short(e.after))),
      ),
    );
    if (!before) {
      if (rows.length === 0) {
        list.replaceChildren(empty('No changes yet: every status, configuration, override, retry, spam release, erasure and key change is written here.'));
        return;
      }
      const t = table('Audit log, newest first', ['When', 'Who', 'What', 'Campaign', 'Target', 'Before', 'After'], rows);
      body = t.querySelector('tbody');
      list.replaceChildren(t);
    } else {
      body?.append(...rows);
    }
    more.replaceChildren(
      page.next_before ? h('button', { type: 'button', class: 'quiet', onclick: () => load(page.next_before).catch(ctx.fail) }, 'Show older') : '',
    );
  };
  await load(null);
}

/** @type {Record<string, (main: HTMLElement, ctx: Context) => Promise<void>>} */
export const VIEWS = { live, leads, participants, review, deliveries, spam, translations, campaigns, team };

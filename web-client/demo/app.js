// The Ovasabi website campaign demo: live count, everyone's named cursors,
// the campaign's forms and a live feed, over whatever transport the browser has.
// Query parameters: ?campaign=<slug>&transport=auto|webtransport|sse

import { connect, join, verifyEmail, requestQuote, enterReferral, translate, OvasabiError } from '/client/ovasabi.js';

const params = new URLSearchParams(location.search);
const campaign = params.get('campaign') ?? 'ovasabi-website';
const preference = /** @type {'auto' | 'webtransport' | 'sse'} */ (params.get('transport') ?? 'auto');
// The API's origin, when this page is served from another one (?api=https://edge.example.com).
const baseUrl = params.get('api') ?? undefined;

/** @param {string} id */
function $(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing`);
  return element;
}

/** @param {string} id @param {string} text @param {boolean} [error] */
function say(id, text, error = false) {
  const element = $(id);
  element.textContent = text;
  element.classList.toggle('error', error);
}

/** @param {unknown} e */
function explain(e) {
  if (e instanceof OvasabiError) return `${e.message} (${e.code})`;
  return String(e);
}

/** @param {string} text */
function feed(text) {
  const item = document.createElement('li');
  item.textContent = text;
  const list = $('feed');
  list.prepend(item);
  while (list.children.length > 50) list.lastElementChild?.remove();
}

/** @param {string} text */
function toast(text) {
  const element = document.createElement('div');
  element.className = 'toast';
  element.textContent = text;
  $('toasts').append(element);
  setTimeout(() => element.remove(), 5000);
}

/** The campaign's own event types this page shows. */
/** @typedef {{ announcement: { title: string, url?: string }, 'onboarding.completed': { step: string } }} OwnEvents */
/** @type {import('/client/ovasabi.js').Live<OwnEvents>} */
const live = await connect({ campaign, page: location.pathname, transport: preference, baseUrl });
// For people poking at the demo (and the browser tests).
Object.assign(globalThis, { ovasabiLive: live });

/** @param {'webtransport' | 'sse' | null} transport */
const transportName = (transport) =>
  transport === 'webtransport' ? 'WebTransport' : transport === 'sse' ? 'Server-Sent Events (fallback)' : 'connecting…';
/** @param {import('/client/ovasabi.js').Status} status */
function showStatus({ transport, state }) {
  $('transport').textContent = transportName(transport);
  $('state').textContent = state === 'connected' ? '' : `(${state})`;
  document.body.dataset.liveState = state;
  document.body.dataset.transport = transport ?? '';
}
showStatus({ transport: live.transport, state: live.state ?? 'connecting' });
live.on('status', showStatus);
live.on('presence', ({ active }) => {
  $('active').textContent = String(active);
});
live.on('reset', () => feed('(reconnected — some updates were skipped)'));
live.on('event', ({ type, data }) => {
  switch (type) {
    case 'user.joined':
      feed(`${data.display_name} joined`);
      break;
    case 'referral.milestone':
      feed(`${data.user} now has ${data.count} referrals`);
      toast(`🎉 ${data.user} now has ${data.count} referrals!`);
      break;
    case 'lead.created':
      feed(data.service ? `Someone asked for a quote (${data.service})` : 'Someone asked for a quote');
      break;
    case 'lead.status':
      feed(`Your quote is now: ${String(data.status).replace('_', ' ')}`);
      say('quote-result', `Status: ${String(data.status).replace('_', ' ')}`);
      break;
    case 'campaign.status':
      feed(data.open ? 'The campaign is open' : 'The campaign is closed for now');
      break;
    case 'leaderboard':
      break;
    default: {
      // One of the campaign's own event types: its name and data.
      const fields = Object.entries(data ?? {}).map(([k, v]) => `${k}: ${v}`);
      feed(fields.length ? `${type} — ${fields.join(', ')}` : type);
    }
  }
});

// The referral leaderboard, when the campaign shows one: loaded once, then
// replaced by every `leaderboard` event (an older one, by `seq`, is ignored).
let boardSeq = 0;
/** @param {{ display_name: string, count: number }[]} top */
function showBoard(top) {
  $('leaderboard-box').hidden = false;
  $('leaderboard').replaceChildren(
    ...top.map(({ display_name, count }) => {
      const item = document.createElement('li');
      item.textContent = `${display_name} — ${count}`;
      return item;
    }),
  );
}
live.on('leaderboard', ({ seq, top }) => {
  if (seq <= boardSeq) return;
  boardSeq = seq;
  showBoard(top);
});
fetch(`${baseUrl ?? ''}/api/campaign/${encodeURIComponent(campaign)}/leaderboard`)
  .then((r) => (r.ok ? r.json() : null))
  .then((board) => {
    if (board && boardSeq === 0) showBoard(board.top);
  })
  .catch(() => {});

// Everyone's cursors: an arrow in each visitor's colour, with their name once
// they joined (when the campaign shows names).
const layer = $('cursors');
const SVG = 'http://www.w3.org/2000/svg';
/** @type {Map<number, { root: HTMLElement, label: HTMLElement }>} */
const arrows = new Map();
/** @param {number} id */
function arrow(id) {
  let shown = arrows.get(id);
  if (shown) return shown;
  const root = document.createElement('div');
  root.className = 'remote-cursor';
  root.dataset.id = String(id);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 16 20');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '20');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', 'M1 1 L1 16 L5 12 L8 19 L11 18 L8 11 L14 11 Z');
  svg.append(path);
  const label = document.createElement('span');
  label.className = 'cursor-name';
  root.append(svg, label);
  layer.append(root);
  shown = { root, label };
  arrows.set(id, shown);
  return shown;
}
live.on('cursors', (cursors) => {
  layer.style.height = `${document.documentElement.scrollHeight}px`;
  for (const [id, c] of cursors) {
    const { root, label } = arrow(id);
    root.style.transform = `translate(${c.x}px, ${c.y}px)`;
    root.style.opacity = String(c.opacity);
    root.style.setProperty('--colour', c.colour);
    root.classList.toggle('tap', c.kind === 'tap');
    if (label.textContent !== (c.name ?? '')) label.textContent = c.name ?? '';
    label.hidden = !c.name;
  }
  for (const [id, { root }] of arrows) {
    if (!cursors.has(id)) {
      root.remove();
      arrows.delete(id);
    }
  }
});
// Who else is here: named once they joined, with the page they are on when
// the campaign shows it.
function showWhoIsHere() {
  const named = live.visitors.length
    ? live.visitors.filter((v) => v.name).map((v) => (v.page && v.page !== location.pathname ? `${v.name} (${v.page})` : v.name))
    : live.others.filter((o) => o.name).map((o) => o.name);
  $('others').textContent = named.length ? `With you: ${named.join(', ')}` : '';
}
live.on('others', showWhoIsHere);
live.on('visitors', showWhoIsHere);
live.trackPointer();
addEventListener('pagehide', () => live.close());

// Forms.
/** @type {string | null} */
let userToken = null;

/** @param {HTMLFormElement} form @param {string} name */
function field(form, name) {
  const element = form.elements.namedItem(name);
  return element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement ? element.value.trim() : '';
}

$('join-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.currentTarget);
  try {
    const code = field(form, 'code');
    const joined = await join({
      campaign,
      email: field(form, 'email'),
      name: field(form, 'name'),
      locale: document.documentElement.lang,
      ...(code ? { referralCode: code } : {}),
    }, { baseUrl, token: live.token });
    userToken = joined.token;
    // From now on this visitor's cursor carries their name.
    live.setToken(joined.token);
    say('join-result', joined.verified
      ? `Welcome, ${joined.display_name}! Your referral code: ${joined.referral_code}`
      : `Almost there, ${joined.display_name}: open the link we mailed you to confirm your email.`);
  } catch (error) {
    say('join-result', explain(error), true);
  }
});

// Opened from a verification mail (?verify=…): confirm the email, then drop
// the token from the address bar.
const verifyToken = params.get('verify');
if (verifyToken) {
  params.delete('verify');
  history.replaceState(null, '', `${location.pathname}${params.size ? `?${params}` : ''}`);
  verifyEmail(verifyToken, { baseUrl }).then((verified) => {
    userToken = verified.token;
    live.setToken(verified.token);
    say('join-result', verified.status === 'verified'
      ? 'Your email is confirmed: you are in!'
      : 'Your email was confirmed already: you are in.');
  }, (error) => say('join-result', explain(error), true));
}

$('referral-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.currentTarget);
  if (!userToken) {
    say('referral-result', 'Join first, then enter your friend’s code.', true);
    return;
  }
  try {
    const result = await enterReferral({ campaign, code: field(form, 'code') }, { token: userToken, baseUrl });
    say('referral-result', `Thanks! ${result.referrer} now has ${result.count} referrals.`);
  } catch (error) {
    say('referral-result', explain(error), true);
  }
});

$('quote-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = /** @type {HTMLFormElement} */ (e.currentTarget);
  try {
    const company = field(form, 'company');
    const quote = await requestQuote(
      {
        campaign,
        name: field(form, 'name'),
        email: field(form, 'email'),
        message: field(form, 'message'),
        ...(company ? { company } : {}),
        details: { page: location.pathname },
      },
      { token: live.token, baseUrl },
    );
    form.dataset.quoteId = quote.id;
    say('quote-result', `Thanks! Request ${quote.id.slice(0, 8)} received (status: ${quote.status}).`);
  } catch (error) {
    say('quote-result', explain(error), true);
  }
});

// Language switcher: the page's strings through /api/translate.
const strings = [...document.querySelectorAll('[data-i18n]')];
const originals = strings.map((element) => element.textContent ?? '');
const select = /** @type {HTMLSelectElement} */ ($('lang'));
try {
  const info = await (await fetch(`/api/campaign/${encodeURIComponent(campaign)}`)).json();
  const locales = /** @type {string[]} */ (info?.config?.locales ?? ['en']);
  for (const locale of locales) select.append(new Option(locale, locale));
} catch {
  select.append(new Option('en', 'en'));
}
select.addEventListener('change', async () => {
  const target = select.value;
  say('lang-note', '');
  if (target === select.options[0]?.value) {
    strings.forEach((element, i) => { element.textContent = originals[i]; });
    document.documentElement.lang = target;
    return;
  }
  try {
    const result = await translate({ campaign, target, texts: originals, context: { page: location.pathname } }, { baseUrl });
    strings.forEach((element, i) => { element.textContent = result.translations[i]?.text ?? originals[i]; });
    document.documentElement.lang = target;
    if (result.translations.some((/** @type {{ origin: string }} */ t) => t.origin === 'untranslated')) say('lang-note', 'Some texts are not translated yet.');
  } catch (error) {
    say('lang-note', `Translation unavailable: ${explain(error)}`, true);
  }
});

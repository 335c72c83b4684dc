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

// The campaign's public view (its locales, its CAPTCHA): null when it cannot be read.
/** @type {Promise<any>} */
const campaignInfo = fetch(`${baseUrl ?? ''}/api/campaign/${encodeURIComponent(campaign)}`)
  .then((r) => (r.ok ? r.json() : null))
  .catch(() => null);

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

// The campaign's CAPTCHA (`config.forms.captcha` in its public view): the
// provider's widget rendered in each form's `.captcha` box, its token sent as
// `captchaToken`. Without one no script is loaded; when the script cannot
// load (blocked, offline) the page works on and a form's refusal
// (`captcha_required`) is explained.
const CAPTCHA_SCRIPTS = {
  turnstile: 'https://challenges.cloudflare.com/turnstile/v0/api.js',
  hcaptcha: 'https://js.hcaptcha.com/1/api.js',
};
/** Where each provider's widget puts its token in the form. */
const CAPTCHA_INPUTS = { turnstile: 'cf-turnstile-response', hcaptcha: 'h-captcha-response' };

/**
 * What `turnstile` and `hcaptcha` both offer.
 * @typedef {object} CaptchaApi
 * @property {(container: HTMLElement, options: Record<string, unknown>) => string | undefined} render
 * @property {(id?: string) => string | undefined | null} getResponse
 * @property {(id?: string) => void} reset
 */

/** The forms' CAPTCHA widgets. */
class FormCaptcha {
  /** @type {'turnstile' | 'hcaptcha' | null} none until the campaign has one */
  provider = null;
  /** Whether the provider's script could not load. */
  failed = false;
  /** @type {CaptchaApi | null} */
  api = null;
  /** @type {Map<HTMLFormElement, string | undefined>} each form's widget */
  widgets = new Map();

  /**
   * Shows the campaign's CAPTCHA in every form that has a `.captcha` box.
   * @param {{ provider?: string, site_key?: string } | null | undefined} settings
   */
  async start(settings) {
    const provider = settings?.provider;
    if (provider !== 'turnstile' && provider !== 'hcaptcha') return;
    this.provider = provider;
    const boxes = /** @type {HTMLElement[]} */ ([...document.querySelectorAll('form .captcha')]);
    for (const box of boxes) {
      box.hidden = false;
      box.textContent = 'Loading the anti-bot check…';
    }
    try {
      this.api = await loadCaptcha(provider);
      for (const box of boxes) {
        box.replaceChildren();
        const id = this.api.render(box, { sitekey: settings?.site_key });
        this.widgets.set(/** @type {HTMLFormElement} */ (box.closest('form')), id);
      }
    } catch {
      this.failed = true;
      for (const box of boxes) {
        box.textContent = 'The anti-bot check could not load (blocked or offline): this form cannot be sent until it does.';
      }
    }
  }

  /**
   * The token of `form`'s widget ('' before it is solved).
   * @param {HTMLFormElement} form
   */
  token(form) {
    if (!this.provider) return '';
    let token = '';
    if (this.api && this.widgets.has(form)) {
      try {
        token = this.api.getResponse(this.widgets.get(form)) ?? '';
      } catch {
        // gone: read its input below
      }
    }
    return token || field(form, CAPTCHA_INPUTS[this.provider]);
  }

  /**
   * A fresh challenge in `form` (a token is good for one submission).
   * @param {HTMLFormElement} form
   */
  reset(form) {
    if (!this.api || !this.widgets.has(form)) return;
    try {
      this.api.reset(this.widgets.get(form));
    } catch {
      // nothing to reset
    }
  }
}

/**
 * Loads `provider`'s script for explicit rendering; its API once it called
 * back. Rejects when the script is blocked or does not answer in 20 s.
 * @param {'turnstile' | 'hcaptcha'} provider
 * @returns {Promise<CaptchaApi>}
 */
function loadCaptcha(provider) {
  return new Promise((resolve, reject) => {
    const ready = 'ovasabiCaptchaReady';
    const timer = setTimeout(() => reject(new Error('the CAPTCHA did not load')), 20_000);
    Object.assign(globalThis, {
      [ready]: () => {
        clearTimeout(timer);
        const api = /** @type {CaptchaApi | undefined} */ (/** @type {any} */ (globalThis)[provider]);
        if (api) resolve(api);
        else reject(new Error('the CAPTCHA script has no API'));
      },
    });
    const script = document.createElement('script');
    script.src = `${CAPTCHA_SCRIPTS[provider]}?render=explicit&onload=${ready}`;
    script.async = true;
    script.addEventListener('error', () => {
      clearTimeout(timer);
      reject(new Error('the CAPTCHA script cannot load'));
    });
    document.head.append(script);
  });
}

const captcha = new FormCaptcha();
void campaignInfo.then((info) => captcha.start(info?.config?.forms?.captcha));

/**
 * What the bot defence wants with a form: its honeypot (`website`) only when
 * filled (the server refuses the field, even empty, where the campaign names
 * no such honeypot), and the CAPTCHA's token when the campaign has one.
 * @param {HTMLFormElement} form
 * @returns {{ website?: string, captchaToken?: string }}
 */
function botFields(form) {
  const website = field(form, 'website');
  const token = captcha.token(form);
  return { ...(website ? { website } : {}), ...(token ? { captchaToken: token } : {}) };
}

/**
 * Says what went wrong with a form, a CAPTCHA's refusal in words (the
 * submit handlers reset its widget, whatever the answer).
 * @param {string} id the form's result line @param {unknown} error
 */
function refused(id, error) {
  const text = error instanceof OvasabiError && error.code.startsWith('captcha_') ? captchaMessage(error.code) : explain(error);
  say(id, text, true);
}

/** @param {string} code */
function captchaMessage(code) {
  switch (code) {
    case 'captcha_required':
      return captcha.failed
        ? 'The anti-bot check could not load, so this form cannot be sent: reload the page or try again later.'
        : 'Please complete the anti-bot check above the button, then send again.';
    case 'captcha_unavailable':
      return 'The anti-bot check cannot be verified right now: please try again in a moment.';
    default: // captcha_invalid, captcha_reused
      return 'The anti-bot check expired or was not accepted: please complete it again, then send.';
  }
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
      ...botFields(form),
    }, { baseUrl, token: live.token });
    userToken = joined.token;
    // From now on this visitor's cursor carries their name.
    live.setToken(joined.token);
    say('join-result', joined.verified
      ? `Welcome, ${joined.display_name}! Your referral code: ${joined.referral_code}`
      : `Almost there, ${joined.display_name}: open the link we mailed you to confirm your email.`);
  } catch (error) {
    refused('join-result', error);
  } finally {
    captcha.reset(form); // a token is good for one submission
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
        ...botFields(form),
      },
      { token: live.token, baseUrl },
    );
    form.dataset.quoteId = quote.id;
    say('quote-result', `Thanks! Request ${quote.id.slice(0, 8)} received (status: ${quote.status}).`);
  } catch (error) {
    refused('quote-result', error);
  } finally {
    captcha.reset(form); // a token is good for one submission
  }
});

// Language switcher: the page's strings through /api/translate.
const strings = [...document.querySelectorAll('[data-i18n]')];
const originals = strings.map((element) => element.textContent ?? '');
const select = /** @type {HTMLSelectElement} */ ($('lang'));
const info = await campaignInfo;
for (const locale of /** @type {string[]} */ (info?.config?.locales ?? ['en'])) select.append(new Option(locale, locale));
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

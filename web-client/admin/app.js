// The campaign team's dashboard: sign in with a team key, pick a campaign,
// and each view reads and acts through the documented API (views.js).

import { ApiError, follow, getJson, session } from './api.js';
import { VIEWS } from './views.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @typedef {{ name: string, key_id: number | null, role: 'viewer' | 'editor' | 'owner', campaign: string | null }} Me */

const RANK = { viewer: 0, editor: 1, owner: 2 };

/**
 * What a view is given.
 * @typedef {object} Context
 * @property {Me} me
 * @property {any} campaign the selected campaign
 * @property {any[]} campaigns every campaign the key sees
 * @property {(role: 'viewer' | 'editor' | 'owner') => boolean} can
 * @property {(text: string) => void} done a success, said
 * @property {(error: unknown) => void} fail an error, shown as the API's message
 * @property {(type: string, handler: (data: any) => void) => void} on live events of the campaign while the view is shown
 * @property {() => Promise<void>} reloadCampaigns
 */

/** @type {Me | null} */
let me = null;
/** @type {any[]} */
let campaigns = [];
/** @type {(() => void) | null} */
let stopStream = null;
/** @type {Map<string, Set<(data: any) => void>>} */
let listeners = new Map();
/** The view being shown, so that a late answer of another is dropped. */
let showing = 0;

/** @param {string} text @param {boolean} [ok] */
function say(text, ok = false) {
  const box = $('message');
  box.textContent = text;
  box.classList.toggle('ok', ok);
  box.hidden = !text;
}

/** @param {unknown} error */
function fail(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut('Your key is no longer accepted (revoked or mistyped): sign in again.');
    return;
  }
  say(error instanceof Error ? error.message : String(error));
}

/** @param {string} [why] */
function signOut(why = '') {
  session.clear();
  stopStream?.();
  stopStream = null;
  me = null;
  $('app').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = why;
  /** @type {HTMLInputElement} */ ($('key')).value = '';
  $('key').focus();
}

async function signIn() {
  const error = $('sign-in-error');
  try {
    me = await getJson('/api/admin/whoami');
  } catch (e) {
    session.clear();
    error.textContent = e instanceof Error ? e.message : String(e);
    $('sign-in').hidden = false;
    $('app').hidden = true;
    return;
  }
  error.textContent = '';
  $('sign-in').hidden = true;
  $('app').hidden = false;
  const who = /** @type {Me} */ (me);
  $('who').textContent = `${who.name} · ${who.role}${who.campaign ? ` of ${who.campaign}` : ''}`;
  await loadCampaigns();
  await show();
}

async function loadCampaigns() {
  try {
    campaigns = (await getJson('/api/campaign?limit=500')).campaigns;
  } catch (e) {
    fail(e);
    campaigns = [];
  }
  const select = /** @type {HTMLSelectElement} */ ($('campaign'));
  const chosen = sessionStorage.getItem('ovasabi.admin.campaign') ?? select.value;
  select.replaceChildren(
    ...campaigns.map((c) => {
      const option = document.createElement('option');
      option.value = c.slug;
      option.textContent = `${c.name} (${c.status})`;
      return option;
    }),
  );
  if (campaigns.some((c) => c.slug === chosen)) select.value = chosen;
  follow_();
}

function campaign() {
  const slug = /** @type {HTMLSelectElement} */ ($('campaign')).value;
  return campaigns.find((c) => c.slug === slug) ?? null;
}

/** Follows the selected campaign's team stream. */
function follow_() {
  stopStream?.();
  stopStream = null;
  const chosen = campaign();
  const state = $('stream-state');
  if (!chosen) {
    state.textContent = '';
    return;
  }
  state.textContent = 'connecting…';
  stopStream = follow(
    chosen.slug,
    (type, data) => {
      for (const handler of listeners.get(type) ?? []) handler(data);
    },
    (now) => {
      state.textContent = now === 'live' ? 'live' : 'reconnecting…';
      state.dataset.state = now;
    },
  );
}

async function show() {
  const name = location.hash.slice(1) || 'live';
  const view = VIEWS[name] ?? VIEWS.live;
  for (const link of document.querySelectorAll('#views a')) {
    if (link.getAttribute('href') === `#${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  say('');
  listeners = new Map();
  const turn = ++showing;
  const main = $('main');
  main.replaceChildren();
  const who = /** @type {Me} */ (me);
  /** @type {Context} */
  const context = {
    me: who,
    campaign: campaign(),
    campaigns,
    can: (role) => RANK[who.role] >= RANK[role],
    done: (text) => say(text, true),
    fail,
    on: (type, handler) => {
      if (turn !== showing) return;
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type)?.add(handler);
    },
    reloadCampaigns: async () => {
      await loadCampaigns();
      await show();
    },
  };
  try {
    await view(main, context);
  } catch (e) {
    if (turn === showing) fail(e);
  }
}

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = /** @type {HTMLInputElement} */ ($('key')).value.trim();
  if (!key) return;
  session.set(key);
  void signIn();
});
$('sign-out').addEventListener('click', () => signOut());
$('campaign').addEventListener('change', () => {
  sessionStorage.setItem('ovasabi.admin.campaign', /** @type {HTMLSelectElement} */ ($('campaign')).value);
  follow_();
  void show();
});
window.addEventListener('hashchange', () => {
  if (me) void show();
});

if (session.key) void signIn();
else signOut();

// Ovasabi Edge browser client: live presence, events and named cursors over
// the best transport the browser has, plus small helpers for the campaign's
// forms. Plain ES modules with JSDoc types; the package's `.d.ts` files are
// generated from them.
//
//   import { connect } from '@ovasabi/edge-client';
//   const live = await connect({ campaign: 'ovasabi-website' });
//   live.on('presence', ({ active }) => ...);
//   live.on('referral.milestone', ({ user, count }) => ...);   // typed payloads
//   live.on('cursors', (cursors) => ...);   // Map id -> {x, y, name, colour, ...}
//   live.trackPointer();                    // send this visitor's pointer
//
// What happens on each failure is in web-client/README.md.

import { MessageReader, PROTOCOL_VERSION, VERSION, decodeFrame, decodeRoster, dequantize, encodeUplink, quantize } from './protocol.js';
import { CursorField, Throttle, backoff } from './motion.js';

export { decodeFrame, decodeRoster, encodeUplink, quantize, dequantize, CursorField, Throttle, backoff };

/** This client's version: the package's, and the server's `/client/v{version}/` path. */
export const CLIENT_VERSION = '0.2.0';

/**
 * The built-in event types this client listens for: the server's campaign
 * events a page shows (those its catalogue, `server/src/model/events`, marks
 * `browser_client`; a server test holds this list and `CampaignEvents` to
 * it). The stream's own (`presence`, `reset`, cursor and member frames) become
 * the client's own events; the team's are not listened for. A campaign's own
 * types (its `event_types`) are read from the server when connecting; more
 * can be named with `events`.
 */
export const EVENT_TYPES = /** @type {const} */ (['user.joined', 'referral.milestone', 'lead.created', 'lead.status', 'leaderboard', 'campaign.status']);
/** How long a WebTransport handshake may take before the cursors fall back to the event stream. */
export const WEBTRANSPORT_TIMEOUT_MS = 3000;
/** First delay before WebTransport is tried again after a fallback (doubles, up to a minute). */
export const WEBTRANSPORT_RETRY_MS = 5000;
/** Attempts at the first session call before `connect` gives up. */
export const SESSION_ATTEMPTS = 5;

// ---------------------------------------------------------------------------
// Types

/** @typedef {{ active: number }} Presence the distinct visitors on the campaign */
/** @typedef {{ display_name: string }} UserJoined */
/** @typedef {{ user: string, count: number, milestone: number }} ReferralMilestone */
/** @typedef {{ service?: string | null, created_at: string }} LeadCreated */
/** @typedef {'new' | 'in_review' | 'contacted' | 'won' | 'lost'} LeadStatusName */
/** @typedef {{ quote_id: string, status: LeadStatusName }} LeadStatus */
/** @typedef {{ seq: number, top: { display_name: string, count: number }[] }} Leaderboard */
/** @typedef {{ status: 'draft' | 'active' | 'paused' | 'ended', open: boolean, starts_at: string | null, ends_at: string | null }} CampaignStatus */

/**
 * The server's built-in campaign events, by name: what `on(name)` receives.
 * @typedef {{
 *   'user.joined': UserJoined,
 *   'referral.milestone': ReferralMilestone,
 *   'lead.created': LeadCreated,
 *   'lead.status': LeadStatus,
 *   'leaderboard': Leaderboard,
 *   'campaign.status': CampaignStatus,
 * }} CampaignEvents
 */

/**
 * A cursor as drawn: container pixels, interpolated between ticks.
 * @typedef {object} ShownCursor
 * @property {number} id the member's cursor id in this page's room
 * @property {number} x
 * @property {number} y
 * @property {'move' | 'tap' | 'leave'} kind
 * @property {number} opacity 1, fading to 0 after the pointer left
 * @property {string | null} name display name, when the member joined and the campaign shows names
 * @property {string} colour a CSS colour of the member's own
 */

/**
 * Another visitor of this page (or this visitor, as `self`).
 * @typedef {object} Member
 * @property {number} id cursor id in this page's room (changes when the visitor reconnects)
 * @property {string | null} name display name, when they joined and the campaign shows names
 * @property {number} hue the colour's hue, 0–359
 * @property {string} colour a CSS colour derived from their session
 * @property {ShownCursor | null} cursor where their pointer is, if on the page
 */

/**
 * Someone connected to the campaign (when the campaign shows who is here).
 * @typedef {object} Visitor
 * @property {number} id their id in the campaign's presence roster (not a cursor id)
 * @property {string | null} name display name, when they joined and the campaign shows names
 * @property {number} hue
 * @property {string} colour
 * @property {string | null} page the page they are on, when the campaign shows pages
 */

/**
 * @typedef {object} Status
 * @property {'webtransport' | 'sse' | null} transport the cursor channel in use (null: still deciding)
 * @property {'connecting' | 'connected' | 'reconnecting'} state
 */

/**
 * The client's own events.
 * @typedef {{
 *   presence: Presence,
 *   reset: Presence,
 *   status: Status,
 *   cursors: Map<number, ShownCursor>,
 *   others: Member[],
 *   'member.joined': Member,
 *   'member.left': Member,
 *   visitors: Visitor[],
 *   'visitor.joined': Visitor,
 *   'visitor.left': Visitor,
 *   token: { token: string },
 * }} ClientEvents
 */

/**
 * Every event a `Live` emits, by name: the client's own, the built-in
 * campaign events, the campaign's own (`Custom`), and `event` for all of them.
 * @template {object} Custom
 * @typedef {ClientEvents & CampaignEvents & Custom & { event: AnyEvent<CampaignEvents & Custom> }} LiveEvents
 */

/**
 * Any campaign event, with its name and id.
 * @template {object} E
 * @typedef {{ [K in keyof E]: { type: K, id: string, data: E[K] } }[keyof E]} AnyEvent
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} campaign campaign slug
 * @property {string} [page] cursor room; default the page's path
 * @property {string} [baseUrl] the API's origin; default this page's
 * @property {string} [token] a session token to use (a user's, after `join`); default: the stored visitor session, or a new one
 * @property {'auto' | 'webtransport' | 'sse'} [transport] cursor channel; default 'auto'
 * @property {string[]} [events] extra event types to listen for
 * @property {Element | null} [container] the element cursor coordinates are relative to; default the document
 * @property {Storage | null | 'session' | 'local'} [storage] where the session token is kept across reloads; default 'session' (sessionStorage); null keeps nothing
 * @property {number} [webTransportTimeoutMs] handshake timeout; default WEBTRANSPORT_TIMEOUT_MS
 * @property {number} [webTransportRetryMs] first retry delay after a fallback; default WEBTRANSPORT_RETRY_MS
 * @property {boolean} [members] ask who is connected to the campaign (`visitors`), when the campaign shows it; default true
 */

// ---------------------------------------------------------------------------
// REST helpers

/** An error answered by the server: `code` is its stable error code. */
export class OvasabiError extends Error {
  /**
   * @param {number} status HTTP status (0 when the server was not reached)
   * @param {{ code?: string, message?: string, field?: string }} body
   */
  constructor(status, body) {
    super(body.message ?? `request failed (${status})`);
    this.name = 'OvasabiError';
    this.status = status;
    this.code = body.code ?? 'network_error';
    this.field = body.field;
  }
}

/** @param {string | undefined} baseUrl */
function base(baseUrl) {
  return (baseUrl ?? globalThis.location?.origin ?? '').replace(/\/$/, '');
}

/**
 * Calls the REST API; resolves with the JSON body or throws an OvasabiError.
 * @param {string} baseUrl
 * @param {string} path
 * @param {{ method?: string, body?: unknown, token?: string, headers?: Record<string, string> }} [init]
 * @returns {Promise<any>}
 */
export async function api(baseUrl, path, init = {}) {
  /** @type {Record<string, string>} */
  const headers = { ...(init.headers ?? {}) };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let response;
  try {
    response = await fetch(`${base(baseUrl)}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch (e) {
    throw new OvasabiError(0, { code: 'network_error', message: String(e) });
  }
  const text = await response.text();
  /** @type {any} */
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) throw new OvasabiError(response.status, json ?? {});
  return json;
}

/**
 * A connect ticket for the live channels: the one credential that travels in a
 * URL (`EventSource` and `WebTransport` cannot send headers). Valid about a
 * minute, for this session, campaign and client address.
 * @param {string} campaign
 * @param {{ baseUrl?: string, token: string }} options
 * @returns {Promise<{ ticket: string, expires_at: string, expires_in: number }>}
 */
export function connectTicket(campaign, options) {
  return api(base(options.baseUrl), '/api/connect', { body: { campaign }, token: options.token });
}

/**
 * An anonymous visitor session for a campaign. Its first touch (the page's
 * URL, with its UTM parameters, and the referrer) is sent along, so that the
 * joins and leads of the session are attributed to where the visitor came from.
 * @param {string} campaign
 * @param {{ baseUrl?: string, landingPage?: string, referrer?: string }} [options]
 * @returns {Promise<{ session_id: string, token: string, expires_at: string }>}
 */
export function createSession(campaign, options = {}) {
  /** @type {Record<string, string>} */
  const body = { campaign };
  const web = (/** @type {string | undefined} */ url) => (url && /^https?:\/\//.test(url) ? url : undefined);
  const landing = web(options.landingPage ?? globalThis.location?.href);
  const referrer = web(options.referrer ?? globalThis.document?.referrer);
  if (landing) body.landing_page = landing;
  if (referrer) body.referrer = referrer;
  return api(base(options.baseUrl), '/api/session', { body });
}

/**
 * The fields of `join`. `captchaToken` is the token of the campaign's
 * CAPTCHA widget (`config.forms.captcha` in its public view), sent as
 * `captcha_token`. Any other field is sent as given: that is how the
 * campaign's honeypot travels (the hidden input's name and value, e.g.
 * `website: input.value`). The server refuses (422, naming the field) a
 * field the form does not have unless it is the campaign's honeypot
 * (`config.forms.honeypot`, which only the team's view of the campaign
 * shows): a page whose hidden input may not match its campaign sends it
 * only when filled.
 * @typedef {{
 *   campaign: string, email: string, name: string, locale?: string, referralCode?: string, consent?: string,
 *   captchaToken?: string, [field: string]: unknown
 * }} JoinFields
 */

/**
 * The fields of `requestQuote`: `captchaToken` and any other field as in
 * {@link JoinFields}.
 * @typedef {{
 *   campaign: string, name: string, email: string, message: string, company?: string, phone?: string,
 *   budget?: string | number, details?: Record<string, unknown>, consent?: string,
 *   captchaToken?: string, [field: string]: unknown
 * }} QuoteFields
 */

/**
 * The body of a form: `captchaToken` sent as `captcha_token`.
 * @param {Record<string, unknown>} fields
 */
function formBody({ captchaToken, ...rest }) {
  return captchaToken === undefined ? rest : { ...rest, captcha_token: captchaToken };
}

/**
 * Joins the campaign. With the visitor session's `token`, the join is
 * attributed to that session's first touch; `consent` is the version of the
 * consent text agreed to, when the campaign asks for one. Pass the returned
 * token to `live.setToken` so that this visitor's cursor carries their name.
 * Where the campaign verifies emails, the join counts once the link mailed
 * to the address is opened (`verified: false` until then; see `verifyEmail`).
 *
 * A join the campaign's bot defence catches (its honeypot filled, or sent
 * sooner than `config.forms.min_seconds` after the visitor session began) is
 * answered like any other and held for the campaign team. With a CAPTCHA,
 * it rejects with `captcha_required`, `captcha_invalid` or `captcha_reused`
 * (422, field `captcha_token`: reset the widget and send a fresh token) or
 * `captcha_unavailable` (503: try again shortly).
 * @param {JoinFields} fields
 * @param {{ baseUrl?: string, token?: string }} [options]
 * @returns {Promise<{ master_id: string, display_name: string, referral_code: string, token: string, verified: boolean }>}
 */
export function join(fields, options = {}) {
  const { referralCode, ...rest } = fields;
  return api(base(options.baseUrl), '/api/user/register', {
    body: formBody(referralCode ? { ...rest, referral_code: referralCode } : rest),
    token: options.token,
  });
}

/**
 * Verifies a join's email with the token of its verification link (the
 * `verify` parameter the link's page was opened with): from then on the join
 * counts. Answers `verified`, or `already_verified` for a link used before,
 * with a session token of the user; a forged link rejects with
 * `invalid_token` (400), an expired one with `token_expired` (410).
 * @param {string} token
 * @param {{ baseUrl?: string }} [options]
 * @returns {Promise<{ status: 'verified' | 'already_verified', campaign: string, token: string }>}
 */
export function verifyEmail(token, options = {}) {
  return api(base(options.baseUrl), '/api/verify', { body: { token } });
}

/**
 * The caller's own standing: a user's profile, referral code and count, next
 * milestone and quotes; a visitor's quotes.
 * @param {{ baseUrl?: string, token: string }} options
 * @returns {Promise<any>}
 */
export function me(options) {
  return api(base(options.baseUrl), '/api/me', { token: options.token });
}

/**
 * Sends a quote request; the same `idempotencyKey` never makes a second lead.
 * Bot defence and CAPTCHA errors as for {@link join}.
 * @param {QuoteFields} fields
 * @param {{ baseUrl?: string, token?: string, idempotencyKey?: string }} [options]
 * @returns {Promise<{ id: string, status: LeadStatusName }>}
 */
export function requestQuote(fields, options = {}) {
  const key = options.idempotencyKey ?? globalThis.crypto?.randomUUID?.();
  return api(base(options.baseUrl), '/api/quote', {
    body: formBody(fields),
    token: options.token,
    headers: key ? { 'idempotency-key': key } : {},
  });
}

/**
 * Enters a friend's referral code (needs the token from `join`).
 * @param {{ campaign: string, code: string }} fields
 * @param {{ baseUrl?: string, token: string }} options
 * @returns {Promise<{ referrer: string, count: number, counted: boolean }>}
 */
export function enterReferral(fields, options) {
  return api(base(options.baseUrl), '/api/referral', { body: fields, token: options.token });
}

/**
 * Translates texts into one of the campaign's locales.
 * @param {{ campaign: string, target: string, texts: string[], source?: string, format?: 'text' | 'html', context?: { page?: string, locale?: string, hint?: string } }} fields
 * @param {{ baseUrl?: string }} [options]
 * @returns {Promise<{ translations: { text: string, origin: string }[], detected_source?: string }>}
 */
export function translate(fields, options = {}) {
  return api(base(options.baseUrl), '/api/translate', { body: fields });
}

// ---------------------------------------------------------------------------
// Small pure pieces (unit-tested)

/**
 * Whether a session token has expired (or will within `marginS` seconds), read
 * from its own claims; an unreadable token counts as expired.
 * @param {string} token
 * @param {number} [nowMs]
 * @param {number} [marginS]
 */
export function tokenExpired(token, nowMs = Date.now(), marginS = 60) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, '=')));
    return typeof claims.exp !== 'number' || claims.exp * 1000 <= nowMs + marginS * 1000;
  } catch {
    return true;
  }
}

/**
 * Whether an error means the session itself is no good (a new one is needed).
 * @param {unknown} error
 */
export function sessionRefused(error) {
  return error instanceof OvasabiError && error.status === 401 && ['invalid_token', 'token_expired'].includes(error.code);
}

/**
 * A member's colour from its hue.
 * @param {number} hue
 */
export function colourOf(hue) {
  return `hsl(${hue} 70% 42%)`;
}

/**
 * Calls `attempt` until it resolves, waiting `backoff` between tries; gives up
 * after `attempts` with the last error (at once for a 4xx other than 429).
 * @template T
 * @param {() => Promise<T>} attempt
 * @param {number} attempts
 * @param {(ms: number) => Promise<void>} [sleep]
 * @returns {Promise<T>}
 */
export async function retrying(attempt, attempts, sleep = (ms) => new Promise((r) => setTimeout(r, ms))) {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      const final = e instanceof OvasabiError && e.status >= 400 && e.status < 500 && e.status !== 429;
      if (final || i + 1 >= attempts) throw e;
      await sleep(backoff(i));
    }
  }
}

/** @param {ConnectOptions['storage']} storage @returns {Storage | null} */
function resolveStorage(storage) {
  try {
    if (storage === null) return null;
    if (storage === undefined || storage === 'session') return globalThis.sessionStorage ?? null;
    if (storage === 'local') return globalThis.localStorage ?? null;
    return storage;
  } catch {
    return null; // storage refused (privacy settings): nothing is kept
  }
}

/** @param {string} text base64 */
function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

// ---------------------------------------------------------------------------
// The live connection

/**
 * Connects to a campaign's live channels. Resolves once the visitor has a
 * session: the event stream and the cursor channel open in parallel right
 * after, and `status` says when they are up.
 * @template {object} [Custom={}] the campaign's own event types, by name
 * @param {ConnectOptions} options
 * @returns {Promise<Live<Custom>>}
 */
export async function connect(options) {
  const live = /** @type {Live<Custom>} */ (new Live(options));
  await live.start();
  return live;
}

/**
 * A live connection to a campaign.
 * @template {object} [Custom={}] the campaign's own event types, by name
 */
export class Live {
  /** @param {ConnectOptions} options */
  constructor(options) {
    this.baseUrl = base(options.baseUrl);
    this.campaign = options.campaign;
    this.page = options.page ?? globalThis.location?.pathname ?? '/';
    this.preference = options.transport ?? 'auto';
    /** @type {Element | null} */
    this.container = options.container ?? null;
    this.storage = resolveStorage(options.storage);
    this.storageKey = `ovasabi-edge:${this.baseUrl}:${this.campaign}:token`;
    this.token = options.token ?? '';
    this.webTransportTimeoutMs = options.webTransportTimeoutMs ?? WEBTRANSPORT_TIMEOUT_MS;
    this.webTransportRetryMs = options.webTransportRetryMs ?? WEBTRANSPORT_RETRY_MS;
    this.members = options.members ?? true;
    /** @type {string[]} */
    this.eventTypes = [...EVENT_TYPES, ...(options.events ?? [])];
    /** @type {'webtransport' | 'sse' | null} the cursor channel in use; null while deciding */
    this.transport = null;
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this.listeners = new Map();
    this.tickMs = 1000 / 30;
    this.field = new CursorField(this.tickMs);
    this.throttle = new Throttle(this.tickMs, (/** @type {Sample} */ s) => this.sendUplink(s));
    /** The fallback uplink: at most one POST per tick, with the latest sample. */
    this.posts = new Throttle(this.tickMs, (/** @type {Uint8Array} */ bytes) => this.post(bytes));
    this.seq = 0;
    /** @type {Sample | null} the last sample, re-sent when a channel (re)opens */
    this.lastSample = null;
    /** Who the page room's cursors are (and this visitor's own cursor id). */
    this.room = new RosterBook();
    /** Who is connected to the campaign, on which page (`members` events). */
    this.campaignRoster = new RosterBook();
    /** @type {Map<number, ShownCursor>} the cursors as last drawn */
    this.shown = new Map();
    /** @type {{ active: number, self: Member | null, others: Member[], visitors: Visitor[] }} presence as it is now (for late readers, e.g. React) */
    this.presence = { active: 0, self: null, others: [], visitors: [] };
    /** @type {string | null} */
    this.lastEventId = null;
    /** @type {EventSource | null} */
    this.events = null;
    this.eventAttempts = 0;
    /** Which call of `openEvents` is current (a later one supersedes). */
    this.eventGeneration = 0;
    this.eventsOpen = false;
    /** Whether the event stream broke since it last opened. */
    this.eventsBroken = false;
    /** @type {any} */
    this.wt = null;
    /** @type {WritableStreamDefaultWriter<Uint8Array> | null} */
    this.writer = null;
    this.wtUp = false;
    this.wtConnecting = false;
    this.wtRetries = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.wtTimer = null;
    /** @type {Promise<void> | null} a session renewal in flight */
    this.renewing = null;
    this.closed = false;
    this.rendering = false;
    this.everConnected = false;
    /** @type {Status['state'] | null} */
    this.state = null;
    /** @type {Status['transport']} the transport the last 'status' named */
    this.statusTransport = null;
  }

  // -- listeners ------------------------------------------------------------

  /**
   * Listens for an event by name: a campaign event ('user.joined',
   * 'referral.milestone', … or one of the campaign's own) receives its data;
   * 'event' every campaign event with its name and id; 'presence', 'reset',
   * 'status', 'cursors', 'others', 'member.joined', 'member.left', 'token'
   * what the client itself tells.
   * @template {keyof LiveEvents<Custom> & string} K
   * @param {K} type
   * @param {(payload: LiveEvents<Custom>[K]) => void} listener
   * @returns {() => void} stops listening
   */
  on(type, listener) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const any = /** @type {(payload: any) => void} */ (listener);
    set.add(any);
    return () => {
      set.delete(any);
    };
  }

  /** @param {string} type @param {any} payload */
  emit(type, payload) {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(payload);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** Emits 'status' when the state or the cursor channel changed: connected once the event stream and the cursor channel in use are up. */
  updateStatus() {
    const cursorsUp = this.transport === 'webtransport' ? this.wtUp : this.transport === 'sse';
    const up = this.eventsOpen && cursorsUp;
    if (up) this.everConnected = true;
    const state = up ? 'connected' : this.everConnected ? 'reconnecting' : 'connecting';
    if (state !== this.state || this.transport !== this.statusTransport) {
      this.state = state;
      this.statusTransport = this.transport;
      this.emit('status', { transport: this.transport, state });
    }
  }

  // -- session --------------------------------------------------------------

  async start() {
    const stored = this.token ? null : this.storage?.getItem(this.storageKey);
    if (!this.token && stored && !tokenExpired(stored)) this.token = stored;
    if (!this.token) await this.newSession();
    const slug = encodeURIComponent(this.campaign);
    await Promise.all([
      api(this.baseUrl, `/api/campaign/${slug}`).then((campaign) => {
        const hz = campaign?.config?.cursor?.tick_hz;
        if (typeof hz === 'number' && hz > 0) this.setTick(1000 / hz);
      }, () => {}),
      api(this.baseUrl, `/api/campaign/${slug}/event-types`).then((catalogue) => {
        for (const type of catalogue?.event_types ?? []) {
          if (!type.built_in && !this.eventTypes.includes(type.name)) this.eventTypes.push(type.name);
        }
      }, () => {}),
    ]);
    const webtransport = this.preference !== 'sse' && typeof globalThis.WebTransport === 'function';
    if (!webtransport && this.preference === 'webtransport') {
      throw new OvasabiError(0, { code: 'webtransport_unavailable', message: 'this browser has no WebTransport' });
    }
    if (!webtransport) {
      this.transport = 'sse';
      this.updateStatus();
      this.openEvents();
      return;
    }
    // Both at once: live events never wait for the cursor channel.
    this.updateStatus();
    this.openEvents();
    this.connectWebTransport();
  }

  /** @param {number} ms */
  setTick(ms) {
    this.tickMs = ms;
    this.field.tickMs = ms;
    this.throttle.intervalMs = ms;
    this.posts.intervalMs = ms;
  }

  /** A new visitor session (the first call is retried), kept for reloads. */
  async newSession() {
    const session = await retrying(() => createSession(this.campaign, { baseUrl: this.baseUrl }), SESSION_ATTEMPTS);
    this.adoptToken(session.token);
  }

  /** @param {string} token */
  adoptToken(token) {
    this.token = token;
    try {
      this.storage?.setItem(this.storageKey, token);
    } catch {
      // Storage full or refused: the session lasts as long as the page.
    }
    this.emit('token', { token });
  }

  /**
   * Uses another session token from now on (a user's, from `join`: their
   * cursor then carries their name); the live channels reconnect with it.
   * @param {string} token
   */
  setToken(token) {
    this.adoptToken(token);
    this.reconnect();
  }

  /** The server refused the session (expired, or signed with a retired secret): a new one, once for all callers. */
  renewSession() {
    this.renewing ??= this.newSession()
      .catch(() => {
        // Still unreachable: the channels retry with backoff and renew again.
      })
      .finally(() => {
        this.renewing = null;
      });
    return this.renewing;
  }

  /** Reopens every channel (a new token). */
  reconnect() {
    if (this.closed) return;
    this.openEvents();
    if (this.wt) {
      this.closeWebTransport();
      this.connectWebTransport();
    }
  }

  /**
   * A connect ticket; a refused session is renewed first.
   * @returns {Promise<string>}
   */
  async ticket() {
    try {
      return (await connectTicket(this.campaign, { baseUrl: this.baseUrl, token: this.token })).ticket;
    } catch (e) {
      if (!sessionRefused(e)) throw e;
      await this.renewSession();
      return (await connectTicket(this.campaign, { baseUrl: this.baseUrl, token: this.token })).ticket;
    }
  }

  // -- event stream -----------------------------------------------------------

  /**
   * Opens the event stream with a fresh connect ticket, resuming after the
   * last event seen. The browser's own reconnect would reuse the URL, whose
   * ticket expires within a minute, and `EventSource` gives up for good on
   * any answer but 200: so every reconnect is ours. In the SSE fallback the
   * stream carries the page's cursors and rosters too.
   */
  async openEvents() {
    this.events?.close();
    this.events = null;
    this.eventsOpen = false;
    const attempt = ++this.eventGeneration;
    const retry = () => {
      setTimeout(() => {
        if (!this.closed && this.eventGeneration === attempt) this.openEvents();
      }, backoff(this.eventAttempts++));
    };
    let ticket;
    try {
      ticket = await this.ticket();
    } catch {
      retry();
      return;
    }
    if (this.closed || this.eventGeneration !== attempt) return;
    const params = new URLSearchParams({ ticket, page: this.page });
    // Who is on the campaign (if it shows that), and this visitor with them.
    if (this.members) params.set('members', '1');
    const cursors = this.transport === 'sse';
    if (cursors) {
      params.set('cursors', '1');
      params.set('v', String(PROTOCOL_VERSION));
    }
    if (this.lastEventId) params.set('last_event_id', this.lastEventId);
    const source = new EventSource(`${this.baseUrl}/api/campaign/${encodeURIComponent(this.campaign)}/events?${params}`);
    this.events = source;
    const track = (/** @type {MessageEvent} */ e) => {
      if (e.lastEventId) this.lastEventId = e.lastEventId;
    };
    source.addEventListener('presence', (e) => {
      track(e);
      this.setActive(JSON.parse(e.data).active);
    });
    source.addEventListener('reset', (e) => {
      track(e);
      const snapshot = JSON.parse(e.data);
      this.emit('reset', snapshot);
      this.setActive(snapshot.active);
    });
    for (const type of this.eventTypes) {
      source.addEventListener(type, (e) => {
        track(e);
        const data = JSON.parse(e.data);
        this.emit('event', { type, id: e.lastEventId, data });
        this.emit(type, data);
      });
    }
    if (cursors) {
      source.addEventListener('cursors', (e) => this.applyFrameBytes(fromBase64(e.data)));
      source.addEventListener('roster', (e) => this.applyRosterBytes(fromBase64(e.data)));
    }
    source.addEventListener('members', (e) => this.applyMembersBytes(fromBase64(e.data)));
    source.onopen = () => {
      this.eventAttempts = 0;
      this.eventsOpen = true;
      this.updateStatus();
      if (cursors) this.resendLastSample();
      if (this.eventsBroken && this.wt) {
        // The server went away and came back: a datagram session from before
        // may be dead without knowing it yet. Start a new one.
        this.closeWebTransport();
        this.connectWebTransport();
      }
      this.eventsBroken = false;
    };
    source.onerror = () => {
      if (this.closed || this.events !== source) return;
      this.eventsBroken = true;
      this.eventsOpen = false;
      this.updateStatus();
      source.close();
      retry();
    };
  }

  /** @param {number} active */
  setActive(active) {
    this.presence = { ...this.presence, active };
    this.emit('presence', { active });
  }

  // -- WebTransport -------------------------------------------------------------

  /** Tries WebTransport (unless a try is under way); falls back to the event stream when it fails. */
  async connectWebTransport() {
    if (this.wtConnecting || this.closed) return;
    this.wtConnecting = true;
    let up = false;
    try {
      up = await this.openWebTransport();
    } finally {
      this.wtConnecting = false;
    }
    if (this.closed) return;
    if (up) {
      this.wtRetries = 0;
      if (this.transport !== 'webtransport') {
        const fromFallback = this.transport === 'sse';
        this.transport = 'webtransport';
        this.updateStatus();
        // Back from the fallback: the event stream stops carrying cursors.
        if (fromFallback) this.openEvents();
      }
      return;
    }
    if (this.preference === 'auto' && this.transport !== 'sse') {
      // Cursors over the event stream until WebTransport works again.
      this.transport = 'sse';
      this.field.clear();
      this.updateStatus();
      this.openEvents();
    }
    this.scheduleWebTransportRetry();
  }

  scheduleWebTransportRetry() {
    if (this.closed || this.wtTimer !== null) return;
    const delay = backoff(this.wtRetries++, this.webTransportRetryMs, 60_000);
    this.wtTimer = setTimeout(() => {
      this.wtTimer = null;
      this.connectWebTransport();
    }, delay);
  }

  /** @returns {Promise<boolean>} whether a session is up */
  async openWebTransport() {
    /** @type {any} */
    let wt = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    try {
      const [info, ticket] = await Promise.all([api(this.baseUrl, '/api/webtransport'), this.ticket()]);
      const options = info.certificate_hashes.length
        ? {
            serverCertificateHashes: info.certificate_hashes.map((/** @type {{ algorithm: string, value: string }} */ h) => ({
              algorithm: h.algorithm,
              value: fromBase64(h.value),
            })),
          }
        : {};
      const params = new URLSearchParams({ page: this.page, ticket, v: String(PROTOCOL_VERSION) });
      wt = new globalThis.WebTransport(`${info.url}/${encodeURIComponent(this.campaign)}?${params}`, options);
      /** @type {Promise<never>} */
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('handshake timeout')), this.webTransportTimeoutMs);
      });
      await Promise.race([wt.ready, timeout]);
    } catch {
      try {
        wt?.close();
      } catch {
        // Already closed.
      }
      wt?.closed?.catch(() => {});
      return false;
    } finally {
      clearTimeout(timer);
    }
    if (this.closed) {
      wt.close();
      return false;
    }
    this.wt = wt;
    this.writer = wt.datagrams.writable.getWriter();
    this.wtUp = true;
    this.readDatagrams(wt);
    this.readRosters(wt);
    this.updateStatus();
    this.resendLastSample();
    wt.closed.catch(() => {}).finally(() => {
      if (this.wt === wt) this.webTransportLost();
    });
    return true;
  }

  /** @param {any} wt */
  async readDatagrams(wt) {
    const reader = wt.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.applyFrameBytes(value);
      }
    } catch {
      // The session ended; `closed` handles it.
    }
  }

  /** The server's roster stream (protocol version 2): who the cursors are. @param {any} wt */
  async readRosters(wt) {
    try {
      const streams = wt.incomingUnidirectionalStreams.getReader();
      const { value: stream, done } = await streams.read();
      streams.releaseLock();
      if (done) return;
      const reader = stream.getReader();
      const messages = new MessageReader();
      for (;;) {
        const { value, done: ended } = await reader.read();
        if (ended) return;
        for (const message of messages.push(value)) this.applyRosterBytes(message);
      }
    } catch {
      // The session ended (or sent nonsense): `closed` handles it.
    }
  }

  closeWebTransport() {
    const wt = this.wt;
    this.wt = null;
    this.writer = null;
    this.wtUp = false;
    try {
      wt?.close();
    } catch {
      // Already closed.
    }
  }

  webTransportLost() {
    this.wt = null;
    this.writer = null;
    this.wtUp = false;
    if (this.closed) return;
    this.updateStatus();
    // Once more shortly (a blip, a restart); if that fails, the fallback.
    setTimeout(() => this.connectWebTransport(), backoff(0));
  }

  // -- cursors ------------------------------------------------------------------

  /** The page room's roster (who the cursors are). @param {Uint8Array} bytes */
  applyRosterBytes(bytes) {
    const change = this.room.applyBytes(bytes);
    if (!change) return;
    if (change.selfChanged) this.field.clear(); // the ids now name other visitors
    for (const [id, was] of change.left) this.emit('member.left', this.member(id, was));
    for (const id of change.joined) this.emit('member.joined', this.member(id));
    this.updatePresence();
  }

  /** The campaign's presence roster (who is on which page). @param {Uint8Array} bytes */
  applyMembersBytes(bytes) {
    const change = this.campaignRoster.applyBytes(bytes);
    if (!change) return;
    for (const [id, was] of change.left) this.emit('visitor.left', visitorOf(id, was));
    for (const id of change.joined) this.emit('visitor.joined', visitorOf(id, this.campaignRoster.members.get(id)));
    this.updatePresence();
  }

  /**
   * @param {number} id
   * @param {RosterEntry} [known]
   * @returns {Member}
   */
  member(id, known = this.room.members.get(id)) {
    const hue = known?.hue ?? (id * 137) % 360;
    return { id, name: known?.name ?? null, hue, colour: colourOf(hue), cursor: this.shown.get(id) ?? null };
  }

  updatePresence() {
    /** @type {Member[]} */
    const others = [];
    for (const id of this.room.members.keys()) if (id !== this.room.selfId) others.push(this.member(id));
    const self = this.room.selfId === null ? null : this.member(this.room.selfId);
    /** @type {Visitor[]} */
    const visitors = [];
    for (const [id, entry] of this.campaignRoster.members) if (id !== this.campaignRoster.selfId) visitors.push(visitorOf(id, entry));
    this.presence = { active: this.presence.active, self, others, visitors };
    this.emit('others', others);
    this.emit('visitors', visitors);
  }

  /** This visitor's own cursor id in the page's room (null until the server said). */
  get selfId() {
    return this.room.selfId;
  }

  /** Everyone else connected to the campaign, with the page they are on (when the campaign shows who is here). */
  get visitors() {
    return this.presence.visitors;
  }

  /** Other visitors of this page, with their cursors. */
  get others() {
    return this.presence.others.map((m) => this.member(m.id));
  }

  /** This visitor as the others see them (null until the server said). */
  get self() {
    return this.presence.self;
  }

  /** @param {Uint8Array} bytes */
  applyFrameBytes(bytes) {
    let frame;
    try {
      frame = decodeFrame(bytes);
    } catch {
      return;
    }
    const now = performance.now();
    for (const cursor of frame.cursors) {
      if (cursor.id === this.selfId) continue;
      this.field.moveTo(cursor.id, dequantize(cursor.x), dequantize(cursor.y), cursor.kind, now);
    }
    for (const id of frame.removed) this.field.leave(id, now);
    this.render();
  }

  /** The size of the area cursor positions are fractions of. */
  area() {
    const el = this.container;
    if (el) return { width: Math.max(el.scrollWidth, 1), height: Math.max(el.scrollHeight, 1) };
    const doc = globalThis.document?.documentElement;
    const width = Math.max(doc?.scrollWidth ?? 0, globalThis.innerWidth ?? 0, 1);
    const height = Math.max(doc?.scrollHeight ?? 0, globalThis.innerHeight ?? 0, 1);
    return { width, height };
  }

  render() {
    if (this.rendering) return;
    this.rendering = true;
    const step = () => {
      const now = performance.now();
      const { width, height } = this.area();
      /** @type {Map<number, ShownCursor>} */
      const shown = new Map();
      for (const [id, c] of this.field.frame(now)) {
        const who = this.room.members.get(id);
        const hue = who?.hue ?? (id * 137) % 360;
        shown.set(id, { id, x: c.x * width, y: c.y * height, kind: c.kind, opacity: c.opacity, name: who?.name ?? null, colour: colourOf(hue) });
      }
      this.shown = shown;
      this.emit('cursors', shown);
      if (this.field.animating(now) && !this.closed) {
        requestAnimationFrame(step);
      } else {
        this.rendering = false;
      }
    };
    requestAnimationFrame(step);
  }

  /**
   * Sends this visitor's pointer from the container's pointer events (or the
   * document's): moves, taps, and leaving. Returns a function that stops.
   * @returns {() => void}
   */
  trackPointer() {
    const target = this.container ?? globalThis.document;
    const at = (/** @type {PointerEvent} */ e) => this.localPoint(e.clientX, e.clientY, e.pageX, e.pageY);
    const move = (/** @type {Event} */ e) => {
      const p = at(/** @type {PointerEvent} */ (e));
      this.moveCursor(p.x, p.y);
    };
    const down = (/** @type {Event} */ e) => {
      const p = at(/** @type {PointerEvent} */ (e));
      this.tap(p.x, p.y);
    };
    const leave = () => this.leaveCursor();
    const hidden = () => {
      if (globalThis.document?.visibilityState === 'hidden') this.leaveCursor();
    };
    const leaveTarget = this.container ?? globalThis.document?.documentElement;
    target.addEventListener('pointermove', move, { passive: true });
    target.addEventListener('pointerdown', down, { passive: true });
    leaveTarget?.addEventListener('pointerleave', leave);
    globalThis.document?.addEventListener('visibilitychange', hidden);
    return () => {
      target.removeEventListener('pointermove', move);
      target.removeEventListener('pointerdown', down);
      leaveTarget?.removeEventListener('pointerleave', leave);
      globalThis.document?.removeEventListener('visibilitychange', hidden);
    };
  }

  /**
   * A point of the viewport as container coordinates (the page's, without a container).
   * @param {number} clientX @param {number} clientY @param {number} pageX @param {number} pageY
   */
  localPoint(clientX, clientY, pageX, pageY) {
    const el = this.container;
    if (!el) return { x: pageX, y: pageY };
    const rect = el.getBoundingClientRect();
    return { x: clientX - rect.left + el.scrollLeft, y: clientY - rect.top + el.scrollTop };
  }

  /**
   * Moves this visitor's pointer to container coordinates (page coordinates
   * without a container), throttled to the tick.
   * @param {number} x @param {number} y
   */
  moveCursor(x, y) {
    this.throttle.push({ kind: 'move', x, y });
  }

  /**
   * A tap or click at container coordinates.
   * @param {number} x @param {number} y
   */
  tap(x, y) {
    this.throttle.cancel();
    this.sendUplink({ kind: 'tap', x, y });
  }

  /** The pointer left the page. */
  leaveCursor() {
    this.throttle.cancel();
    this.sendUplink({ kind: 'leave', x: 0, y: 0 });
  }

  /** A cursor channel (re)opened: show this visitor's pointer where it is. */
  resendLastSample() {
    if (this.lastSample && this.lastSample.kind !== 'leave') this.sendUplink({ ...this.lastSample, kind: 'move' });
  }

  /** @param {Sample} sample */
  sendUplink(sample) {
    if (this.closed && sample.kind !== 'leave') return;
    const { width, height } = this.area();
    this.lastSample = sample;
    this.seq = (this.seq + 1) >>> 0;
    const bytes = encodeUplink({ version: VERSION, seq: this.seq, kind: sample.kind, x: quantize(sample.x / width), y: quantize(sample.y / height) });
    if (this.transport === 'webtransport' && this.writer) {
      this.writer.write(bytes).catch(() => {});
    } else if (this.transport === 'sse') {
      if (sample.kind === 'leave' && this.closed) this.post(bytes);
      else this.posts.push(bytes);
    }
  }

  /** The fallback uplink: one sample in a POST. @param {Uint8Array} bytes */
  post(bytes) {
    fetch(`${this.baseUrl}/api/campaign/${encodeURIComponent(this.campaign)}/cursor?page=${encodeURIComponent(this.page)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${this.token}` },
      body: /** @type {Uint8Array<ArrayBuffer>} */ (bytes),
      keepalive: true,
    })
      .then(async (response) => {
        if (response.status !== 401) return;
        const body = await response.json().catch(() => ({}));
        if (sessionRefused(new OvasabiError(401, body))) {
          await this.renewSession();
          this.reconnect();
        }
      })
      .catch(() => {});
  }

  /** Leaves and closes every channel. */
  close() {
    if (this.closed) return;
    this.throttle.cancel();
    this.posts.cancel();
    this.closed = true;
    // The last word, sent at once (a POST that outlives the page, or a datagram).
    this.sendUplink({ kind: 'leave', x: 0, y: 0 });
    if (this.wtTimer !== null) clearTimeout(this.wtTimer);
    this.wtTimer = null;
    this.events?.close();
    this.events = null;
    this.closeWebTransport();
  }
}

/** @typedef {{ kind: 'move' | 'tap' | 'leave', x: number, y: number }} Sample */
/** @typedef {{ hue: number, name: string | null, page: string | null }} RosterEntry */

/**
 * @param {number} id
 * @param {RosterEntry | undefined} entry
 * @returns {Visitor}
 */
function visitorOf(id, entry) {
  const hue = entry?.hue ?? (id * 137) % 360;
  return { id, name: entry?.name ?? null, hue, colour: colourOf(hue), page: entry?.page ?? null };
}

/**
 * What a receiver knows of a roster (protocol version 2): who is in, by id,
 * and its own id. A roster with a `self_id` replaces it all.
 */
export class RosterBook {
  constructor() {
    /** @type {number | null} */
    this.selfId = null;
    /** @type {Map<number, RosterEntry>} */
    this.members = new Map();
  }

  /**
   * Applies one roster message; null when it does not decode.
   * @param {Uint8Array} bytes
   * @returns {{ joined: number[], left: [number, RosterEntry][], selfChanged: boolean } | null}
   */
  applyBytes(bytes) {
    let roster;
    try {
      roster = decodeRoster(bytes);
    } catch {
      return null;
    }
    return this.apply(roster);
  }

  /**
   * @param {import('./protocol.js').Roster} roster
   * @returns {{ joined: number[], left: [number, RosterEntry][], selfChanged: boolean }}
   */
  apply(roster) {
    /** @type {[number, RosterEntry][]} */
    const left = [];
    /** @type {number[]} */
    const joined = [];
    let selfChanged = false;
    /** @type {Map<number, RosterEntry>} */
    let before = new Map();
    if (roster.self_id !== null) {
      // A whole roster: it replaces what was known.
      selfChanged = roster.self_id !== this.selfId;
      this.selfId = roster.self_id;
      before = new Map(this.members);
      this.members.clear();
    }
    for (const id of roster.left) {
      const was = this.members.get(id) ?? before.get(id);
      before.delete(id);
      this.members.delete(id);
      if (was && id !== this.selfId) left.push([id, was]);
    }
    for (const m of roster.joined) {
      const isNew = !this.members.has(m.id) && !before.has(m.id);
      before.delete(m.id);
      this.members.set(m.id, { hue: m.hue, name: m.name, page: m.page });
      if (isNew && m.id !== this.selfId) joined.push(m.id);
    }
    // Those the new snapshot no longer lists have left. (A snapshot longer
    // than one message lists the rest in the next ones: they come back as
    // joined.)
    for (const [id, was] of before) if (id !== this.selfId) left.push([id, was]);
    return { joined, left, selfChanged };
  }
}

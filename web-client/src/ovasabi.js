// Ovasabi Edge browser client: live presence, events and cursors over the best
// transport the browser has, plus small helpers for the campaign's forms.
//
//   import { connect } from '/client/ovasabi.js';
//   const live = await connect({ campaign: 'ovasabi-website', page: '/' });
//   live.on('presence', ({ active }) => ...);
//   live.on('event', ({ type, id, data }) => ...);   // every campaign event
//   live.on('onboarding.completed', (data) => ...);   // one type, built-in or the campaign's own
//   live.on('cursors', (cursors) => ...);   // Map id -> {x, y, kind, opacity} in page pixels
//   live.moveCursor(x, y); live.tap(x, y); live.close();

import { decodeFrame, dequantize, encodeUplink, quantize, VERSION } from './protocol.js';
import { CursorField, Throttle, backoff } from './motion.js';

export { decodeFrame, encodeUplink, quantize, dequantize } from './protocol.js';
export { CursorField, Throttle, backoff } from './motion.js';

/**
 * The built-in event types this client listens for. A campaign's own types
 * (its `event_types`) are read from the server when connecting; more can be
 * named with `events`.
 */
export const EVENT_TYPES = ['user.joined', 'referral.milestone', 'lead.created', 'lead.status', 'leaderboard', 'campaign.status'];
/** How long a WebTransport handshake may take before falling back to SSE. */
export const WEBTRANSPORT_TIMEOUT_MS = 3000;

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
 * Joins the campaign. With the visitor session's `token`, the join is
 * attributed to that session's first touch; `consent` is the version of the
 * consent text agreed to, when the campaign asks for one.
 * @param {{ campaign: string, email: string, name: string, locale?: string, referralCode?: string, consent?: string }} fields
 * @param {{ baseUrl?: string, token?: string }} [options]
 * @returns {Promise<{ master_id: string, display_name: string, referral_code: string, token: string }>}
 */
export function join(fields, options = {}) {
  const { referralCode, ...rest } = fields;
  return api(base(options.baseUrl), '/api/user/register', {
    body: referralCode ? { ...rest, referral_code: referralCode } : rest,
    token: options.token,
  });
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
 * @param {{ campaign: string, name: string, email: string, message: string, company?: string, phone?: string, budget?: string | number, details?: Record<string, unknown> }} fields
 * @param {{ baseUrl?: string, token?: string, idempotencyKey?: string }} [options]
 * @returns {Promise<{ id: string, status: string }>}
 */
export function requestQuote(fields, options = {}) {
  const key = options.idempotencyKey ?? globalThis.crypto?.randomUUID?.();
  return api(base(options.baseUrl), '/api/quote', {
    body: fields,
    token: options.token,
    headers: key ? { 'idempotency-key': key } : {},
  });
}

/**
 * Enters a friend's referral code (needs the token from `join`).
 * @param {{ campaign: string, code: string }} fields
 * @param {{ baseUrl?: string, token: string }} options
 * @returns {Promise<{ referrer: string, count: number }>}
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

/**
 * @typedef {object} ConnectOptions
 * @property {string} campaign campaign slug
 * @property {string} [page] room name; default the page's path
 * @property {string} [baseUrl] server origin; default this page's
 * @property {string} [token] session token; default a new visitor session
 * @property {'auto' | 'webtransport' | 'sse'} [transport] default 'auto'
 * @property {string[]} [events] extra event types to listen for
 */

/**
 * Connects to a campaign's live channels.
 * @param {ConnectOptions} options
 * @returns {Promise<Live>}
 */
export async function connect(options) {
  const live = new Live(options);
  await live.start();
  return live;
}

/** @param {string} text base64 */
function fromBase64(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

function pageSize() {
  const doc = globalThis.document?.documentElement;
  const width = Math.max(doc?.scrollWidth ?? 0, globalThis.innerWidth ?? 0, 1);
  const height = Math.max(doc?.scrollHeight ?? 0, globalThis.innerHeight ?? 0, 1);
  return { width, height };
}

/**
 * What each kind of listener receives.
 * @typedef {object} LiveEvents
 * @property {{ active: number }} presence distinct visitors on the campaign
 * @property {{ active: number }} reset events were missed; a fresh snapshot
 * @property {{ type: string, id: string, data: any }} event a campaign event
 * @property {Map<number, { x: number, y: number, kind: string, opacity: number }>} cursors other visitors' cursors in page pixels
 * @property {{ transport: 'webtransport' | 'sse' | null, state: 'connecting' | 'connected' | 'reconnecting' }} status
 */

/** A live connection to a campaign. */
export class Live {
  /** @param {ConnectOptions} options */
  constructor(options) {
    this.baseUrl = base(options.baseUrl);
    this.campaign = options.campaign;
    this.page = options.page ?? globalThis.location?.pathname ?? '/';
    this.token = options.token ?? '';
    this.preference = options.transport ?? 'auto';
    this.eventTypes = [...EVENT_TYPES, ...(options.events ?? [])];
    /** @type {'webtransport' | 'sse' | null} what was actually chosen */
    this.transport = null;
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this.listeners = new Map();
    this.tickMs = 1000 / 30;
    this.field = new CursorField(this.tickMs);
    this.throttle = new Throttle(this.tickMs, (/** @type {{ kind: 'move' | 'tap' | 'leave', x: number, y: number }} */ s) => this.sendUplink(s));
    this.seq = 0;
    /** @type {{ x: number, y: number } | null} */
    this.lastSent = null;
    /** @type {number | null} this visitor's own cursor id, once recognised */
    this.selfId = null;
    /** @type {string | null} */
    this.lastEventId = null;
    /** @type {EventSource | null} */
    this.events = null;
    this.eventAttempts = 0;
    /** Which call of `openEvents` is current (a later one supersedes). */
    this.eventGeneration = 0;
    /** Whether the event stream broke since it last opened. */
    this.eventsBroken = false;
    /** @type {any} */
    this.wt = null;
    /** @type {WritableStreamDefaultWriter<Uint8Array> | null} */
    this.writer = null;
    this.wtAttempts = 0;
    this.closed = false;
    this.rendering = false;
    this.eventsOpen = false;
    this.wtUp = false;
    this.everConnected = false;
    /** @type {string | null} */
    this.state = null;
    /** @type {{ kind: 'move' | 'tap' | 'leave', x: number, y: number } | null} the last sample, re-sent when a channel (re)opens */
    this.lastSample = null;
  }

  /** Emits 'status' when the overall state changed: connected only when every channel in use is up. */
  updateStatus() {
    const up = this.eventsOpen && (this.transport !== 'webtransport' || this.wtUp);
    if (up) this.everConnected = true;
    const state = up ? 'connected' : this.everConnected ? 'reconnecting' : 'connecting';
    if (state !== this.state) {
      this.state = state;
      this.emit('status', { transport: this.transport, state });
    }
  }

  /** A cursor channel (re)opened: show this visitor's pointer where it is. */
  resendLastSample() {
    if (this.lastSample && this.lastSample.kind !== 'leave') this.sendUplink({ ...this.lastSample, kind: 'move' });
  }

  /**
   * Listens for 'presence', 'event', 'cursors', 'reset' or 'status', or for
   * one event type by its name ('user.joined', 'leaderboard', or one of the
   * campaign's own), whose listener receives the event's data.
   * @template {string} K
   * @param {K} type
   * @param {(payload: K extends keyof LiveEvents ? LiveEvents[K] : any) => void} listener
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

  async start() {
    if (!this.token) this.token = (await createSession(this.campaign, { baseUrl: this.baseUrl })).token;
    try {
      const campaign = await api(this.baseUrl, `/api/campaign/${encodeURIComponent(this.campaign)}`);
      const hz = campaign?.config?.cursor?.tick_hz;
      if (typeof hz === 'number' && hz > 0) {
        this.tickMs = 1000 / hz;
        this.field.tickMs = this.tickMs;
        this.throttle.intervalMs = this.tickMs;
      }
    } catch {
      // The defaults serve.
    }
    try {
      const catalogue = await api(this.baseUrl, `/api/campaign/${encodeURIComponent(this.campaign)}/event-types`);
      for (const type of catalogue?.event_types ?? []) {
        if (!type.built_in && !this.eventTypes.includes(type.name)) this.eventTypes.push(type.name);
      }
    } catch {
      // The built-in types serve.
    }
    let webtransport = false;
    if (this.preference !== 'sse' && typeof globalThis.WebTransport === 'function') {
      webtransport = await this.openWebTransport();
    }
    if (this.preference === 'webtransport' && !webtransport) {
      throw new OvasabiError(0, { code: 'webtransport_unavailable', message: 'WebTransport could not connect' });
    }
    this.transport = webtransport ? 'webtransport' : 'sse';
    this.updateStatus();
    this.openEvents();
  }

  /** @returns {Promise<boolean>} whether the session is up */
  async openWebTransport() {
    /** @type {any} */
    let wt = null;
    try {
      const info = await api(this.baseUrl, '/api/webtransport');
      const options = info.certificate_hashes.length
        ? {
            serverCertificateHashes: info.certificate_hashes.map((/** @type {{ algorithm: string, value: string }} */ h) => ({
              algorithm: h.algorithm,
              value: fromBase64(h.value),
            })),
          }
        : {};
      const { ticket } = await connectTicket(this.campaign, { baseUrl: this.baseUrl, token: this.token });
      const url = `${info.url}/${encodeURIComponent(this.campaign)}?page=${encodeURIComponent(this.page)}&ticket=${encodeURIComponent(ticket)}`;
      wt = new globalThis.WebTransport(url, options);
      /** @type {Promise<never>} */
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('handshake timeout')), WEBTRANSPORT_TIMEOUT_MS));
      await Promise.race([wt.ready, timeout]);
    } catch {
      try {
        wt?.close();
      } catch {
        // Already closed.
      }
      return false;
    }
    this.wt = wt;
    this.writer = wt.datagrams.writable.getWriter();
    this.wtAttempts = 0;
    this.wtUp = true;
    this.readDatagrams(wt);
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

  webTransportLost() {
    this.wt = null;
    this.writer = null;
    this.wtUp = false;
    if (this.closed) return;
    this.updateStatus();
    const delay = backoff(this.wtAttempts++);
    setTimeout(async () => {
      if (this.closed) return;
      if (await this.openWebTransport()) {
        return;
      } else if (this.preference === 'auto' && this.wtAttempts >= 3) {
        // Fall back: cursors over the event stream from now on.
        this.transport = 'sse';
        this.eventsOpen = false;
        this.updateStatus();
        this.openEvents();
      } else {
        this.webTransportLost();
      }
    }, delay);
  }

  /**
   * Opens the event stream with a fresh connect ticket. The browser's own
   * reconnect would reuse the URL, whose ticket expires within a minute, and
   * `EventSource` gives up for good on any answer but 200: so every
   * reconnect is ours, with a fresh ticket and the last event id seen.
   */
  async openEvents() {
    this.events?.close();
    const attempt = ++this.eventGeneration;
    let ticket;
    try {
      ({ ticket } = await connectTicket(this.campaign, { baseUrl: this.baseUrl, token: this.token }));
    } catch {
      setTimeout(() => {
        if (!this.closed && this.eventGeneration === attempt) this.openEvents();
      }, backoff(this.eventAttempts++));
      return;
    }
    if (this.closed || this.eventGeneration !== attempt) return;
    const params = new URLSearchParams({ ticket });
    if (this.transport === 'sse') {
      params.set('cursors', '1');
      params.set('page', this.page);
    }
    if (this.lastEventId) params.set('last_event_id', this.lastEventId);
    const source = new EventSource(`${this.baseUrl}/api/campaign/${encodeURIComponent(this.campaign)}/events?${params}`);
    this.events = source;
    const track = (/** @type {MessageEvent} */ e) => {
      if (e.lastEventId) this.lastEventId = e.lastEventId;
    };
    source.addEventListener('presence', (e) => {
      track(e);
      this.emit('presence', JSON.parse(e.data));
    });
    source.addEventListener('reset', (e) => {
      track(e);
      const snapshot = JSON.parse(e.data);
      this.emit('reset', snapshot);
      this.emit('presence', snapshot);
    });
    for (const type of this.eventTypes) {
      source.addEventListener(type, (e) => {
        track(e);
        const data = JSON.parse(e.data);
        this.emit('event', { type, id: e.lastEventId, data });
        this.emit(type, data);
      });
    }
    source.addEventListener('cursors', (e) => this.applyFrameBytes(fromBase64(e.data)));
    source.onopen = () => {
      this.eventAttempts = 0;
      this.eventsOpen = true;
      this.updateStatus();
      if (this.transport === 'sse') this.resendLastSample();
      if (this.eventsBroken && this.wt) {
        // The server went away and came back: a datagram session from before
        // may be dead without knowing it yet. Start a new one.
        try {
          this.wt.close();
        } catch {
          // Already closed: `closed` reconnects.
        }
      }
      this.eventsBroken = false;
    };
    source.onerror = () => {
      if (this.closed || this.events !== source) return;
      this.eventsBroken = true;
      this.eventsOpen = false;
      this.updateStatus();
      // Not the browser's reconnect (its URL's ticket may have expired): ours,
      // with a fresh ticket, resuming from the last event seen.
      source.close();
      setTimeout(() => {
        if (!this.closed && this.events === source) this.openEvents();
      }, backoff(this.eventAttempts++));
    };
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
      if (this.lastSent && cursor.x === this.lastSent.x && cursor.y === this.lastSent.y && cursor.kind !== 'leave') {
        this.selfId = cursor.id;
      }
      if (cursor.id === this.selfId) continue;
      this.field.moveTo(cursor.id, dequantize(cursor.x), dequantize(cursor.y), cursor.kind, now);
    }
    for (const id of frame.removed) this.field.leave(id, now);
    this.render();
  }

  render() {
    if (this.rendering) return;
    this.rendering = true;
    const step = () => {
      const now = performance.now();
      const { width, height } = pageSize();
      /** @type {Map<number, { x: number, y: number, kind: string, opacity: number }>} */
      const shown = new Map();
      for (const [id, c] of this.field.frame(now)) {
        shown.set(id, { x: c.x * width, y: c.y * height, kind: c.kind, opacity: c.opacity });
      }
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
   * Moves this visitor's pointer to page coordinates (throttled to the tick).
   * @param {number} x @param {number} y
   */
  moveCursor(x, y) {
    this.throttle.push({ kind: 'move', x, y });
  }

  /**
   * A tap or click at page coordinates (sent at once).
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

  /** @param {{ kind: 'move' | 'tap' | 'leave', x: number, y: number }} sample */
  sendUplink(sample) {
    if (this.closed && sample.kind !== 'leave') return;
    const { width, height } = pageSize();
    const x = quantize(sample.x / width);
    const y = quantize(sample.y / height);
    this.lastSample = sample;
    this.seq = (this.seq + 1) >>> 0;
    const bytes = encodeUplink({ version: VERSION, seq: this.seq, kind: sample.kind, x, y });
    if (sample.kind !== 'leave') this.lastSent = { x, y };
    if (this.transport === 'webtransport' && this.writer) {
      this.writer.write(bytes).catch(() => {});
      return;
    }
    fetch(`${this.baseUrl}/api/campaign/${encodeURIComponent(this.campaign)}/cursor?page=${encodeURIComponent(this.page)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${this.token}` },
      body: bytes,
      keepalive: true,
    }).catch(() => {});
  }

  /** Leaves and closes every channel. */
  close() {
    if (this.closed) return;
    this.leaveCursor();
    this.closed = true;
    this.events?.close();
    this.events = null;
    try {
      this.wt?.close();
    } catch {
      // Already closed.
    }
    this.wt = null;
  }
}

// The client's connection rules without a browser: sessions kept and renewed,
// the first session call retried, and the fallback uplink batched to one POST
// per tick — against a fake server (fetch) and a fake EventSource.
import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';

import { Live, OvasabiError, connect, retrying, sessionRefused, tokenExpired } from '../src/ovasabi.js';
import { decodeUplink, quantize } from '../src/protocol.js';

/** A token-shaped string whose claims expire at `exp` (Unix seconds). @param {number} exp @param {string} [sub] */
function token(exp, sub = 'visitor') {
  const part = (/** @type {object} */ o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part({ sub, exp })}.signature`;
}
const LATER = Math.floor(Date.now() / 1000) + 3600;

test('a token expired (or about to) is known from its own claims', () => {
  const now = Date.now();
  assert.equal(tokenExpired(token(LATER), now), false);
  assert.equal(tokenExpired(token(Math.floor(now / 1000) + 30), now), true, 'within the minute of margin');
  assert.equal(tokenExpired(token(Math.floor(now / 1000) - 1), now), true);
  assert.equal(tokenExpired('not a token'), true);
});

test('only a refused session asks for a new one', () => {
  assert.ok(sessionRefused(new OvasabiError(401, { code: 'token_expired' })));
  assert.ok(sessionRefused(new OvasabiError(401, { code: 'invalid_token' })));
  assert.ok(!sessionRefused(new OvasabiError(401, { code: 'invalid_ticket' })));
  assert.ok(!sessionRefused(new OvasabiError(503, { code: 'unavailable' })));
});

test('retrying: network errors and 5xx are retried, a 4xx is final, and it gives up', async () => {
  const sleep = async () => {};
  let calls = 0;
  const flaky = () => {
    calls++;
    return calls < 3 ? Promise.reject(new OvasabiError(0, {})) : Promise.resolve('ok');
  };
  assert.equal(await retrying(flaky, 5, sleep), 'ok');
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(retrying(() => { calls++; return Promise.reject(new OvasabiError(404, { code: 'campaign_not_found' })); }, 5, sleep), /request failed|campaign/);
  assert.equal(calls, 1, 'a 404 is not retried');
  calls = 0;
  await assert.rejects(retrying(() => { calls++; return Promise.reject(new OvasabiError(503, {})); }, 4, sleep));
  assert.equal(calls, 4);
});

// --- a fake server and browser -------------------------------------------------

/** @type {{ path: string, auth: string | null, body: any }[]} */
let requests;
/** @type {(path: string, auth: string | null) => { status: number, body: any } | null} */
let answer;
/** @type {FakeEventSource[]} */
let streams;
const saved = { fetch: globalThis.fetch, EventSource: /** @type {any} */ (globalThis).EventSource, raf: globalThis.requestAnimationFrame };

class FakeEventSource {
  /** @param {string} url */
  constructor(url) {
    this.url = new URL(url);
    /** @type {Map<string, (e: any) => void>} */
    this.handlers = new Map();
    /** @type {(() => void) | null} */
    this.onopen = null;
    /** @type {(() => void) | null} */
    this.onerror = null;
    this.closed = false;
    streams.push(this);
    setTimeout(() => this.onopen?.(), 1);
  }

  /** @param {string} type @param {(e: any) => void} handler */
  addEventListener(type, handler) {
    this.handlers.set(type, handler);
  }

  close() {
    this.closed = true;
  }
}

/** A JSON response. @param {number} status @param {any} body */
function reply(status, body) {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

/** The default fake server: sessions, tickets naming the token, campaign settings. */
function server() {
  let sessions = 0;
  return (/** @type {string} */ path, /** @type {string | null} */ auth) => {
    if (path === '/api/session') return { status: 201, body: { token: token(LATER, `s${++sessions}`), session_id: `s${sessions}`, expires_at: '' } };
    if (path === '/api/connect') return { status: 201, body: { ticket: `ticket-for-${auth}`, expires_in: 60 } };
    if (path.endsWith('/event-types')) return { status: 200, body: { event_types: [] } };
    if (path.startsWith('/api/campaign/')) return { status: 200, body: { config: { cursor: { tick_hz: 30 } } } };
    return null;
  };
}

beforeEach(() => {
  requests = [];
  streams = [];
  answer = server();
  globalThis.fetch = async (input, init) => {
    const url = new URL(String(input));
    const headers = /** @type {Record<string, string>} */ (init?.headers ?? {});
    const auth = headers.authorization?.replace('Bearer ', '') ?? null;
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : init?.body ?? null;
    requests.push({ path: url.pathname, auth, body });
    const answered = answer(url.pathname, auth);
    if (answered) return reply(answered.status, answered.body);
    if (url.pathname.endsWith('/cursor')) return new Response(null, { status: 204 });
    return reply(404, { code: 'not_found' });
  };
  /** @type {any} */ (globalThis).EventSource = FakeEventSource;
  globalThis.requestAnimationFrame = (fn) => /** @type {any} */ (setTimeout(() => fn(performance.now()), 16));
});

afterEach(() => {
  globalThis.fetch = saved.fetch;
  /** @type {any} */ (globalThis).EventSource = saved.EventSource;
  globalThis.requestAnimationFrame = saved.raf;
});

/** A Storage in memory. */
function memoryStorage() {
  const items = new Map();
  return /** @type {Storage} */ (/** @type {unknown} */ ({
    getItem: (/** @type {string} */ k) => items.get(k) ?? null,
    setItem: (/** @type {string} */ k, /** @type {string} */ v) => items.set(k, v),
    removeItem: (/** @type {string} */ k) => items.delete(k),
  }));
}

/** @param {() => boolean} done */
async function until(done, ms = 2000) {
  const started = Date.now();
  while (!done()) {
    if (Date.now() - started > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const BASE = 'http://edge.test';

test('a session is kept: the next page (a reload) is the same visitor; an expired one is replaced', async () => {
  const storage = memoryStorage();
  const first = await connect({ campaign: 'c', baseUrl: BASE, storage, transport: 'sse' });
  const kept = first.token;
  first.close();
  const second = await connect({ campaign: 'c', baseUrl: BASE, storage, transport: 'sse' });
  assert.equal(second.token, kept, 'the stored session is used again');
  assert.equal(requests.filter((r) => r.path === '/api/session').length, 1);
  second.close();
  storage.setItem('ovasabi-edge:http://edge.test:c:token', token(Math.floor(Date.now() / 1000) - 10));
  const third = await connect({ campaign: 'c', baseUrl: BASE, storage, transport: 'sse' });
  assert.notEqual(third.token, kept);
  assert.equal(requests.filter((r) => r.path === '/api/session').length, 2, 'an expired session is not tried');
  third.close();
});

test('the first session call is retried until the server answers', async () => {
  const normal = server();
  let failures = 2;
  answer = (path, auth) => {
    if (path === '/api/session' && failures-- > 0) return { status: 503, body: { code: 'unavailable' } };
    return normal(path, auth);
  };
  const live = await connect({ campaign: 'c', baseUrl: BASE, storage: null, transport: 'sse' });
  assert.equal(requests.filter((r) => r.path === '/api/session').length, 3);
  assert.ok(live.token);
  live.close();
});

test('a refused session is replaced and the channels reconnect with the new one', async () => {
  const normal = server();
  const dead = token(LATER, 'retired-secret');
  answer = (path, auth) => {
    if (path === '/api/connect' && auth === dead) return { status: 401, body: { code: 'invalid_token', message: 'no' } };
    return normal(path, auth);
  };
  const live = new Live({ campaign: 'c', baseUrl: BASE, storage: null, transport: 'sse', token: dead });
  /** @type {string[]} */
  const renewed = [];
  live.on('token', ({ token }) => renewed.push(token));
  await live.start();
  await until(() => streams.length > 0);
  assert.equal(renewed.length, 1, 'one new session');
  assert.notEqual(live.token, dead);
  assert.equal(streams[0].url.searchParams.get('ticket'), `ticket-for-${live.token}`);
  assert.equal(streams[0].url.searchParams.get('v'), '2', 'the fallback stream asks for rosters');
  live.close();
});

test('the event stream reconnects itself with a fresh ticket and the last event id', async () => {
  const live = await connect({ campaign: 'c', baseUrl: BASE, storage: null, transport: 'sse' });
  await until(() => live.state === 'connected');
  const stream = streams[0];
  stream.handlers.get('presence')?.({ data: '{"active":3}', lastEventId: '42-0' });
  stream.onerror?.();
  assert.equal(live.state, 'reconnecting');
  await until(() => streams.length === 2, 3000);
  assert.equal(streams[1].url.searchParams.get('last_event_id'), '42-0');
  assert.equal(requests.filter((r) => r.path === '/api/connect').length, 2, 'a ticket per connection');
  await until(() => live.state === 'connected');
  live.close();
});

test('the fallback uplink sends at most one POST per tick, with the latest sample', async () => {
  const container = /** @type {Element} */ (/** @type {unknown} */ ({ scrollWidth: 1000, scrollHeight: 1000 }));
  const live = await connect({ campaign: 'c', baseUrl: BASE, storage: null, transport: 'sse', container });
  await until(() => live.state === 'connected');
  const started = performance.now();
  for (let i = 1; i <= 60; i++) {
    live.moveCursor(i, i);
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 100));
  const elapsed = performance.now() - started;
  const posts = requests.filter((r) => r.path.endsWith('/cursor'));
  const ticks = Math.ceil(elapsed / live.tickMs) + 1;
  assert.ok(posts.length <= ticks, `${posts.length} posts in ${elapsed.toFixed(0)} ms (${ticks} ticks)`);
  assert.ok(posts.length >= 2, 'moves are sent');
  const last = decodeUplink(new Uint8Array(posts.at(-1)?.body));
  assert.equal(last.kind, 'move');
  assert.equal(last.x, quantize(60 / 1000), 'the last sample is the latest move');
  assert.ok(last.seq >= posts.length, 'sequence numbers grow');
  live.close();
});

// React bindings of the Ovasabi Edge client (`@ovasabi/edge-client/react`):
// a provider that owns one live connection, and hooks that read it through
// `useSyncExternalStore`, so that a component re-renders only when what it
// reads changed.
//
//   <OvasabiProvider campaign="ovasabi-website" baseUrl="https://edge.example.com">
//     <App />
//   </OvasabiProvider>
//
//   const { live, status, error } = useOvasabi();
//   const { active, others, self } = usePresence();
//   const cursors = useCursors();            // [{ id, x, y, name, colour, opacity, kind }]
//   useEvent('referral.milestone', (e) => toast(`${e.user}: ${e.count}`));

import { createContext, createElement, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore } from 'react';

import { connect } from './ovasabi.js';

/** @typedef {import('./ovasabi.js').ConnectOptions} ConnectOptions */
/** @typedef {import('./ovasabi.js').Member} Member */
/** @typedef {import('./ovasabi.js').ShownCursor} ShownCursor */
/** @typedef {import('./ovasabi.js').Status} Status */

/**
 * What `useOvasabi` returns.
 * @template {object} [Custom={}]
 * @typedef {object} OvasabiState
 * @property {import('./ovasabi.js').Live<Custom> | null} live the connection, once made
 * @property {Status} status
 * @property {import('./ovasabi.js').OvasabiError | Error | null} error why `connect` failed, if it did
 */

/** @type {OvasabiState<any>} */
const IDLE = { live: null, status: { transport: null, state: 'connecting' }, error: null };
const Context = createContext(IDLE);
const NO_CURSORS = /** @type {ShownCursor[]} */ ([]);
const NO_PRESENCE = {
  active: 0,
  self: /** @type {Member | null} */ (null),
  others: /** @type {Member[]} */ ([]),
  visitors: /** @type {import('./ovasabi.js').Visitor[]} */ ([]),
};

/**
 * Owns one live connection for its children; closes it when unmounted or
 * when `campaign`, `baseUrl`, `page` or `transport` change.
 * @param {ConnectOptions & { children?: import('react').ReactNode }} props
 */
export function OvasabiProvider(props) {
  const { children, ...options } = props;
  const [state, setState] = useState(/** @type {OvasabiState<any>} */ (IDLE));
  // Options other than these are read once per connection.
  const latest = useRef(options);
  latest.current = options;
  const { campaign, baseUrl, page, transport, token } = options;
  useEffect(() => {
    let cancelled = false;
    /** @type {import('./ovasabi.js').Live<any> | null} */
    let live = null;
    setState(IDLE);
    connect({ ...latest.current }).then(
      (made) => {
        if (cancelled) {
          made.close();
          return;
        }
        live = made;
        setState({ live: made, status: { transport: made.transport, state: made.state ?? 'connecting' }, error: null });
        made.on('status', (status) => setState((s) => ({ ...s, status })));
      },
      (error) => {
        if (!cancelled) setState({ ...IDLE, error });
      },
    );
    return () => {
      cancelled = true;
      live?.close();
    };
  }, [campaign, baseUrl, page, transport, token]);
  return createElement(Context.Provider, { value: state }, children);
}

/**
 * The connection of the nearest `OvasabiProvider`: `live` (null while
 * connecting), its `status`, and the `error` if it could not connect.
 * @template {object} [Custom={}] the campaign's own event types, by name
 * @returns {OvasabiState<Custom>}
 */
export function useOvasabi() {
  return useContext(Context);
}

/**
 * A value of the live connection that changes on some of its events.
 * @template T
 * @param {import('./ovasabi.js').Live<any> | null} live
 * @param {string[]} events
 * @param {(live: import('./ovasabi.js').Live<any>) => T} read must return the same value until one of `events`
 * @param {T} idle
 * @returns {T}
 */
function useLiveValue(live, events, read, idle) {
  const names = events.join(' ');
  // The same function while the connection is: React resubscribes when it changes.
  const subscribe = useCallback(
    (/** @type {() => void} */ changed) => {
      if (!live) return () => {};
      const stops = names.split(' ').map((name) => live.on(/** @type {any} */ (name), changed));
      return () => stops.forEach((stop) => stop());
    },
    [live, names],
  );
  return useSyncExternalStore(subscribe, () => (live ? read(live) : idle), () => idle);
}

/**
 * Who is here: `active` (distinct visitors on the campaign), `others` (the
 * other visitors of this page, with name and colour), `self`, and
 * `visitors` (everyone on the campaign, with their page, when the campaign
 * shows who is here).
 * @returns {{ active: number, self: Member | null, others: Member[], visitors: import('./ovasabi.js').Visitor[] }}
 */
export function usePresence() {
  const { live } = useContext(Context);
  return useLiveValue(live, ['presence', 'others', 'visitors'], (l) => l.presence, NO_PRESENCE);
}

/**
 * The other visitors' cursors as drawn now (container pixels, interpolated,
 * with name and colour), re-rendered on every animation frame they move.
 * @returns {ShownCursor[]}
 */
export function useCursors() {
  const { live } = useContext(Context);
  const cache = useRef({ map: /** @type {Map<number, ShownCursor> | null} */ (null), list: NO_CURSORS });
  return useLiveValue(
    live,
    ['cursors'],
    (l) => {
      if (cache.current.map !== l.shown) cache.current = { map: l.shown, list: [...l.shown.values()] };
      return cache.current.list;
    },
    NO_CURSORS,
  );
}

/**
 * Calls `handler` for every event `name` (a campaign event, built-in or the
 * campaign's own, or one of the client's). The latest handler is called;
 * changing it does not resubscribe.
 * @template {object} [Custom={}]
 * @template {keyof import('./ovasabi.js').LiveEvents<Custom> & string} [K=keyof import('./ovasabi.js').LiveEvents<Custom> & string]
 * @param {K} name
 * @param {(payload: import('./ovasabi.js').LiveEvents<Custom>[K]) => void} handler
 */
export function useEvent(name, handler) {
  const { live } = useContext(Context);
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!live) return undefined;
    return live.on(/** @type {any} */ (name), (payload) => latest.current(payload));
  }, [live, name]);
}

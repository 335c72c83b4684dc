// The dashboard's one way to the server. The team key lives in this tab's
// sessionStorage only and travels as `Authorization: Bearer` — never in a
// URL: downloads and the live stream go through fetch too.

const KEY = 'ovasabi.admin.key';

/** The signed-in key of this tab. */
export const session = {
  /** @returns {string | null} */
  get key() {
    return sessionStorage.getItem(KEY);
  },
  /** @param {string} key */
  set(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** What the API refused, with its own message. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ code?: string, message?: string, field?: string } | null} body
   */
  constructor(status, body) {
    super(body?.message ?? (status ? `the server answered ${status}` : 'the server cannot be reached'));
    this.status = status;
    this.code = body?.code ?? null;
    this.field = body?.field ?? null;
  }
}

/**
 * A request with the team key; rejects with an {@link ApiError} unless 2xx.
 * @param {string} path
 * @param {{ method?: string, body?: unknown, accept?: string }} [options]
 */
export async function api(path, { method = 'GET', body, accept } = {}) {
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${session.key ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (accept) headers.accept = accept;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { message: 'the server cannot be reached: check the connection and try again' });
  }
  if (!response.ok) {
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      // not a JSON error: the status says it
    }
    throw new ApiError(response.status, payload);
  }
  return response;
}

/**
 * `GET path` as JSON.
 * @param {string} path
 * @returns {Promise<any>}
 */
export async function getJson(path) {
  return (await api(path)).json();
}

/**
 * A JSON request with a JSON body; its JSON answer.
 * @param {string} method @param {string} path @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function send(method, path, body) {
  return (await api(path, { method, body })).json();
}

/**
 * Saves `path` as CSV under `filename`, fetched with the key in a header
 * (a link would have to carry it in its URL).
 * @param {string} path @param {string} filename
 */
export async function download(path, filename) {
  const response = await api(path, { accept: 'text/csv' });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Follows campaign `slug`'s event stream as its team (fetch, so that the key
 * is a header): `onEvent(type, data)` for each event, `onState` with `live`
 * or `reconnecting`; resumes after a drop with `Last-Event-ID`.
 * @param {string} slug
 * @param {(type: string, data: any) => void} onEvent
 * @param {(state: 'live' | 'reconnecting') => void} [onState]
 * @returns {() => void} stops it
 */
export function follow(slug, onEvent, onState) {
  let stopped = false;
  /** @type {AbortController | null} */
  let controller = null;
  /** @type {string | null} */
  let last = null;
  let delay = 500;
  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      try {
        /** @type {Record<string, string>} */
        const headers = { authorization: `Bearer ${session.key ?? ''}`, accept: 'text/event-stream' };
        if (last) headers['last-event-id'] = last;
        const response = await fetch(`/api/campaign/${encodeURIComponent(slug)}/events`, {
          headers,
          signal: controller.signal,
        });
        if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
        onState?.('live');
        delay = 500;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = 'message';
            const data = [];
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              let text = colon < 0 ? '' : line.slice(colon + 1);
              if (text.startsWith(' ')) text = text.slice(1);
              if (field === 'event') type = text;
              else if (field === 'data') data.push(text);
              else if (field === 'id') last = text;
            }
            if (data.length === 0) continue;
            let parsed;
            try {
              parsed = JSON.parse(data.join('\n'));
            } catch {
              parsed = data.join('\n');
            }
            onEvent(type, parsed);
          }
        }
      } catch {
        if (stopped) return;
      }
      if (stopped) return;
      onState?.('reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 10_000);
    }
  };
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

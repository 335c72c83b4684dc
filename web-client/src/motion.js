// Smooth remote cursors and throttled pointer sampling, independent of the DOM
// so that node's test runner can check them.

/** @typedef {import('./protocol.js').PointerKind} PointerKind */
/** @typedef {{ x: number, y: number, kind: PointerKind, opacity: number }} ShownCursor */

/**
 * Remote cursors between ticks: each new position is reached over one tick
 * (so what is shown is at most one tick behind), and a cursor that left fades
 * out over `fadeMs`. Positions are fractions of the page (0..1).
 */
export class CursorField {
  /**
   * @param {number} tickMs time between server ticks
   * @param {number} [fadeMs] fade-out time of a cursor that left
   */
  constructor(tickMs, fadeMs = 400) {
    this.tickMs = tickMs;
    this.fadeMs = fadeMs;
    /** @type {Map<number, { fromX: number, fromY: number, toX: number, toY: number, at: number, kind: PointerKind, leftAt: number | null }>} */
    this.cursors = new Map();
  }

  /**
   * A new position for cursor `id` received at `now`.
   * @param {number} id
   * @param {number} x
   * @param {number} y
   * @param {PointerKind} kind
   * @param {number} now milliseconds
   */
  moveTo(id, x, y, kind, now) {
    const known = this.cursors.get(id);
    if (known && known.leftAt === null) {
      const shown = this.positionOf(known, now);
      this.cursors.set(id, { fromX: shown.x, fromY: shown.y, toX: x, toY: y, at: now, kind, leftAt: null });
    } else {
      this.cursors.set(id, { fromX: x, fromY: y, toX: x, toY: y, at: now, kind, leftAt: null });
    }
  }

  /**
   * Cursor `id` left at `now`: it fades out.
   * @param {number} id
   * @param {number} now
   */
  leave(id, now) {
    const known = this.cursors.get(id);
    if (known && known.leftAt === null) known.leftAt = now;
  }

  /**
   * @param {{ fromX: number, fromY: number, toX: number, toY: number, at: number }} c
   * @param {number} now
   */
  positionOf(c, now) {
    const t = this.tickMs <= 0 ? 1 : Math.min(1, Math.max(0, (now - c.at) / this.tickMs));
    return { x: c.fromX + (c.toX - c.fromX) * t, y: c.fromY + (c.toY - c.fromY) * t };
  }

  /**
   * What to draw at `now`; forgets cursors that have faded out.
   * @param {number} now
   * @returns {Map<number, ShownCursor>}
   */
  frame(now) {
    /** @type {Map<number, ShownCursor>} */
    const shown = new Map();
    for (const [id, c] of this.cursors) {
      let opacity = 1;
      if (c.leftAt !== null) {
        opacity = 1 - (now - c.leftAt) / this.fadeMs;
        if (opacity <= 0) {
          this.cursors.delete(id);
          continue;
        }
      }
      const { x, y } = this.positionOf(c, now);
      shown.set(id, { x, y, kind: c.kind, opacity });
    }
    return shown;
  }

  /** Forgets every cursor (their ids now name other visitors). */
  clear() {
    this.cursors.clear();
  }

  /** Whether anything is still moving or fading at `now` (worth another frame). */
  /** @param {number} now */
  animating(now) {
    for (const c of this.cursors.values()) {
      if (c.leftAt !== null || now - c.at < this.tickMs) return true;
    }
    return false;
  }
}

/**
 * Calls `send` with the latest value at most once per `intervalMs`: the first
 * value at once, later ones at the end of the interval (the last one wins).
 * @template T
 */
export class Throttle {
  /**
   * @param {number} intervalMs
   * @param {(value: T) => void} send
   * @param {{ now: () => number, setTimeout: (fn: () => void, ms: number) => unknown, clearTimeout: (handle: any) => void }} [clock]
   */
  constructor(intervalMs, send, clock = { now: () => performance.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h) }) {
    this.intervalMs = intervalMs;
    this.send = send;
    this.clock = clock;
    this.last = -Infinity;
    /** @type {{ value: T } | null} */
    this.pending = null;
    /** @type {unknown} */
    this.timer = null;
  }

  /** @param {T} value */
  push(value) {
    const now = this.clock.now();
    if (now - this.last >= this.intervalMs && this.timer === null) {
      this.last = now;
      this.send(value);
      return;
    }
    this.pending = { value };
    if (this.timer === null) {
      this.timer = this.clock.setTimeout(() => this.flush(), Math.max(0, this.last + this.intervalMs - now));
    }
  }

  /** Sends what is pending now. */
  flush() {
    this.timer = null;
    if (this.pending) {
      const { value } = this.pending;
      this.pending = null;
      this.last = this.clock.now();
      this.send(value);
    }
  }

  /** Drops what is pending. */
  cancel() {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
  }
}

/**
 * Delay before reconnection attempt `attempt` (0-based): exponential from
 * `baseMs`, capped at `maxMs`, with full jitter over the upper half.
 * @param {number} attempt
 * @param {number} [baseMs]
 * @param {number} [maxMs]
 * @param {() => number} [random]
 */
export function backoff(attempt, baseMs = 500, maxMs = 15000, random = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20));
  return ceiling / 2 + (ceiling / 2) * random();
}

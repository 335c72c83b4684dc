// The cursor channel's wire format (see protocol/README.md): bincode 2,
// `config::standard()`, a version byte first. Encoding and decoding of uplinks,
// frames and rosters, checked against protocol/vectors.json by
// test/protocol.test.js.

/** Version tag: the first byte of every datagram (uplinks and frames). */
export const VERSION = 1;
/** The protocol's version: 2 adds rosters (who the room's cursors are). */
export const PROTOCOL_VERSION = 2;
/** Version tag: the first byte of every roster. */
export const ROSTER_VERSION = 2;
/** Largest roster message. */
export const MAX_ROSTER = 8192;
/** Most members / departed ids one roster lists. */
export const MAX_ROSTER_MEMBERS = 512;
export const MAX_ROSTER_LEFT = 1024;
/** Longest name in a roster, in bytes of UTF-8. */
export const MAX_NAME_BYTES = 96;
/** Longest page in a roster, in bytes of UTF-8. */
export const MAX_PAGE_BYTES = 800;
/** Largest uplink the server accepts. */
export const MAX_UPLINK = 32;
/** Largest frame datagram the server sends. */
export const MAX_DATAGRAM = 1100;
/** Most cursors / removed ids one frame may carry. */
export const MAX_FRAME_CURSORS = 256;
export const MAX_FRAME_REMOVED = 512;

/** @typedef {'move' | 'tap' | 'leave'} PointerKind */
/** @typedef {{ version: number, seq: number, kind: PointerKind, x: number, y: number }} Uplink */
/** @typedef {{ id: number, kind: PointerKind, x: number, y: number }} Cursor */
/** @typedef {{ version: number, tick: number, presence: number, cursors: Cursor[], removed: number[] }} Frame */
/** @typedef {{ id: number, hue: number, name: string | null, page: string | null }} RosterMember */
/** @typedef {{ version: number, self_id: number | null, joined: RosterMember[], left: number[] }} Roster */

/** @type {PointerKind[]} */
const KINDS = ['move', 'tap', 'leave'];

/**
 * Appends `value` as a varint.
 * @param {number[]} out
 * @param {number} value a whole number below 2^53
 */
function writeVarint(out, value) {
  if (value <= 250) {
    out.push(value);
  } else if (value <= 0xffff) {
    out.push(251, value & 0xff, value >>> 8);
  } else if (value <= 0xffffffff) {
    out.push(252, value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24);
  } else {
    throw new RangeError(`varint too large: ${value}`);
  }
}

/** A reader over bytes that fails (throws) instead of reading past the end. */
class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.at = 0;
  }

  /** @returns {number} */
  byte() {
    if (this.at >= this.bytes.length) throw new RangeError('truncated');
    return this.bytes[this.at++];
  }

  /** @param {number} max the largest value accepted */
  varint(max) {
    const first = this.byte();
    let value;
    if (first <= 250) {
      value = first;
    } else if (first === 251) {
      value = this.byte() | (this.byte() << 8);
    } else if (first === 252) {
      value = (this.byte() | (this.byte() << 8) | (this.byte() << 16)) + this.byte() * 0x1000000;
    } else {
      throw new RangeError('varint too large');
    }
    if (value > max) throw new RangeError('value out of range');
    return value;
  }

  /** @returns {PointerKind} */
  kind() {
    const kind = KINDS[this.varint(KINDS.length - 1)];
    if (!kind) throw new RangeError('unknown pointer kind');
    return kind;
  }
}

/**
 * Encodes an uplink.
 * @param {Uplink} uplink
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function encodeUplink(uplink) {
  /** @type {number[]} */
  const out = [uplink.version];
  writeVarint(out, uplink.seq >>> 0);
  writeVarint(out, KINDS.indexOf(uplink.kind));
  writeVarint(out, uplink.x);
  writeVarint(out, uplink.y);
  return Uint8Array.from(out);
}

/**
 * Decodes an uplink; throws on anything that is not exactly one.
 * @param {Uint8Array} bytes
 * @returns {Uplink}
 */
export function decodeUplink(bytes) {
  if (bytes.length === 0 || bytes.length > MAX_UPLINK || bytes[0] !== VERSION) {
    throw new RangeError('unsupported version or size');
  }
  const r = new Reader(bytes);
  const uplink = {
    version: r.byte(),
    seq: r.varint(0xffffffff),
    kind: r.kind(),
    x: r.varint(0xffff),
    y: r.varint(0xffff),
  };
  if (r.at !== bytes.length) throw new RangeError('trailing bytes');
  return uplink;
}

/**
 * Encodes a frame (the server's job; here for tests and tools).
 * @param {Frame} frame
 * @returns {Uint8Array}
 */
export function encodeFrame(frame) {
  /** @type {number[]} */
  const out = [frame.version];
  writeVarint(out, frame.tick);
  writeVarint(out, frame.presence);
  writeVarint(out, frame.cursors.length);
  for (const c of frame.cursors) {
    writeVarint(out, c.id);
    writeVarint(out, KINDS.indexOf(c.kind));
    writeVarint(out, c.x);
    writeVarint(out, c.y);
  }
  writeVarint(out, frame.removed.length);
  for (const id of frame.removed) writeVarint(out, id);
  return Uint8Array.from(out);
}

/**
 * Decodes a frame; throws on anything that is not exactly one.
 * @param {Uint8Array} bytes
 * @returns {Frame}
 */
export function decodeFrame(bytes) {
  if (bytes.length === 0 || bytes.length > MAX_DATAGRAM || bytes[0] !== VERSION) {
    throw new RangeError('unsupported version or size');
  }
  const r = new Reader(bytes);
  const version = r.byte();
  const tick = r.varint(0xffffffff);
  const presence = r.varint(0xffffffff);
  const count = r.varint(MAX_FRAME_CURSORS);
  /** @type {Cursor[]} */
  const cursors = [];
  for (let i = 0; i < count; i++) {
    cursors.push({ id: r.varint(0xffffffff), kind: r.kind(), x: r.varint(0xffff), y: r.varint(0xffff) });
  }
  const removedCount = r.varint(MAX_FRAME_REMOVED);
  /** @type {number[]} */
  const removed = [];
  for (let i = 0; i < removedCount; i++) removed.push(r.varint(0xffffffff));
  if (r.at !== bytes.length) throw new RangeError('trailing bytes');
  return { version, tick, presence, cursors, removed };
}

/**
 * A position as a fraction of the page, quantized to 0..65535.
 * @param {number} fraction
 */
export function quantize(fraction) {
  if (Number.isNaN(fraction)) return 0;
  return Math.round(Math.min(1, Math.max(0, fraction)) * 0xffff);
}

/**
 * A quantized position back as a fraction of the page.
 * @param {number} value
 */
export function dequantize(value) {
  return value / 0xffff;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Encodes a roster (the server's job; here for tests and tools).
 * @param {Roster} roster
 * @returns {Uint8Array}
 */
export function encodeRoster(roster) {
  /** @type {number[]} */
  const out = [roster.version];
  if (roster.self_id === null) {
    out.push(0);
  } else {
    out.push(1);
    writeVarint(out, roster.self_id);
  }
  writeVarint(out, roster.joined.length);
  for (const m of roster.joined) {
    writeVarint(out, m.id);
    writeVarint(out, m.hue);
    for (const text of [m.name, m.page]) {
      if (text === null) {
        out.push(0);
      } else {
        const bytes = utf8.encode(text);
        out.push(1);
        writeVarint(out, bytes.length);
        out.push(...bytes);
      }
    }
  }
  writeVarint(out, roster.left.length);
  for (const id of roster.left) writeVarint(out, id);
  return Uint8Array.from(out);
}

/**
 * Decodes a roster; throws on anything that is not exactly one.
 * @param {Uint8Array} bytes
 * @returns {Roster}
 */
export function decodeRoster(bytes) {
  if (bytes.length === 0 || bytes.length > MAX_ROSTER || bytes[0] !== ROSTER_VERSION) {
    throw new RangeError('unsupported version or size');
  }
  const r = new Reader(bytes);
  const version = r.byte();
  const option = () => {
    const tag = r.byte();
    if (tag > 1) throw new RangeError('bad option tag');
    return tag === 1;
  };
  const self_id = option() ? r.varint(0xffffffff) : null;
  const count = r.varint(MAX_ROSTER_MEMBERS);
  /** @type {RosterMember[]} */
  const joined = [];
  for (let i = 0; i < count; i++) {
    const id = r.varint(0xffffffff);
    const hue = r.varint(0xffff);
    const text = (/** @type {number} */ max) => {
      if (!option()) return null;
      const length = r.varint(max);
      if (r.at + length > bytes.length) throw new RangeError('truncated');
      let value;
      try {
        value = utf8Decoder.decode(bytes.subarray(r.at, r.at + length));
      } catch {
        throw new RangeError('text is not UTF-8');
      }
      r.at += length;
      return value;
    };
    const name = text(MAX_NAME_BYTES);
    const page = text(MAX_PAGE_BYTES);
    joined.push({ id, hue, name, page });
  }
  const leftCount = r.varint(MAX_ROSTER_LEFT);
  /** @type {number[]} */
  const left = [];
  for (let i = 0; i < leftCount; i++) left.push(r.varint(0xffffffff));
  if (r.at !== bytes.length) throw new RangeError('trailing bytes');
  return { version, self_id, joined, left };
}

/**
 * Splits a stream of length-prefixed messages (the roster stream of a
 * WebTransport session) into messages as its chunks arrive.
 */
export class MessageReader {
  constructor() {
    /** @type {Uint8Array} */
    this.buffer = new Uint8Array(0);
  }

  /**
   * Adds a chunk; returns the messages it completed. Throws on a length
   * beyond MAX_ROSTER (the stream is then unusable).
   * @param {Uint8Array} chunk
   * @returns {Uint8Array[]}
   */
  push(chunk) {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    /** @type {Uint8Array[]} */
    const messages = [];
    let at = 0;
    for (;;) {
      const prefix = readLength(joined.subarray(at));
      if (!prefix) break;
      const [length, used] = prefix;
      if (at + used + length > joined.length) break;
      messages.push(joined.slice(at + used, at + used + length));
      at += used + length;
    }
    this.buffer = joined.slice(at);
    return messages;
  }
}

/**
 * Reads a message length prefix (a varint); null when more bytes are needed.
 * @param {Uint8Array} bytes
 * @returns {[number, number] | null} the length and the prefix's own size
 */
export function readLength(bytes) {
  const r = new Reader(bytes);
  try {
    return [r.varint(MAX_ROSTER), r.at];
  } catch (e) {
    if (e instanceof RangeError && e.message === 'truncated') return null;
    throw new RangeError('message too long');
  }
}

// The JS codec against the golden vectors the Rust tests also check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  PROTOCOL_VERSION, ROSTER_VERSION, VERSION, MessageReader, decodeFrame, decodeRoster, decodeUplink,
  encodeFrame, encodeRoster, encodeUplink, quantize, dequantize,
} from '../src/protocol.js';

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors.json', import.meta.url), 'utf8'));
const hex = (/** @type {Uint8Array} */ bytes) => Buffer.from(bytes).toString('hex');
const unhex = (/** @type {string} */ text) => new Uint8Array(Buffer.from(text, 'hex'));

test('the vectors are of this version', () => {
  assert.equal(vectors.version, PROTOCOL_VERSION);
});

for (const c of vectors.uplinks) {
  test(`uplink: ${c.name}`, () => {
    assert.equal(hex(encodeUplink(c.message)), c.hex);
    assert.deepEqual(decodeUplink(unhex(c.hex)), c.message);
  });
}

for (const c of vectors.frames) {
  test(`frame: ${c.name}`, () => {
    assert.equal(hex(encodeFrame(c.message)), c.hex);
    assert.deepEqual(decodeFrame(unhex(c.hex)), c.message);
  });
}

for (const c of vectors.rosters) {
  test(`roster: ${c.name}`, () => {
    assert.equal(hex(encodeRoster(c.message)), c.hex);
    assert.deepEqual(decodeRoster(unhex(c.hex)), c.message);
  });
}

test('a roster stream splits into its messages however its chunks fall', () => {
  const messages = vectors.rosters.map((/** @type {{ hex: string }} */ c) => unhex(c.hex));
  const big = encodeRoster({
    version: ROSTER_VERSION,
    self_id: null,
    joined: Array.from({ length: 60 }, (_, i) => ({ id: i, hue: i, name: 'x'.repeat(10), page: null })),
    left: [],
  });
  messages.push(big); // longer than 250 bytes: a three-byte length prefix
  /** @type {number[]} */
  const stream = [];
  for (const m of messages) {
    if (m.length <= 250) stream.push(m.length);
    else stream.push(251, m.length & 0xff, m.length >>> 8);
    stream.push(...m);
  }
  for (const size of [1, 2, 7, 1000]) {
    const reader = new MessageReader();
    /** @type {string[]} */
    const out = [];
    for (let at = 0; at < stream.length; at += size) {
      out.push(...reader.push(Uint8Array.from(stream.slice(at, at + size))).map(hex));
    }
    assert.deepEqual(out, messages.map(hex), `chunks of ${size}`);
  }
  assert.throws(() => new MessageReader().push(Uint8Array.from([252, 0, 0, 1, 0])), RangeError);
});

for (const c of vectors.invalid) {
  test(`refused: ${c.name}`, () => {
    const decode = { uplink: decodeUplink, roster: decodeRoster, frame: decodeFrame }[/** @type {'uplink' | 'roster' | 'frame'} */ (c.kind)];
    assert.throws(() => decode(unhex(c.hex)), RangeError);
  });
}

test('random bytes never decode into nonsense silently', () => {
  for (let i = 0; i < 5000; i++) {
    const bytes = new Uint8Array(Math.floor(Math.random() * 40));
    for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(Math.random() * 256);
    if (bytes.length > 0) bytes[0] = VERSION;
    try {
      const frame = decodeFrame(bytes);
      assert.equal(hex(encodeFrame(frame)), hex(bytes), 'a decoded frame re-encodes to its bytes');
    } catch (e) {
      assert.ok(e instanceof RangeError, String(e));
    }
  }
});

test('quantization matches the server', () => {
  assert.equal(quantize(0), 0);
  assert.equal(quantize(1), 65535);
  assert.equal(quantize(2), 65535);
  assert.equal(quantize(-1), 0);
  assert.equal(quantize(Number.NaN), 0);
  assert.ok(Math.abs(dequantize(quantize(0.5)) - 0.5) < 1e-4);
});

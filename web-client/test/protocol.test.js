// The JS codec against the golden vectors the Rust tests also check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  VERSION, decodeFrame, decodeUplink, encodeFrame, encodeUplink, quantize, dequantize,
} from '../src/protocol.js';

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors.json', import.meta.url), 'utf8'));
const hex = (/** @type {Uint8Array} */ bytes) => Buffer.from(bytes).toString('hex');
const unhex = (/** @type {string} */ text) => new Uint8Array(Buffer.from(text, 'hex'));

test('the vectors are of this version', () => {
  assert.equal(vectors.version, VERSION);
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

for (const c of vectors.invalid) {
  test(`refused: ${c.name}`, () => {
    const decode = c.kind === 'uplink' ? decodeUplink : decodeFrame;
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

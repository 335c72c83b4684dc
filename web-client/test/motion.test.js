// Interpolation, fade-out, throttling and backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CursorField, Throttle, backoff } from '../src/motion.js';

test('a new position is reached over one tick, never later', () => {
  const field = new CursorField(100);
  field.moveTo(1, 0, 0, 'move', 0);
  assert.deepEqual(field.frame(0).get(1), { x: 0, y: 0, kind: 'move', opacity: 1 }, 'first position at once');
  field.moveTo(1, 1, 0.5, 'move', 1000);
  assert.deepEqual(field.frame(1000).get(1)?.x, 0);
  assert.ok(Math.abs((field.frame(1050).get(1)?.x ?? 0) - 0.5) < 1e-9, 'half way after half a tick');
  assert.deepEqual(field.frame(1100).get(1), { x: 1, y: 0.5, kind: 'move', opacity: 1 }, 'there after one tick');
  assert.equal(field.frame(5000).get(1)?.x, 1, 'and stays');
  assert.equal(field.animating(5000), false);
});

test('a move during a glide starts from where the cursor is shown', () => {
  const field = new CursorField(100);
  field.moveTo(1, 0, 0, 'move', 0);
  field.moveTo(1, 1, 0, 'move', 0);
  field.moveTo(1, 0, 0, 'move', 50);
  assert.ok(Math.abs((field.frame(50).get(1)?.x ?? -1) - 0.5) < 1e-9, 'no jump');
});

test('a cursor that left fades out, then is gone', () => {
  const field = new CursorField(100, 400);
  field.moveTo(7, 0.2, 0.2, 'tap', 0);
  field.leave(7, 1000);
  assert.equal(field.frame(1200).get(7)?.opacity, 0.5);
  assert.ok(field.animating(1200));
  assert.equal(field.frame(1400).has(7), false);
  assert.equal(field.cursors.size, 0, 'forgotten');
  field.moveTo(7, 0.3, 0.3, 'move', 2000);
  assert.equal(field.frame(2000).get(7)?.opacity, 1, 'back after a leave');
});

function fakeClock() {
  /** @type {{ at: number, fn: () => void }[]} */
  const timers = [];
  const clock = {
    t: 0,
    now: () => clock.t,
    setTimeout: (/** @type {() => void} */ fn, /** @type {number} */ ms) => { timers.push({ at: clock.t + ms, fn }); return timers.length - 1; },
    clearTimeout: (/** @type {number} */ h) => { timers[h].fn = () => {}; },
    advance(/** @type {number} */ ms) {
      clock.t += ms;
      for (const timer of timers.filter((x) => x.at <= clock.t)) {
        timers.splice(timers.indexOf(timer), 1);
        timer.fn();
      }
    },
  };
  return clock;
}

test('samples are throttled to the interval, the latest wins', () => {
  const clock = fakeClock();
  /** @type {number[]} */
  const sent = [];
  const throttle = new Throttle(33, (/** @type {number} */ v) => sent.push(v), clock);
  throttle.push(1);
  assert.deepEqual(sent, [1], 'the first at once');
  for (let v = 2; v <= 10; v++) {
    clock.advance(3);
    throttle.push(v);
  }
  assert.deepEqual(sent, [1], 'nothing more within the interval');
  clock.advance(10);
  assert.deepEqual(sent, [1, 10], 'then the latest');
  for (let i = 0; i < 100; i++) {
    clock.advance(1);
    throttle.push(i);
  }
  clock.advance(100);
  assert.ok(sent.length <= 2 + Math.ceil(200 / 33), `at most one per interval: ${sent.length}`);
  throttle.push(99);
  throttle.cancel();
  clock.advance(100);
  assert.notEqual(sent.at(-1), undefined);
});

test('reconnection backoff grows, is capped and jittered', () => {
  assert.equal(backoff(0, 500, 15000, () => 0), 250);
  assert.equal(backoff(0, 500, 15000, () => 1), 500);
  assert.equal(backoff(3, 500, 15000, () => 1), 4000);
  assert.equal(backoff(30, 500, 15000, () => 1), 15000);
  const samples = new Set(Array.from({ length: 20 }, () => backoff(4)));
  assert.ok(samples.size > 1, 'jittered');
});

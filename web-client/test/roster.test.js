// What a client knows of a roster: a snapshot replaces, left goes before
// joined (ids are reused), and the changes it reports are what a page shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { RosterBook } from '../src/ovasabi.js';

/** @param {number} id @param {string | null} [name] @param {string | null} [page] */
const m = (id, name = null, page = null) => ({ id, hue: id, name, page });

test('a snapshot names this visitor and everyone; changes follow', () => {
  const book = new RosterBook();
  let change = book.apply({ version: 2, self_id: 3, joined: [m(1, 'Ada'), m(3)], left: [] });
  assert.equal(book.selfId, 3);
  assert.deepEqual(change.joined, [1], 'itself is not news');
  assert.ok(change.selfChanged);
  change = book.apply({ version: 2, self_id: null, joined: [m(4, null, '/pricing')], left: [1] });
  assert.deepEqual(change.joined, [4]);
  assert.deepEqual(change.left.map(([id]) => id), [1]);
  assert.deepEqual([...book.members.keys()].sort(), [3, 4]);
  assert.equal(book.members.get(4)?.page, '/pricing');
});

test('an id reused in one roster: the one who left goes, the newcomer comes', () => {
  const book = new RosterBook();
  book.apply({ version: 2, self_id: 9, joined: [m(1, 'Ada')], left: [] });
  const change = book.apply({ version: 2, self_id: null, joined: [m(1, 'Grace')], left: [1] });
  assert.deepEqual(change.left.map(([id, was]) => [id, was.name]), [[1, 'Ada']]);
  assert.deepEqual(change.joined, [1]);
  assert.equal(book.members.get(1)?.name, 'Grace');
});

test('a new snapshot (after a skip, or a reconnection) replaces what was known', () => {
  const book = new RosterBook();
  book.apply({ version: 2, self_id: 1, joined: [m(1), m(2, 'Ada'), m(3, 'Linus')], left: [] });
  const change = book.apply({ version: 2, self_id: 1, joined: [m(1), m(3, 'Linus'), m(5)], left: [] });
  assert.equal(change.selfChanged, false);
  assert.deepEqual(change.joined, [5]);
  assert.deepEqual(change.left.map(([id]) => id), [2], 'missed while away: gone');
  assert.deepEqual([...book.members.keys()].sort(), [1, 3, 5]);
});

test('bytes that are not a roster change nothing', () => {
  const book = new RosterBook();
  assert.equal(book.applyBytes(Uint8Array.from([1, 0, 0, 0])), null);
  assert.equal(book.members.size, 0);
});

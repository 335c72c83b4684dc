// Move → rendered in the browser (issue 20, item 4): one page moves its
// pointer 200 times, another page of the same room draws it. Timestamps are
// taken inside the pages (performance.timeOrigin + performance.now(), one
// clock for every page of the machine), not by the test driver:
//
//   sent      the sending page hands the sample to the client (moveCursor)
//   arrived   the receiving page decodes a frame with that position
//   rendered  the receiving page's `cursors` event draws it there (the
//             client glides to a new position over one tick: rendered −
//             arrived is that interpolation delay, shown apart)
//
// Usage (a release build; the server pinned to core 0, Chromium to core 1):
//   node bench/move-to-render.js [webtransport|sse] [moves]
// OVASABI_BIN, CHROMIUM and BENCH_CPU_SERVER / BENCH_CPU_BROWSER change the
// binary, the browser and the cores. Prints one JSON line.

import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { ROOT, newCampaign, startServer, stopServer } from '../browser-test/support.js';

const transport = /** @type {'webtransport' | 'sse'} */ (process.argv[2] ?? 'webtransport');
const moves = Number(process.argv[3] ?? 200);
const cpuServer = process.env.BENCH_CPU_SERVER ?? '0';
const cpuBrowser = process.env.BENCH_CPU_BROWSER ?? '1';
const work = mkdtempSync(join(tmpdir(), 'ovasabi-move-render-'));

// Chromium, pinned: a wrapper the launcher starts instead.
const wrapper = join(work, 'chromium');
writeFileSync(wrapper, `#!/bin/sh\nexec taskset -c ${cpuBrowser} ${process.env.CHROMIUM ?? '/usr/bin/chromium'} "$@"\n`);
chmodSync(wrapper, 0o755);

process.env.OVASABI_BIN ??= join(ROOT, 'target/release/ovasabi-edge');
const server = await startServer({ db: join(work, 'edge.db'), env: {} });
// Pin the running server to its core (its threads too).
const { execFileSync } = await import('node:child_process');
execFileSync('taskset', ['-a', '-p', '-c', cpuServer, String(server.child.pid)], { stdio: 'ignore' });

const browser = await chromium.launch({
  executablePath: wrapper,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const campaign = await newCampaign(server.base);
  /** @param {string} name */
  const open = async (name) => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server.base}/healthz`);
    await page.evaluate(async ([campaign, transport, name]) => {
      const { connect, decodeFrame, dequantize } = await import('/client/ovasabi.js');
      const live = await connect({ campaign, transport: /** @type {'webtransport' | 'sse'} */ (transport), storage: null, page: '/bench', members: false });
      const clock = () => performance.timeOrigin + performance.now();
      /** @type {Record<number, number>} */
      const arrived = {};
      /** @type {Record<number, number>} */
      const rendered = {};
      const index = (/** @type {number} */ px) => Math.round((px - 100) / 4);
      const exact = (/** @type {number} */ px) => Math.abs(px - (100 + 4 * index(px))) < 0.5;
      // Arrival: a frame that carries the position, as the client decodes it.
      const apply = live.applyFrameBytes.bind(live);
      live.applyFrameBytes = (bytes) => {
        const at = clock();
        try {
          for (const c of decodeFrame(bytes).cursors) {
            if (c.id === live.selfId) continue;
            const px = dequantize(c.x) * live.area().width;
            if (exact(px) && !(index(px) in arrived)) arrived[index(px)] = at;
          }
        } catch {
          // Not a frame: the client drops it too.
        }
        apply(bytes);
      };
      live.on('cursors', (cursors) => {
        const at = clock();
        for (const c of cursors.values()) if (exact(c.x) && !(index(c.x) in rendered)) rendered[index(c.x)] = at;
      });
      Object.assign(globalThis, { [name]: { live, arrived, rendered, clock } });
    }, [campaign, transport, name]);
    await page.waitForFunction((name) => /** @type {any} */ (globalThis)[name].live.state === 'connected', name, { timeout: 15_000 });
    return page;
  };
  const sender = await open('bench');
  const receiver = await open('bench');
  await receiver.waitForTimeout(500);
  const sent = await sender.evaluate(async (moves) => {
    const { live, clock } = /** @type {any} */ (globalThis).bench;
    /** @type {number[]} */
    const at = [];
    for (let i = 0; i < moves; i++) {
      at.push(clock());
      live.moveCursor(100 + 4 * i, 300);
      // Two ticks apart: every sample is its own uplink, not throttled away.
      await new Promise((r) => setTimeout(r, 2 * live.tickMs));
    }
    return at;
  }, moves);
  await receiver.waitForTimeout(1000);
  const seen = await receiver.evaluate(() => {
    const { arrived, rendered } = /** @type {any} */ (globalThis).bench;
    return { arrived, rendered };
  });
  /** @param {number[]} xs */
  const summary = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const at = (/** @type {number} */ q) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] : NaN);
    return { count: s.length, p50_ms: +at(0.5).toFixed(2), p99_ms: +at(0.99).toFixed(2), max_ms: +at(1).toFixed(2) };
  };
  const arrivedMs = [];
  const renderedMs = [];
  const interpolationMs = [];
  for (let i = 0; i < moves; i++) {
    const a = seen.arrived[i];
    const r = seen.rendered[i];
    if (a !== undefined) arrivedMs.push(a - sent[i]);
    if (r !== undefined) renderedMs.push(r - sent[i]);
    if (a !== undefined && r !== undefined) interpolationMs.push(r - a);
  }
  console.log(JSON.stringify({
    scenario: 'move-to-render',
    transport,
    moves,
    move_to_arrived: summary(arrivedMs),
    move_to_rendered: summary(renderedMs),
    interpolation: summary(interpolationMs),
  }));
} finally {
  await browser.close();
  await stopServer(server.child);
}

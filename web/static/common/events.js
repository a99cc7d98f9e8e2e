// events.js - live updates for an open desk: the gateway's long poll
// GET /api/v1/events?after=<seq>&epoch=<epoch>, answered when the inbox or a
// case changed (or after ~25 s with nothing). One loop per page, shared by
// every view through subscribe(); a reset (the unit daemon restarted, or we
// fell behind) tells subscribers to reload everything.

import { get } from './api.js';

const subscribers = new Set();
let running = false;
let epoch = '';
let after = 0;
let failures = 0;
let stopped = false;
let controller = null;

// Leaving the page cancels the parked poll at once: otherwise the browser
// may keep its connection until the gateway answers (~25 s), and a few
// quick reloads fill its six connections to the site.
window.addEventListener('pagehide', () => { if (controller) controller.abort(); });

// fn({reset, inbox_changed, case_ids}) on every change. Returns unsubscribe.
export function subscribe(fn) {
  subscribers.add(fn);
  return () => subscribers.delete(fn);
}

function emit(change) {
  for (const fn of [...subscribers]) {
    try { fn(change); } catch (e) { console.warn('events subscriber failed', e); }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function loop() {
  while (!stopped) {
    const q = epoch ? `?after=${after}&epoch=${encodeURIComponent(epoch)}` : '';
    try {
      controller = new AbortController();
      const r = await get('/api/v1/events' + q, controller.signal);
      failures = 0;
      const first = !epoch;
      epoch = String(r.epoch);
      after = r.seq;
      // The first answer is always a reset: we have nothing to compare with,
      // and the views have just loaded, so only later resets are news.
      if (!first && (r.reset || r.inbox_changed || (r.case_ids && r.case_ids.length))) {
        emit({ reset: !!r.reset, inbox_changed: !!r.inbox_changed || !!r.reset, case_ids: r.case_ids || [] });
      }
    } catch (e) {
      if (e.name === 'AbortError' || e.status === 401 || e.status === 404) return; // left, logged out, or no events here
      failures++;
      // Back off while the gateway or the unit daemon is away (503), then
      // start over: a new daemon has a new epoch.
      await sleep(Math.min(30000, 1000 * 2 ** Math.min(failures, 5)));
    }
  }
}

// Starts the loop once (unit sites only); later calls do nothing.
export function start() {
  stopped = false; // a loop still finishing its poll after stop() carries on
  if (running) return;
  running = true;
  loop().finally(() => { running = false; });
}

// Ends the loop after the poll in flight returns (logout).
export function stop() { stopped = true; if (controller) controller.abort(); }

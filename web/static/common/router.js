// router.js - hash routes, so every view is a URL (#/cases/BH-2026-000001):
// the back button, bookmarks and links in messages work without a server
// route per page. A route is a pattern with :params; its handler renders
// into the main element and may return a function run when it is left
// (to stop timers or live updates).

const routes = [];
let leave = null;
let fallback = null;
let seq = 0;
let started = false;

// pattern: '/cases/:id'; handler(main, params, query) -> (cleanup fn | void | Promise of either)
export function route(pattern, handler) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/:([a-z_]+)/g, (_, n) => { names.push(n); return '([^/]+)'; }) + '$');
  routes.push({ re, names, handler });
}

// Run for a hash no route matches.
export function notFound(handler) { fallback = handler; }

export function current() { return location.hash.replace(/^#/, '') || '/'; }

export function navigate(path, replace) {
  const h = '#' + path;
  if (!started) { history.replaceState(null, '', h); return; } // start() renders it
  if (replace) history.replaceState(null, '', h); else if (location.hash !== h) { location.hash = h; return; }
  render();
}

// Re-renders the current view (after an action changed what it shows).
export function refresh() { render(); }

function parse(hash) {
  const [path, q] = hash.split('?');
  const query = new URLSearchParams(q || '');
  return { path, query };
}

async function render() {
  const my = ++seq;
  if (typeof leave === 'function') { try { leave(); } catch (e) { /* a view's cleanup must not stop the next */ } }
  leave = null;
  const { path, query } = parse(current());
  const main = document.getElementById('main');
  main.replaceChildren();
  main.setAttribute('aria-busy', 'true');
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    const params = {};
    r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
    const out = await r.handler(main, params, query);
    if (my === seq) { leave = out; main.removeAttribute('aria-busy'); }
    else if (typeof out === 'function') out();
    return;
  }
  if (fallback) await fallback(main, path);
  main.removeAttribute('aria-busy');
}

// Is `my` still the view on screen? Views that await use it before drawing late results.
export function token() { return seq; }
export function isCurrent(t) { return t === seq; }

export function start() {
  started = true;
  window.addEventListener('hashchange', render);
  render();
}

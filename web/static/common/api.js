// api.js - the browser's one way to the gateway (docs/web.md): JSON in and
// out, the session's CSRF token on every POST, errors as ApiError with the
// gateway's {code, message}, and an expired session sending the person back
// to the login page instead of leaving a half-working page.

let csrfToken = '';
let expiredHandler = null;

// An error the gateway (or the network) gave: status is the HTTP status
// (0 when the gateway could not be reached), code the gRPC spelling
// ("FAILED_PRECONDITION"), message the service's words.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || '请求失败');
    this.status = status;
    this.code = code || 'UNKNOWN';
  }
}

// Called once with a function run when a request finds the session gone
// (401 anywhere but the login itself).
export function onSessionExpired(fn) { expiredHandler = fn; }

export function setCsrf(token) { csrfToken = token || ''; }

async function request(method, path, body, signal) {
  const headers = { 'Accept': 'application/json' };
  // Every request but the long poll gives up after 30 s, so a page never
  // waits without saying so (the gateway's own deadline is 10 s).
  const init = {
    method, headers, credentials: 'same-origin', cache: 'no-store',
    signal: signal || (AbortSignal.timeout ? AbortSignal.timeout(30000) : undefined),
  };
  if (method === 'POST') {
    headers['Content-Type'] = 'application/json';
    if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
    init.body = JSON.stringify(body || {});
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    if (e.name === 'TimeoutError') throw new ApiError(0, 'DEADLINE_EXCEEDED', '服务器长时间没有响应，请稍后再试');
    throw new ApiError(0, 'UNAVAILABLE', '无法连接服务器，请检查网络');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (res.ok) return data || {};
  const err = new ApiError(res.status, data && data.code, data && data.message);
  if (res.status === 401 && path !== '/api/v1/login' && path !== '/api/v1/session' && expiredHandler) {
    hint(false);
    expiredHandler(err);
  }
  throw err;
}

// POST /api/v1/<service>/<method> with the request message; the reply message.
export function call(service, method, body) {
  return request('POST', `/api/v1/${service}/${method}`, body);
}

// signal: an AbortSignal that cancels the request (the long poll on leaving the page).
export function get(path, signal) { return request('GET', path, undefined, signal); }

// Whether this browser tab logged in (a hint only: the cookie is HttpOnly,
// so the page cannot see it). Without it the page shows the login at once
// instead of asking the gateway and getting a 401 it would log as an error.
const HINT = 'mediation.logged-in';
function hint(on) {
  try { if (on) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT); } catch (e) { /* private mode */ }
}
function hinted() {
  try { return localStorage.getItem(HINT) === '1'; } catch (e) { return true; }
}

// The session (person, role, site, kind, csrf_token) or null when not logged in.
export async function session() {
  if (!hinted()) return null;
  try {
    const s = await request('GET', '/api/v1/session');
    setCsrf(s.csrf_token);
    return s;
  } catch (e) {
    if (e.status === 401) { hint(false); return null; }
    throw e;
  }
}

export async function login(name, password) {
  const s = await request('POST', '/api/v1/login', { name, password });
  setCsrf(s.csrf_token);
  hint(true);
  return s;
}

export async function logout() {
  try { await request('POST', '/api/v1/logout', {}); } finally { setCsrf(''); hint(false); }
}

// The site's registry names (units, communities), read once: ids are what
// the contract carries, names are what people read.
let namesPromise = null;
export function names() {
  if (!namesPromise) namesPromise = get('/api/v1/names').catch((e) => { namesPromise = null; throw e; });
  return namesPromise;
}

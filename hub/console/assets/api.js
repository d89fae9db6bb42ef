// The /v1 API, called with the signed-in user's token. The token and its
// expiry are kept in session storage (gone when the tab closes); the
// password never is.

const KEY = 'ote.session';

// ApiError is a refusal of the hub, in its words. field is the field a 422
// names ("port[0].containerPort: must be ..." names port[0].containerPort).
export class ApiError extends Error {
  constructor(status, message, retryAfter) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
    const m = status === 422 ? /^([A-Za-z][\w.[\]]*): /.exec(message) : null;
    this.field = m ? m[1] : '';
  }
  // text is the message to show: with the wait of a 429 or 503.
  get text() {
    return this.retryAfter ? `${this.message} (try again in ${this.retryAfter} s)` : this.message;
  }
}

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
  },
  // offset is the hub's clock minus the browser's (ms), from the answer's
  // Date header, so that a browser whose clock is wrong refreshes on time.
  set(token, expireTime, user, offset = 0) {
    sessionStorage.setItem(KEY, JSON.stringify({ token, expireTime, user, offset }));
    scheduleRefresh();
  },
  clear() {
    sessionStorage.removeItem(KEY);
    clearTimeout(refreshTimer);
  },
};

let onUnauthorized = () => {};
// whenUnauthorized sets what a 401 on a signed-in call does (app.js sends
// the user to sign in, remembering the page).
export function whenUnauthorized(f) { onUnauthorized = f; }

// call sends one request; it resolves to the envelope {code, message,
// data, total} and rejects with an ApiError.
export async function call(method, path, opts = {}) {
  const { env } = await send(method, path, opts);
  return env;
}

// send is call that also answers the response's headers.
async function send(method, path, { body, query, form } = {}, retried = false) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, String(one));
  }
  const headers = { Accept: 'application/json' };
  const s = session.get();
  if (s) headers.Authorization = 'Bearer ' + s.token;
  let payload;
  if (form) {
    payload = form;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'the hub cannot be reached: ' + e.message);
  }
  let env = null;
  try { env = await res.json(); } catch { /* not the envelope */ }
  if (!res.ok) {
    const err = new ApiError(res.status, (env && env.message) || `${res.status} ${res.statusText}`, res.headers.get('Retry-After'));
    if (res.status === 401 && s) {
      // A request sent with a token that a refresh or a password change
      // has since replaced is sent again with the new one; only the
      // session's own token being refused ends it.
      const now = session.get();
      if (now && now.token !== s.token && !retried) return send(method, path, { body, query, form }, true);
      if (now && now.token === s.token) onUnauthorized(err);
    }
    throw err;
  }
  return { env: env || { code: 0, data: null }, headers: res.headers };
}

function offsetOf(headers) {
  const t = Date.parse(headers.get('Date') || '');
  return Number.isNaN(t) ? 0 : t - Date.now();
}

export const get = (path, query) => call('GET', path, { query });
export const post = (path, body) => call('POST', path, { body });
export const put = (path, body) => call('PUT', path, { body });
export const del = (path, body) => call('DELETE', path, { body });

// signIn logs in and keeps the session; the password goes no further.
export async function signIn(user, password) {
  const { env, headers } = await send('POST', '/v1/authorization', { body: { user, password } });
  session.set(env.data.token, env.data.expireTime, user, offsetOf(headers));
}

// putAndReplaceToken sends a PUT whose answer is a new token (PUT
// /v1/user) and keeps that token in place of the session's.
export async function putAndReplaceToken(path, body) {
  const before = session.get();
  const { env, headers } = await send('PUT', path, { body });
  if (before && session.get()) session.set(env.data.token, env.data.expireTime, before.user, offsetOf(headers));
  return env;
}

export async function signOut() {
  try { await call('DELETE', '/v1/authorization'); } catch { /* the token goes anyway */ }
  session.clear();
}

// The token is refreshed five minutes before it expires (PUT
// /v1/authorization answers a new one and revokes the old).
// At most one refresh a minute, whatever the clocks say.
let refreshTimer;
let lastRefresh = 0;
export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const s = session.get();
  if (!s || !s.expireTime) return;
  const hubNow = Date.now() + (s.offset || 0);
  const wait = Math.max(s.expireTime * 1000 - hubNow - 5 * 60 * 1000, lastRefresh + 60000 - Date.now(), 5000);
  refreshTimer = setTimeout(refresh, Math.min(wait, 2 ** 31 - 1));
}

export async function refresh() {
  const s = session.get();
  if (!s) return;
  lastRefresh = Date.now();
  try {
    const { env, headers } = await send('PUT', '/v1/authorization');
    const now = session.get();
    if (!now || now.token !== s.token) {
      // Signed out (or in anew) meanwhile: the new token is nobody's.
      fetch('/v1/authorization', { method: 'DELETE', headers: { Authorization: 'Bearer ' + env.data.token }, credentials: 'omit' }).catch(() => {});
      return;
    }
    session.set(env.data.token, env.data.expireTime, s.user, offsetOf(headers));
  } catch (e) {
    if (e.status !== 401) setTimeout(scheduleRefresh, 30000); // a 401 has already gone to sign-in
  }
}

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
  set(token, expireTime, user) {
    sessionStorage.setItem(KEY, JSON.stringify({ token, expireTime, user }));
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
export async function call(method, path, { body, query, form } = {}) {
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
    if (res.status === 401 && s) onUnauthorized(err);
    throw err;
  }
  return env || { code: 0, data: null };
}

export const get = (path, query) => call('GET', path, { query });
export const post = (path, body) => call('POST', path, { body });
export const put = (path, body) => call('PUT', path, { body });
export const del = (path, body) => call('DELETE', path, { body });

// signIn logs in and keeps the session; the password goes no further.
export async function signIn(user, password) {
  const env = await call('POST', '/v1/authorization', { body: { user, password } });
  session.set(env.data.token, env.data.expireTime, user);
}

export async function signOut() {
  try { await call('DELETE', '/v1/authorization'); } catch { /* the token goes anyway */ }
  session.clear();
}

// The token is refreshed five minutes before it expires (PUT
// /v1/authorization answers a new one and revokes the old).
let refreshTimer;
export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const s = session.get();
  if (!s || !s.expireTime) return;
  const wait = Math.max(s.expireTime * 1000 - Date.now() - 5 * 60 * 1000, 5000);
  refreshTimer = setTimeout(refresh, Math.min(wait, 2 ** 31 - 1));
}

export async function refresh() {
  const s = session.get();
  if (!s) return;
  try {
    const env = await call('PUT', '/v1/authorization');
    session.set(env.data.token, env.data.expireTime, s.user);
  } catch (e) {
    if (e.status !== 401) setTimeout(scheduleRefresh, 30000); // a 401 has already gone to sign-in
  }
}

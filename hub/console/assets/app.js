// The console's shell: the router over location.hash, the navigation of
// the signed-in user's role, and the session's life (sign-in, expiry).
import * as api from './api.js';
import { h, roleName } from './ui.js';
import * as auth from './auth.js';
import * as clusters from './clusters.js';
import * as apps from './apps.js';
import * as deploys from './deploys.js';
import * as admin from './admin.js';
import * as images from './images.js';

// Roles, as GET /v1/authorization numbers them.
const PENDING = 0, APPROVED = 1, USER = 2, BADMIN = 3, SYSADMIN = 4;
const anyRole = [PENDING, APPROVED, USER, BADMIN, SYSADMIN];
const verified = [APPROVED, USER, BADMIN, SYSADMIN];
const members = [USER, BADMIN, SYSADMIN];
const admins = [BADMIN, SYSADMIN];
const root = [SYSADMIN];

// Each screen: its path pattern, who may see it (the API's own access
// rules, never weaker), and whether it is in the navigation.
const routes = [
  { path: /^\/signin$/, view: auth.signIn, public: true },
  { path: /^\/register$/, view: auth.register, public: true },
  { path: /^\/$/, view: auth.home, roles: anyRole },
  { path: /^\/clusters$/, view: clusters.list, roles: verified, nav: 'Clusters' },
  { path: /^\/clusters\/([^/]+)$/, view: clusters.detail, roles: verified },
  { path: /^\/apps$/, view: apps.list, roles: members, nav: 'Apps' },
  { path: /^\/apps\/new$/, view: apps.create, roles: [USER, BADMIN] },
  { path: /^\/apps\/chart$/, view: apps.upload, roles: [USER, BADMIN] },
  { path: /^\/apps\/(\d+)$/, view: apps.detail, roles: members },
  { path: /^\/deploys$/, view: deploys.list, roles: members, nav: 'Deployments' },
  { path: /^\/deploys\/new$/, view: deploys.create, roles: [USER, BADMIN] },
  { path: /^\/deploys\/(\d+)$/, view: deploys.detail, roles: members },
  { path: /^\/audit$/, view: admin.auditQueue, roles: admins, nav: 'Audit queue' },
  { path: /^\/images$/, view: images.view, roles: members, nav: 'Images' },
  { path: /^\/admin\/approvals$/, view: admin.approvals, roles: root, nav: 'Approvals' },
  { path: /^\/admin\/businesses$/, view: admin.businesses, roles: root, nav: 'Businesses' },
  { path: /^\/admin\/users$/, view: admin.users, roles: admins, nav: 'Users' },
  { path: /^\/admin\/trail$/, view: admin.trail, roles: admins, nav: 'Audit trail' },
  { path: /^\/account$/, view: auth.account, roles: anyRole, nav: 'Account' },
];

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const live = document.getElementById('live');

// The skip link moves the focus to the screen; it is not an address.
document.querySelector('a.skip').addEventListener('click', (ev) => {
  ev.preventDefault();
  view.focus();
});

let me = null; // GET /v1/authorization of the signed-in user
let cleanups = [];
let generation = 0;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || ''), raw };
}

export function go(where) { location.hash = '#' + where; }

// An expired or revoked token: back to sign-in, remembering the page.
api.whenUnauthorized(() => {
  const { raw, path } = parseHash();
  api.session.clear();
  me = null;
  if (path !== '/signin') go('/signin?next=' + encodeURIComponent(raw) + '&expired=1');
});

async function render() {
  const gen = ++generation;
  // User timing: ote:route when a screen is asked for, ote:shown when it
  // is drawn (test/e2e's console benchmark reads them; so can devtools).
  performance.clearMarks('ote:route');
  performance.clearMarks('ote:shown');
  performance.mark('ote:route');
  delete document.body.dataset.shown;
  for (const f of cleanups) f();
  cleanups = [];
  const { path, query, raw } = parseHash();
  const route = routes.find((r) => r.path.test(path));
  let params = [];
  try {
    params = route ? path.match(route.path).slice(1).map(decodeURIComponent) : [];
  } catch { /* a malformed address: its screen says what is missing */ }
  const s = api.session.get();
  if (route && !route.public && !s) {
    go('/signin?next=' + encodeURIComponent(raw));
    return;
  }
  if (s) {
    try {
      me = (await api.get('/v1/authorization')).data;
    } catch (e) {
      // A 401 has cleared the session and gone to sign-in; on the
      // sign-in screen already, it is drawn again without the session.
      if (e.status === 401) { if (path === '/signin' && gen === generation) render(); return; }
      me = me || null;
      if (!me) { show(h('p', { class: 'msg bad', role: 'alert' }, e.text)); return; }
    }
  } else {
    me = null;
  }
  if (gen !== generation) return;
  drawChrome(path);
  if (!route) {
    show(h('section', null, h('h1', { tabindex: -1 }, 'Not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/' }, 'Home'))));
    return;
  }
  if (!route.public && !route.roles.includes(me.role)) {
    // Reached by URL: say so, render nothing of the screen, call nothing.
    show(h('section', null, h('h1', { tabindex: -1 }, 'Not allowed'),
      h('p', { class: 'msg bad', role: 'alert' }, `This page is not for your role (${roleName[me.role]}).`),
      h('p', null, h('a', { href: '#/' }, 'Home'))));
    return;
  }
  const ctx = {
    me, params, query, go,
    // every: run f (a promise) ms after the last run ended, while this
    // screen is shown; a failure is said in the page's live line, and
    // the next success clears it.
    every(ms, f) {
      if (gen !== generation) return;
      let t;
      const tick = async () => {
        if (gen !== generation) return;
        try {
          await f();
          if (gen === generation) liveLine('');
        } catch (e) {
          if (gen === generation && e.status !== 401) liveLine(`Live updates stopped: ${e.text || e.message}. Trying again.`);
        }
        if (gen === generation) t = setTimeout(tick, ms);
      };
      t = setTimeout(tick, ms);
      cleanups.push(() => clearTimeout(t));
    },
    alive: () => gen === generation,
    // replaceAddress changes the address to what the screen now shows (a
    // choice made on it), without drawing it again.
    replaceAddress(where) {
      history.replaceState(null, '', '#' + where);
      if (document.body.dataset.shown !== undefined) document.body.dataset.shown = location.hash;
    },
    reload: () => render(),
  };
  try {
    const node = await route.view(ctx);
    if (gen === generation && node) show(node);
  } catch (e) {
    if (e.status === 401) return;
    if (gen === generation) show(h('section', null, h('h1', { tabindex: -1 }, 'Could not load this page'), h('p', { class: 'msg bad', role: 'alert' }, e.text || String(e))));
  }
}

// liveLine says, above every screen, that its live updates failed.
function liveLine(text) {
  if (live.textContent !== text) live.textContent = text;
}

let shownOnce = false;
function show(node) {
  view.replaceChildren(node);
  liveLine('');
  performance.mark('ote:shown');
  // Which address the screen shows: a test waits for it to be the
  // address before it looks at the screen.
  document.body.dataset.shown = location.hash;
  const h1 = view.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    document.title = h1.textContent + ' · OTE console';
    // After a navigation, focus goes to the new screen's heading (so a
    // screen reader reads it); on the page's first load it stays at the
    // top, where Tab reaches the skip link first.
    if (shownOnce) h1.focus({ preventScroll: true });
  }
  shownOnce = true;
}

function drawChrome(path) {
  if (!me) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  nav.replaceChildren(...routes.filter((r) => r.nav && r.roles.includes(me.role)).map((r) => {
    const href = r.path.source.replace(/^\^\\?|\$$/g, '').replace(/\\\//g, '/');
    const current = path === href || path.startsWith(href + '/');
    return h('a', { href: '#' + href, 'aria-current': current ? 'page' : null }, r.nav);
  }));
  who.replaceChildren(
    h('span', null, h('strong', null, me.displayName), ' · ', roleName[me.role]),
    h('button', { type: 'button', class: 'secondary', onclick: async () => { await api.signOut(); me = null; go('/signin'); } }, 'Sign out'));
}

// A role changes when an administrator decides (a business approved makes
// its administrator a business administrator): the screens follow within
// 15 s, without a reload.
setInterval(async () => {
  if (!me || !api.session.get()) return;
  try {
    const now = (await api.get('/v1/authorization')).data;
    if (now.role !== me.role || now.businessId !== me.businessId) render();
  } catch { /* a 401 has gone to sign-in; others wait for the next turn */ }
}, 15000);

window.addEventListener('hashchange', render);
api.scheduleRefresh();
render();

// Signing in, registering, the home screen of each role and the account.
import * as api from './api.js';
import { auditRequests } from './deploys.js';
import { h, form, message, table, fmtTime, statusOf, businessStatus, roleName } from './ui.js';

export async function signIn(ctx) {
  const next = ctx.query.get('next') || '/';
  if (api.session.get()) { ctx.go(next); return null; }
  const f = form({
    submit: 'Sign in',
    fields: [
      { name: 'user', label: 'User name', autocomplete: 'username', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true },
    ],
    async onSubmit(v) {
      await api.signIn(v.user, v.password);
      f.inputs.password.value = '';
      ctx.go(next.startsWith('/') && !next.startsWith('/signin') ? next : '/');
    },
  });
  return h('section', { class: 'narrow card' },
    h('h1', null, 'Sign in to OTE'),
    ctx.query.get('expired') ? message('Your session ended: sign in again to go back to the page you were on.', false) : null,
    f.el,
    h('p', null, 'No account yet? ', h('a', { href: '#/register' }, 'Register'), ' (a system administrator approves it).'));
}

export async function register() {
  let f;
  f = form({
    submit: 'Register',
    fields: [
      { name: 'user', label: 'User name', autocomplete: 'username', required: true, hint: '2-32 letters, digits, _, . or -' },
      { name: 'realName', label: 'Real name', autocomplete: 'name', required: true },
      { name: 'phone', label: 'Phone', type: 'tel', autocomplete: 'tel', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true, hint: '8-20 characters with an upper case letter, a lower case letter and a digit' },
      { name: 'isAdmin', label: 'I will administer a business (a general administrator)', type: 'checkbox' },
    ],
    async onSubmit(v) {
      await api.post('/v1/user', v);
      f.inputs.password.value = '';
      return `Registered as ${v.user}. You can sign in now; the platform opens once a system administrator approves you.`;
    },
  });
  return h('section', { class: 'narrow card' },
    h('h1', null, 'Register'), f.el,
    h('p', null, h('a', { href: '#/signin' }, 'Back to sign in')));
}

// home: what the signed-in user should look at first.
export async function home(ctx) {
  const { me } = ctx;
  const out = h('section', null, h('h1', null, `Welcome, ${me.displayName}`),
    h('p', null, `You are signed in as ${roleName[me.role]}.`));
  if (me.role === 0) {
    out.append(message('Your account waits for a system administrator to approve it.', false));
    return out;
  }
  if (me.role === 1) {
    out.append(await applyForBusiness(ctx));
    return out;
  }
  const counts = [];
  const waitingAudit = async () => {
    const { all } = await auditRequests();
    const n = all.filter((a) => a.status === 0).length;
    counts.push(h('div', { class: 'card' }, h('h2', null, h('a', { href: '#/audit' }, 'Waiting for audit')), h('p', { class: 'big' }, String(n))));
  };
  const count = async (label, path, query, href) => {
    try {
      const env = await api.get(path, { page: 1, pageSize: 1, ...query });
      counts.push(h('div', { class: 'card' }, h('h2', null, h('a', { href }, label)), h('p', { class: 'big' }, String(env.total ?? 0))));
    } catch { /* a list this role cannot read is left out */ }
  };
  if (me.role === 4) {
    await count('Clusters', '/v1/cluster', {}, '#/clusters');
    await count('Businesses', '/v1/business', {}, '#/admin/businesses');
    await waitingAudit();
  } else {
    const biz = (await api.get('/v1/business/id/' + me.businessId)).data;
    out.append(h('div', { class: 'card' }, h('h2', null, 'Your business'),
      h('dl', { class: 'facts' }, h('dt', null, 'Name'), h('dd', null, biz.name), h('dt', null, 'Namespace'), h('dd', null, biz.namespace),
        h('dt', null, 'Pod security'), h('dd', null, biz.podSecurity), h('dt', null, 'Status'), h('dd', null, statusOf(businessStatus, biz.status)))));
    await count('Clusters', '/v1/cluster', {}, '#/clusters');
    await count('Apps', '/v1/app', {}, '#/apps');
    await count('Deployments', '/v1/deploy', {}, '#/deploys');
    if (me.role === 3) await waitingAudit();
  }
  out.append(h('div', { class: 'cols' }, counts));
  return out;
}

// An approved user without a business: its applications, and a form for
// a new one (the API answers 403 to one who did not register as an
// administrator, shown under the form).
async function applyForBusiness(ctx) {
  const mine = (await api.get('/v1/business', { page: 1, pageSize: 100 })).data || [];
  const live = mine.find((b) => b.status === 0);
  const box = h('div', { class: 'card' }, h('h2', null, 'Your business'));
  box.append(table('Your business applications', [
    { title: 'Name', cell: (b) => b.name },
    { title: 'Status', cell: (b) => statusOf(businessStatus, b.status) },
    { title: 'Comment', cell: (b) => b.comment || '—' },
    { title: 'Applied', cell: (b) => fmtTime(b.createTime) },
  ], mine, 'You have not applied for a business.'));
  if (live) {
    box.append(message(`Business ${live.name} waits for a system administrator's approval.`));
    return box;
  }
  const f = form({
    submit: 'Apply for the business',
    fields: [
      { name: 'name', label: 'Business name', required: true },
      { name: 'introduce', label: 'Introduction', required: true },
      { name: 'objective', label: 'Objective', required: true },
      { name: 'scale', label: 'Scale', required: true, hint: 'For example: 20 clusters' },
    ],
    async onSubmit(v) {
      await api.post('/v1/business', v);
      ctx.reload();
    },
  });
  box.append(h('h2', null, 'Apply for a business'), f.el);
  return box;
}

export async function account(ctx) {
  const f = form({
    submit: 'Change password',
    fields: [
      { name: 'oldPassword', label: 'Current password', type: 'password', autocomplete: 'current-password', required: true },
      { name: 'password', label: 'New password', type: 'password', autocomplete: 'new-password', required: true, hint: '8-20 characters with an upper case letter, a lower case letter and a digit' },
      { name: 'confirm', label: 'New password again', type: 'password', autocomplete: 'new-password', required: true },
    ],
    async onSubmit(v) {
      if (v.password !== v.confirm) {
        throw Object.assign(new Error('the two new passwords differ'), { field: 'confirm' });
      }
      // The hub revokes every other token of the user and answers a new one.
      await api.putAndReplaceToken('/v1/user', { oldPassword: v.oldPassword, password: v.password });
      for (const i of Object.values(f.inputs)) i.value = '';
      return 'Password changed. Your other sessions have ended.';
    },
  });
  return h('section', null, h('h1', null, 'Account'),
    h('div', { class: 'card' }, h('dl', { class: 'facts' },
      h('dt', null, 'User'), h('dd', null, ctx.me.displayName),
      h('dt', null, 'Role'), h('dd', null, roleName[ctx.me.role]),
      h('dt', null, 'Business'), h('dd', null, ctx.me.businessId ? String(ctx.me.businessId) : '—'))),
    h('div', { class: 'card' }, h('h2', null, 'Change password'), f.el));
}

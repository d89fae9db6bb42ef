// Administrators' screens: the audit queue of deployments, approvals of
// users and businesses, businesses with their Pod Security level, users,
// and the audit trail.
import * as api from './api.js';
import { h, redraw, latest, table, pager, fmtTime, form, action, statusOf, userStatus, businessStatus, deployType, auditStatus, roleName } from './ui.js';
import { decideForm, auditRequests } from './deploys.js';

const SIZE = 20;

export async function auditQueue(ctx) {
  const waiting = h('div');
  const decided = h('div');
  const load = latest(async ({ poll, current }) => {
    const { all, capped } = await auditRequests();
    if (!current()) return;
    const open = all.filter((a) => a.status === 0);
    redraw(waiting, open, () => (open.length === 0 ? h('p', { class: 'empty' }, 'Nothing waits for audit.') :
      h('div', null, open.map((a) => h('div', { class: 'card' },
        h('p', null, h('a', { href: '#/deploys/' + a.deployId }, `${a.appName}`), ` (${a.businessName}): `,
          `${deployType[a.deployType] || 'change'} to version ${a.version}, clusters ${a.cluster || 'every cluster'}`,
          a.comment ? ` — “${a.comment}”` : '', h('span', { class: 'hint' }, ' · filed ' + fmtTime(a.createTime))),
        decideForm(a, load))))), poll);
    redraw(decided, all, () => h('div', null,
      capped ? h('p', { class: 'hint' }, `The newest ${all.length} requests.`) : null,
      table('Decided requests', [
        { title: 'Request', cell: (a) => String(a.id) },
        { title: 'Deployment', cell: (a) => h('a', { href: '#/deploys/' + a.deployId }, a.appName) },
        { title: 'Change', cell: (a) => `${deployType[a.deployType] || a.deployType} ${a.version}${a.wave ? ' · wave ' + a.wave : ''}` },
        { title: 'Business', cell: (a) => a.businessName },
        { title: 'Decision', cell: (a) => statusOf(auditStatus, a.status) },
        { title: 'Comment', cell: (a) => a.comment || '—' },
        { title: 'When', cell: (a) => fmtTime(a.updateTime) },
      ], all.filter((a) => a.status !== 0), 'No request has been decided yet.')), poll);
  });
  await load();
  ctx.every(5000, () => load({ poll: true }));
  return h('section', null, h('h1', null, 'Audit queue'), waiting, h('h2', null, 'Decided'), decided);
}

// approvals: users and businesses waiting for the system administrator.
export async function approvals(ctx) {
  const users = h('div');
  const businesses = h('div');
  // The newest 1,000 users: those waiting for approval are among them.
  const loadUsers = latest(async ({ poll, current }) => {
    const all = (await api.get('/v1/admin/user', { pageSize: 1000, order: 'desc' })).data || [];
    if (!current()) return;
    const pending = all.filter((u) => u.status === 0);
    redraw(users, pending, () => table('Users waiting for approval', [
      { title: 'User', cell: (u) => u.user },
      { title: 'Real name', cell: (u) => u.realName },
      { title: 'Phone', cell: (u) => u.phone },
      { title: 'Administrator', cell: (u) => (u.isAdmin ? 'yes' : 'no') },
      { title: 'Registered', cell: (u) => fmtTime(u.createTime) },
      { title: 'Decision', cell: (u) => h('span', { class: 'actions' },
        action(`Approve ${u.user}`, async () => { await api.put('/v1/admin/user/' + u.id, { status: 1 }); await loadUsers(); }, { cls: '' }),
        action(`Refuse ${u.user}`, async () => { await api.put('/v1/admin/user/' + u.id, { status: 2 }); await loadUsers(); }, { cls: 'danger', confirmText: `Really refuse ${u.user}?` })) },
    ], pending, 'No user waits for approval.'), poll);
  });
  const loadBusinesses = latest(async ({ poll, current }) => {
    const all = (await api.get('/v1/business', { pageSize: 100, order: 'desc' })).data || [];
    if (!current()) return;
    const pending = all.filter((b) => b.status === 0);
    redraw(businesses, pending, () => (pending.length === 0 ? h('p', { class: 'empty' }, 'No business waits for approval.') :
      h('div', null, pending.map((b) => {
        const f = form({
          cls: 'grid', submit: `Approve ${b.name}`, more: [{ label: `Refuse ${b.name}`, value: 'refuse', cls: 'danger' }],
          fields: [
            { name: 'comment', label: `Comment to ${b.name}` },
            { name: 'podSecurity', label: 'Pod Security level', type: 'select', options: ['restricted', 'baseline', 'privileged'], value: b.podSecurity || 'restricted', hint: 'what its pods may do on the nodes' },
          ],
          async onSubmit(v, { submitter }) {
            const body = { status: submitter === 'refuse' ? 2 : 1, comment: v.comment };
            if (body.status === 1) body.podSecurity = v.podSecurity;
            await api.put('/v1/business/id/' + b.id, body);
            await loadBusinesses();
          },
        });
        return h('div', { class: 'card' }, h('h3', null, b.name),
          h('p', null, b.introduce, ' · ', b.objective, ' · ', b.scale, h('span', { class: 'hint' }, ` · applied ${fmtTime(b.createTime)}`)), f.el);
      }))), poll);
  });
  await Promise.all([loadUsers(), loadBusinesses()]);
  ctx.every(10000, () => Promise.all([loadUsers({ poll: true }), loadBusinesses({ poll: true })]));
  return h('section', null, h('h1', null, 'Approvals'), h('h2', null, 'Users'), users, h('h2', null, 'Businesses'), businesses);
}

export async function businesses(ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const env = await api.get('/v1/business', { page, pageSize: SIZE });
  const level = (b) => {
    if (b.status !== 1) return b.podSecurity;
    const f = form({
      cls: 'bar', submit: 'Set', secondary: true,
      fields: [{ name: 'podSecurity', label: `Pod Security of ${b.name}`, type: 'select', options: ['restricted', 'baseline', 'privileged'], value: b.podSecurity }],
      async onSubmit(v) { await api.put('/v1/business/id/' + b.id, { podSecurity: v.podSecurity }); return 'Set.'; },
    });
    return f.el;
  };
  return h('section', null, h('h1', null, 'Businesses'),
    table('Businesses', [
      { title: 'Business', cell: (b) => h('span', null, h('strong', null, b.name), h('br'), h('span', { class: 'hint' }, b.namespace)) },
      { title: 'Status', cell: (b) => statusOf(businessStatus, b.status) },
      { title: 'Pod Security', cell: level },
      { title: 'Objective', cell: (b) => b.objective },
      { title: 'Comment', cell: (b) => b.comment || '—' },
      { title: 'Applied', cell: (b) => fmtTime(b.createTime) },
    ], env.data, 'No business yet.'),
    pager(env.total || 0, page, SIZE, (p) => ctx.go('/admin/businesses?page=' + p)));
}

export async function users(ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const root = ctx.me.role === 4;
  const env = await api.get('/v1/admin/user', { page, pageSize: SIZE });
  const f = form({
    cls: 'grid', submit: root ? 'Create user' : 'Create a user of the business',
    fields: [
      { name: 'user', label: 'User name', required: true, autocomplete: 'off' },
      { name: 'realName', label: 'Real name', required: true },
      { name: 'phone', label: 'Phone', type: 'tel', required: true },
      { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true },
      { name: 'isAdmin', label: 'Administrator', type: 'checkbox' },
    ],
    async onSubmit(v) { await api.post('/v1/admin/user', v); ctx.reload(); },
  });
  return h('section', null, h('h1', null, 'Users'),
    table('Users', [
      { title: 'User', cell: (u) => u.user },
      { title: 'Real name', cell: (u) => u.realName },
      { title: 'Status', cell: (u) => statusOf(userStatus, u.status) },
      { title: 'Administrator', cell: (u) => (u.isAdmin ? 'yes' : 'no') },
      { title: 'Business', cell: (u) => (u.businessId ? String(u.businessId) : '—') },
      { title: 'Created', cell: (u) => fmtTime(u.createTime) },
      { title: 'Actions', cell: (u) => (u.id === ctx.me.userId ? h('span', { class: 'hint' }, 'you') : h('span', { class: 'actions' },
        root && u.status !== 1 ? action('Approve', async () => { await api.put('/v1/admin/user/' + u.id, { status: 1 }); ctx.reload(); }, { name: `Approve ${u.user}` }) : null,
        root && u.status === 1 ? action('Forbid', async () => { await api.put('/v1/admin/user/' + u.id, { status: 3 }); ctx.reload(); }, { cls: 'danger', confirmText: 'Really forbid?', name: `Forbid ${u.user}` }) : null,
        action('Delete', async () => { await api.del('/v1/admin/user/' + u.id); ctx.reload(); }, { cls: 'danger', confirmText: 'Really delete?', name: `Delete ${u.user}` }))) },
    ], env.data),
    pager(env.total || 0, page, SIZE, (p) => ctx.go('/admin/users?page=' + p)),
    h('div', { class: 'card' }, h('h2', null, 'New user'), f.el));
}

export async function trail(ctx) {
  const q = ctx.query;
  const page = Number(q.get('page')) || 1;
  const query = { page, pageSize: SIZE, user: q.get('user') || '', action: q.get('action') || '' };
  const env = await api.get('/v1/admin/audit', query);
  const filter = form({
    cls: 'bar', submit: 'Filter', secondary: true,
    fields: [
      { name: 'user', label: 'User', value: query.user },
      { name: 'action', label: 'Action', value: query.action, placeholder: 'deploy.create' },
    ],
    onSubmit: async (v) => ctx.go('/admin/trail?' + new URLSearchParams(Object.entries(v).filter(([, x]) => x)).toString()),
  });
  const again = (p) => ctx.go('/admin/trail?' + new URLSearchParams(Object.entries({ ...query, page: p }).filter(([, x]) => x)).toString());
  return h('section', null, h('h1', null, 'Audit trail'),
    h('p', { class: 'hint' }, 'Every write to the API, who made it, from where, and how it ended. Secrets are never recorded.'),
    filter.el,
    table('Audit trail', [
      { title: 'When', cell: (e) => fmtTime(e.time) },
      { title: 'User', cell: (e) => h('span', null, e.user || '—', h('br'), h('span', { class: 'hint' }, roleName[e.role] || '')) },
      { title: 'Action', cell: (e) => e.action },
      { title: 'Target', cell: (e) => e.target || '—' },
      { title: 'Result', cell: (e) => `${e.status} ${e.result || ''}` },
      { title: 'Address', cell: (e) => e.address },
      { title: 'Detail', cell: (e) => (e.detail && Object.keys(e.detail).length ? h('pre', { class: 'lines' }, JSON.stringify(e.detail)) : '—') },
    ], env.data, 'No entry matches.'),
    pager(env.total || 0, page, SIZE, again));
}

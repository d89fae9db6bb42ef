// Deployments: the list, the create form, and a deployment's page with
// its status per cluster (updated live), rollout waves, drift, history,
// and its changes: upgrade, rollback, delete, each audited.
import * as api from './api.js';
import { h, put, redraw, latest, table, pager, badge, fmtTime, form, action, message, statusOf, deployStatus, deployType } from './ui.js';

const SIZE = 20;
const tenant = (me) => me.role === 2 || me.role === 3;

export async function list(ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const name = ctx.query.get('app') || '';
  const body = h('div');
  const load = latest(async ({ poll, current }) => {
    const env = await api.get('/v1/deploy', { page, pageSize: SIZE, appName: name });
    if (!current()) return;
    redraw(body, [env.data, env.total], () => [table('Deployments', [
      { title: 'Deployment', cell: (d) => h('a', { href: '#/deploys/' + d.id }, d.deployName) },
      { title: 'App', cell: (d) => `${d.appName} ${d.version}` },
      { title: 'Clusters', cell: (d) => d.cluster || 'every cluster' },
      { title: 'Status', cell: (d) => statusOf(deployStatus, d.status) },
      { title: 'Last change', cell: (d) => deployType[d.deployType] || String(d.deployType) },
      { title: 'Business', cell: (d) => d.businessName },
      { title: 'Updated', cell: (d) => fmtTime(d.updateTime) },
    ], env.data, name ? `No deployment of ${name}.` : 'No deployment yet.'),
    pager(env.total || 0, page, SIZE, (p) => ctx.go(`/deploys?page=${p}${name ? '&app=' + encodeURIComponent(name) : ''}`))], poll);
  });
  await load();
  ctx.every(5000, () => load({ poll: true }));
  const filter = form({
    cls: 'bar', submit: 'Filter', secondary: true,
    fields: [{ name: 'app', label: 'App name', value: name, placeholder: 'any' }],
    onSubmit: async (v) => ctx.go('/deploys' + (v.app ? '?app=' + encodeURIComponent(v.app) : '')),
  });
  return h('section', null, h('h1', null, 'Deployments'),
    tenant(ctx.me) ? h('div', { class: 'actions' }, h('a', { href: '#/deploys/new', class: 'button' }, 'New deployment')) : null,
    filter.el, body);
}

// strategyOf parses the strategy field (JSON, optional).
function strategyOf(text) {
  if (!text || !text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw Object.assign(new Error('strategy: ' + e.message), { field: 'strategy' });
  }
}

const strategyHint = 'optional, JSON: {"waves":[{"name":"canary","clusterLabel":"canary"},{"percent":50,"approval":true},{}],"soakSeconds":60,"autoRollback":true}';

export async function create(ctx) {
  const [apps, labels] = await Promise.all([
    api.get('/v1/app', { pageSize: 0 }),
    api.get('/v1/cluster/label'),
  ]);
  const names = [...new Set((apps.data || []).map((a) => a.appName))].sort();
  const f = form({
    cls: 'grid', submit: 'Create deployment',
    fields: [
      { name: 'deployName', label: 'Deployment name', required: true, value: ctx.query.get('app') || '' },
      { name: 'appName', label: 'App', type: 'select', options: [['', 'Choose an app'], ...names], value: ctx.query.get('app') || '' },
      { name: 'version', label: 'Version', required: true, value: ctx.query.get('version') || '', hint: 'a version of the app, x.y' },
      { name: 'cluster', label: 'Cluster label', type: 'select', options: [['', 'Every cluster'], ...(labels.data || [])], hint: 'the clusters carrying it' },
      { name: 'nodeLabel', label: 'Node label', hint: 'optional: only nodes carrying it' },
      { name: 'driftPolicy', label: 'Drift', type: 'select', options: [['correct', 'Put back changes made in a cluster'], ['report', 'Only report them']], value: 'correct' },
      { name: 'comment', label: 'Comment for the auditor', wide: true },
      { name: 'strategy', label: 'Rollout strategy', type: 'textarea', wide: true, hint: strategyHint },
    ],
    async onSubmit(v) {
      const body = { ...v, strategy: strategyOf(v.strategy) };
      for (const k of ['cluster', 'nodeLabel', 'strategy']) if (!body[k]) delete body[k];
      const env = await api.post('/v1/deploy', body);
      ctx.go('/deploys/' + env.data.id);
    },
  });
  return h('section', null, h('p', null, h('a', { href: '#/deploys' }, '← Deployments')), h('h1', null, 'New deployment'),
    h('div', { class: 'card' }, f.el));
}

// The status lines the hub writes in errorMessage ("edge-a: 2/2 pods running").
function statusLines(text) {
  if (!text) return h('span', { class: 'hint' }, 'no report yet');
  return h('pre', { class: 'lines' }, text.split(/;\s*|\n/).filter(Boolean).join('\n'));
}

function rolloutCard(ctx, d, refresh) {
  const r = d.rollout;
  if (!r) return null;
  const act = (what) => action(what[0].toUpperCase() + what.slice(1), async () => {
    await api.post(`/v1/deploy/id/${d.id}/rollout`, { action: what });
    await refresh();
  }, { cls: what === 'abort' ? 'danger' : 'secondary', confirmText: what === 'abort' ? 'Really abort?' : null });
  const live = ['running', 'waiting', 'approval', 'paused', 'failed'].includes(r.state);
  // The API pauses a running or waiting rollout, resumes a paused or failed
  // one (members of its business only) and aborts any that is live.
  return h('div', { class: 'card' }, h('h2', null, 'Rollout'),
    h('dl', { class: 'facts' },
      h('dt', null, 'State'), h('dd', null, badge(r.state === 'approval' ? 'waiting for approval' : r.state, r.state === 'succeeded' ? 'ok' : ['failed', 'aborted', 'rolledBack'].includes(r.state) ? 'bad' : 'warn')),
      h('dt', null, 'Version'), h('dd', null, `${r.previousVersion || '—'} → ${r.version} (${deployType[r.deployType] || r.deployType})`),
      // wave counts from 1.
      h('dt', null, 'Current wave'), h('dd', null, `${(r.waves && r.waves[r.wave - 1] && r.waves[r.wave - 1].name) || r.wave} (${r.wave} of ${(r.waves || []).length})`),
      r.reason ? [h('dt', null, 'Reason'), h('dd', null, r.reason)] : null),
    table('Waves', [
      { title: 'Wave', cell: (w) => w.name },
      { title: 'State', cell: (w) => w.state || '—' },
      { title: 'Then', cell: (w) => (w.approval ? 'an approval' : w.waitSeconds ? `wait ${w.waitSeconds} s` : 'next wave') },
      { title: 'Clusters', cell: (w) => (w.clusters || []).map((c) => h('div', null, `${c.name}: ${c.version || '—'} `, h('span', { class: 'hint' }, c.state || ''))) },
    ], r.waves),
    live ? h('div', { class: 'actions' },
      r.state === 'running' || r.state === 'waiting' ? act('pause') : null,
      (r.state === 'paused' || r.state === 'failed') && tenant(ctx.me) ? act('resume') : null,
      act('abort')) : null);
}

function driftCard(d) {
  if (!d.drift || d.drift.length === 0) return null;
  return h('div', { class: 'card' }, h('h2', null, 'Drift'),
    h('p', { class: 'hint' }, d.driftPolicy === 'report' ? 'Changes made in the clusters are reported and kept.' : 'Changes made in the clusters are put back.'),
    table('Drift', [
      { title: 'Cluster', cell: (x) => x.cluster },
      { title: 'Object', cell: (x) => x.object },
      { title: 'Field', cell: (x) => x.field },
      { title: 'Wanted', cell: (x) => x.desired },
      { title: 'Found', cell: (x) => x.actual },
      { title: 'Changed by', cell: (x) => x.manager || 'unknown' },
      { title: 'When', cell: (x) => fmtTime(x.time || x.reportTime) },
      { title: 'Put back', cell: (x) => (x.corrected ? badge('yes', 'ok') : badge('no', 'warn')) },
    ], d.drift));
}

// auditBox: the deployment's waiting requests, with approve and refuse
// for those who may decide them.
function auditBox(requests, refresh) {
  if (requests.length === 0) return null;
  return h('div', { class: 'card' }, h('h2', null, 'Waiting for audit'),
    requests.map((a) => decideForm(a, refresh)));
}

// auditRequests reads the audit requests the caller may decide, newest
// first, up to 1,000 (capped: there are more).
export async function auditRequests(query = {}) {
  const all = [];
  let total = 0;
  for (let page = 1; page <= 5; page++) {
    const env = await api.get('/v1/admin/deploy', { ...query, page, pageSize: 200, order: 'desc' });
    all.push(...(env.data || []));
    total = env.total || 0;
    if (all.length >= total || (env.data || []).length < 200) break;
  }
  return { all, capped: all.length < total };
}

export function decideForm(a, done) {
  const what = `${deployType[a.deployType] || 'change'} to ${a.version}${a.wave ? `, wave ${a.wave} (${(a.clusters || []).join(', ')})` : ''}`;
  const f = form({
    cls: 'bar', submit: 'Approve', more: [{ label: 'Refuse', value: 'refuse', cls: 'danger' }],
    fields: [{ name: 'comment', label: `Comment on request ${a.id}: ${what}` }],
    async onSubmit(v, { submitter }) {
      await api.put('/v1/admin/deploy', { id: a.id, status: submitter === 'refuse' ? 2 : 1, comment: v.comment });
      await done();
    },
  });
  return f.el;
}

export async function detail(ctx) {
  const id = ctx.params[0];
  const changes = h('div');
  const history = h('div');
  const admin = ctx.me.role === 3 || ctx.me.role === 4;
  let d;
  let shown = ''; // the state the change forms were drawn for

  // what names the change in its fields' labels ("Version to upgrade to").
  const change = (method, submit, what) => form({
    cls: 'grid', submit,
    fields: [
      { name: 'version', label: `Version to ${what}`, required: true },
      { name: 'comment', label: `Comment on the ${submit.toLowerCase()}` },
      { name: 'strategy', label: `Rollout strategy of the ${submit.toLowerCase()}`, type: 'textarea', wide: true, hint: strategyHint },
    ],
    async onSubmit(v) {
      const body = { version: v.version, comment: v.comment, strategy: strategyOf(v.strategy) };
      if (!body.strategy) delete body.strategy;
      await api.call(method, '/v1/deploy/id/' + id, { body });
      await load();
      return 'Filed; it waits for its audit unless auto-deploy applies.';
    },
  });
  // drawChanges draws upgrade, rollback and delete when the deployment
  // takes a change, and says why not otherwise; only when that changes,
  // so that a poll never clears what the user is typing.
  const drawChanges = () => {
    const now = d.status === 9 ? 'deleted' : d.editable ? 'editable' : 'busy';
    if (now === shown) return;
    shown = now;
    if (now === 'deleted') {
      put(changes, message('This deployment was deleted.'));
    } else if (now === 'busy') {
      put(changes, message('A change waits for its audit or is under way: upgrade, rollback and delete open when it is done.'));
    } else {
      put(changes, h('div', { class: 'cols' },
        h('div', { class: 'card' }, h('h2', null, 'Upgrade'), change('POST', 'Upgrade', 'upgrade to').el),
        h('div', { class: 'card' }, h('h2', null, 'Roll back'), h('p', { class: 'hint' }, 'to a version that has been live (History)'), change('PUT', 'Rollback', 'roll back to').el),
        h('div', { class: 'card' }, h('h2', null, 'Delete'), h('p', null, 'Removes the workload from every cluster, after its audit.'),
          action('Delete deployment', async () => { await api.del('/v1/deploy/id/' + id); await load(); }, { cls: 'danger', confirmText: 'Really delete?' }))));
    }
  };
  const facts = h('div');
  const audit = h('div');
  const rollout = h('div');
  const drift = h('div');
  const said = h('p', { class: 'sr', 'aria-live': 'polite' }); // the status, read out when it changes
  const load = latest(async ({ poll, current }) => {
    const [one, past, queue] = await Promise.all([
      api.get('/v1/deploy/id/' + id),
      api.get('/v1/deploy/id/' + id, { field: 'historyVersion' }),
      admin ? auditRequests(d ? { businessName: d.businessName } : {}) : Promise.resolve({ all: [] }),
    ]);
    if (!current()) return;
    d = one.data;
    const waiting = queue.all.filter((a) => a.deployId === d.id && a.status === 0);
    const text = `Status: ${(deployStatus[d.status] || [String(d.status)])[0]}`;
    if (said.textContent !== text) said.textContent = text;
    redraw(facts, { ...d, drift: undefined, rollout: undefined }, () => h('div', { class: 'card' },
      h('dl', { class: 'facts' },
        h('dt', null, 'Status'), h('dd', null, statusOf(deployStatus, d.status)),
        h('dt', null, 'Clusters'), h('dd', null, statusLines(d.errorMessage)),
        h('dt', null, 'App'), h('dd', null, `${d.appName} ${d.version}`),
        h('dt', null, 'Cluster label'), h('dd', null, d.cluster || 'every cluster'),
        h('dt', null, 'Node label'), h('dd', null, d.nodeLabel || '—'),
        h('dt', null, 'Drift'), h('dd', null, d.driftPolicy === 'report' ? 'reported' : 'put back'),
        h('dt', null, 'Last change'), h('dd', null, `${deployType[d.deployType] || d.deployType}${d.comment ? ': ' + d.comment : ''}`),
        h('dt', null, 'Audit comment'), h('dd', null, d.auditComment || '—'),
        h('dt', null, 'Business'), h('dd', null, d.businessName),
        h('dt', null, 'Updated'), h('dd', null, fmtTime(d.updateTime)))), poll);
    redraw(audit, waiting, () => auditBox(waiting, load), poll);
    redraw(rollout, d.rollout || null, () => rolloutCard(ctx, d, load), poll);
    redraw(drift, d.drift || null, () => driftCard(d), poll);
    redraw(history, past.data, () => table('Versions that have been live', [
      { title: 'Version', cell: (v) => v.version },
      { title: 'Deployed', cell: (v) => fmtTime(v.deployTime) },
    ], past.data, 'No version has been live yet.'), poll);
    drawChanges();
  });
  await load();
  ctx.every(2000, () => load({ poll: true }));
  return h('section', null, h('p', null, h('a', { href: '#/deploys' }, '← Deployments')), h('h1', null, `Deployment ${d.deployName}`),
    said, facts, audit, rollout, drift, changes, h('h2', null, 'History'), history);
}


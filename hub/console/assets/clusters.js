// Clusters and their nodes, with labels (the system administrator adds
// and removes them; everyone approved sees them).
import * as api from './api.js';
import { h, table, pager, badge, fmtTime, fmtBytes, form, action, redraw, latest } from './ui.js';

const SIZE = 20;

function ready(ok) { return ok ? badge('ready', 'ok') : badge('not ready', 'bad'); }

// labels shows label chips. remove(label), when given, adds a remove
// button to each, which asks for a second press: removing a label takes
// its deployments off the cluster (or the node).
function labels(list, remove, what) {
  if (!list || list.length === 0) return '—';
  return h('span', null, list.map((l) => h('span', { class: 'chip' }, l,
    remove ? action('×', () => remove(l), { cls: 'remove', confirmText: 'Remove?', name: `Remove label ${l} from ${what}` }) : null)));
}

// labelAdder is a small form that adds a label (POST), its refusal shown
// under the field.
function labelAdder(what, add) {
  return form({
    cls: 'bar', submit: 'Add label', secondary: true,
    fields: [{ name: 'label', label: `New label for ${what}`, placeholder: 'east' }],
    onSubmit: async (v, { inputs }) => {
      await add(v.label);
      inputs.label.value = '';
    },
  }).el;
}

// seen leaves out what changes with every heartbeat, so that a poll
// redraws a list when something a user acts on changed.
const seen = (c) => ({ ...c, lastSeenTime: undefined });

export async function list(ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const label = ctx.query.get('label') || '';
  const root = ctx.me.role === 4;
  const body = h('div');
  const load = latest(async ({ poll, current }) => {
    const env = await api.get('/v1/cluster', { page, pageSize: SIZE, clusterLabel: label });
    if (!current()) return;
    const rows = env.data || [];
    const removeLabel = (c) => async (l) => {
      await api.del('/v1/cluster/label', { clusterName: [c.clusterName], clusterLabel: l });
      await load();
    };
    redraw(body, [rows.map(seen), env.total], () => [
      table('Clusters', [
        { title: 'Cluster', cell: (c) => h('a', { href: '#/clusters/' + encodeURIComponent(c.clusterName) }, c.clusterName) },
        { title: 'Readiness', cell: (c) => ready(c.isReady) },
        { title: 'Nodes ready', num: true, cell: (c) => `${c.readyNodeCount} / ${c.nodeCount}` },
        { title: 'Agent', cell: (c) => c.agentVersion || '—' },
        { title: 'Last seen', cell: (c) => fmtTime(c.lastSeenTime) },
        { title: 'Labels', cell: (c) => labels(c.labels, root ? removeLabel(c) : null, c.clusterName) },
      ], rows, label ? `No cluster carries the label ${label}.` : 'No cluster has joined yet: install the agent in an edge cluster.'),
      pager(env.total || 0, page, SIZE, (p) => ctx.go(`/clusters?page=${p}${label ? '&label=' + encodeURIComponent(label) : ''}`))], poll);
  });
  await load();
  ctx.every(10000, () => load({ poll: true }));
  const filter = form({
    cls: 'bar', submit: 'Filter', secondary: true,
    fields: [{ name: 'label', label: 'Cluster label', value: label, placeholder: 'any' }],
    onSubmit: async (v) => ctx.go('/clusters' + (v.label ? '?label=' + encodeURIComponent(v.label) : '')),
  });
  return h('section', null, h('h1', null, 'Clusters'), filter.el, body,
    root ? h('p', { class: 'hint' }, 'Label a cluster on its page; deployments choose clusters by label.') : null);
}

export async function detail(ctx) {
  const name = ctx.params[0];
  const root = ctx.me.role === 4;
  const facts = h('div');
  const nodes = h('div');
  const load = latest(async ({ poll, current }) => {
    // The list is the only read of a cluster's facts (readiness, agent,
    // last seen); the hub answers it from one query.
    const [env, ns] = await Promise.all([
      api.get('/v1/cluster', { pageSize: 0 }),
      api.get('/v1/node', { clusterName: name, pageSize: 1000 }),
    ]);
    if (!current()) return;
    const c = (env.data || []).find((x) => x.clusterName === name);
    if (!c) throw Object.assign(new Error(`no cluster ${name}`), { text: `There is no cluster ${name}.` });
    redraw(facts, c, () => h('dl', { class: 'facts' },
      h('dt', null, 'Readiness'), h('dd', null, ready(c.isReady)),
      h('dt', null, 'Nodes ready'), h('dd', null, `${c.readyNodeCount} of ${c.nodeCount}`),
      h('dt', null, 'Agent version'), h('dd', null, c.agentVersion || '—'),
      h('dt', null, 'Last seen'), h('dd', null, fmtTime(c.lastSeenTime)),
      h('dt', null, 'Joined'), h('dd', null, fmtTime(c.createTime)),
      h('dt', null, 'Labels'), h('dd', null, labels(c.labels, root ? async (l) => {
        await api.del('/v1/cluster/label', { clusterName: [name], clusterLabel: l });
        await load();
      } : null, name))), poll);
    const list = ns.data || [];
    redraw(nodes, list.map((n) => ({ ...n, updateTime: undefined })), () => table(`Nodes of ${name}`, [
      { title: 'Node', cell: (n) => h('span', null, h('strong', null, n.nodeName), h('br'), h('span', { class: 'hint' }, n.ip || '')) },
      { title: 'Readiness', cell: (n) => ready(n.isReady) },
      { title: 'CPU cores', num: true, cell: (n) => String(n.cpu) },
      { title: 'Memory', num: true, cell: (n) => fmtBytes(n.memory) },
      { title: 'GPUs', num: true, cell: (n) => String(n.gpuCount) },
      { title: 'GPU memory', num: true, cell: (n) => (n.gpu ? fmtBytes(n.gpu) : '—') },
      { title: 'Disk', num: true, cell: (n) => fmtBytes(n.disk) },
      { title: 'System', cell: (n) => [n.osImage || n.operatingSystem, h('br'), h('span', { class: 'hint' }, n.kernelVersion || '')] },
      { title: 'Labels', cell: (n) => [labels(n.labels, root ? async (l) => {
        await api.del('/v1/node/label', { clusterName: name, nodeName: [n.nodeName], nodeLabel: l });
        await load();
      } : null, n.nodeName), root ? labelAdder(n.nodeName, async (l) => {
        await api.post('/v1/node/label', { clusterName: name, nodeName: [n.nodeName], nodeLabel: l });
        await load();
      }) : null] },
    ], list, 'The agent has reported no nodes yet.'), poll);
  });
  await load();
  ctx.every(10000, () => load({ poll: true }));
  // The cluster's label adder is drawn once, apart from what polls redraw.
  const adder = root ? labelAdder(name, async (l) => { await api.post('/v1/cluster/label', { clusterName: [name], clusterLabel: l }); await load(); }) : null;
  return h('section', null, h('p', null, h('a', { href: '#/clusters' }, '← Clusters')), h('h1', null, `Cluster ${name}`),
    h('div', { class: 'card' }, facts, adder), h('h2', null, 'Nodes'), nodes);
}

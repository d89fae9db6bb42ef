// Applications: the list, a container app's form, a chart's upload, and
// an app's page with its versions. The API validates; the forms show its
// 422 under the field it names, so the rules live in one place (hub/deploy).
import * as api from './api.js';
import { h, table, pager, badge, fmtTime, fmtBytes, form, action } from './ui.js';

const SIZE = 20;
const tenant = (me) => me.role === 2 || me.role === 3;

function kindOf(a) {
  return a.kind === 'chart' || a.chartName ? badge('chart') : badge('container');
}

export async function list(ctx) {
  const page = Number(ctx.query.get('page')) || 1;
  const name = ctx.query.get('name') || '';
  const env = await api.get('/v1/app', { page, pageSize: SIZE, appName: name });
  const err = h('p', { class: 'form-error', role: 'alert' });
  const filter = form({
    cls: 'bar', submit: 'Filter', secondary: true,
    fields: [{ name: 'name', label: 'App name', value: name, placeholder: 'any' }],
    onSubmit: async (v) => ctx.go('/apps' + (v.name ? '?name=' + encodeURIComponent(v.name) : '')),
  });
  return h('section', null, h('h1', null, 'Apps'),
    tenant(ctx.me) ? h('div', { class: 'actions' },
      h('a', { href: '#/apps/new', class: 'button' }, 'New container app'),
      h('a', { href: '#/apps/chart', class: 'button secondary' }, 'Upload a chart')) : null,
    filter.el, err,
    table('Apps', [
      { title: 'App', cell: (a) => h('a', { href: '#/apps/' + a.id }, a.appName) },
      { title: 'Version', cell: (a) => a.version },
      { title: 'Kind', cell: kindOf },
      { title: 'Image or chart', cell: (a) => (a.chartName ? `${a.chartName} ${a.chartVersion}` : a.image) },
      { title: 'Created', cell: (a) => fmtTime(a.createTime) },
      { title: 'Actions', cell: (a) => h('span', { class: 'actions' },
        tenant(ctx.me) ? h('a', { href: `#/deploys/new?app=${encodeURIComponent(a.appName)}&version=${encodeURIComponent(a.version)}`, 'aria-label': `Deploy ${a.appName} ${a.version}` }, 'Deploy') : null,
        tenant(ctx.me) ? action('Delete', async () => { await api.del('/v1/app', { appId: [a.id] }); ctx.reload(); }, { cls: 'danger', confirmText: 'Really delete?', name: `Delete ${a.appName} ${a.version}` }) : null) },
    ], env.data, name ? `No app matches ${name}.` : 'No app yet.'),
    pager(env.total || 0, page, SIZE, (p) => ctx.go(`/apps?page=${p}${name ? '&name=' + encodeURIComponent(name) : ''}`)));
}

// Lines of text into the API's lists; a line that does not parse is a
// refusal of the field, worded as the API words them.
function fieldError(field, text) {
  return Object.assign(new Error(`${field}: ${text}`), { field, text: `${field}: ${text}` });
}

function parsePorts(text) {
  // "http 80:8080/TCP" or "8080": name, servicePort:containerPort, protocol
  return lines(text).map((l, i) => {
    const m = /^(?:([a-z0-9-]+)\s+)?(?:(\d+):)?(\d+)(?:\/(TCP|UDP|SCTP))?$/i.exec(l);
    if (!m) throw fieldError('port', `line ${i + 1} ("${l}") is not [name] [servicePort:]containerPort[/protocol]`);
    return { name: m[1] || '', servicePort: Number(m[2] || 0), containerPort: Number(m[3]), protocol: (m[4] || 'TCP').toUpperCase() };
  });
}

function parseEnv(text) {
  return lines(text).map((l, i) => {
    const at = l.indexOf('=');
    if (at < 1) throw fieldError('env', `line ${i + 1} is not NAME=value`);
    return { name: l.slice(0, at), value: l.slice(at + 1) };
  });
}

function parseVolumes(text) {
  // "cache /cache emptyDir" or "models /models hostPath /data/models ro"
  return lines(text).map((l, i) => {
    const p = l.split(/\s+/);
    if (p.length < 3) throw fieldError('volume', `line ${i + 1} is not name mountPath type [hostPath] [ro]`);
    const v = { name: p[0], mountPath: p[1], type: p[2] };
    if (p[2] === 'hostPath') v.hostPath = p[3] || '';
    v.readOnly = p[p.length - 1] === 'ro';
    return v;
  });
}

function lines(text) { return (text || '').split('\n').map((l) => l.trim()).filter(Boolean); }

export async function create(ctx) {
  const num = (name, label, value, hint) => ({ name, label, type: 'number', value, min: 0, hint, inputmode: 'numeric' });
  const f = form({
    cls: 'grid', submit: 'Create app',
    fields: [
      { name: 'appName', label: 'App name', required: true, hint: 'lower case letters, digits and -' },
      { name: 'version', label: 'Version', required: true, hint: 'x.y, such as 1.0' },
      { name: 'deployType', label: 'Kind of workload', type: 'select', options: [['deployment', 'Deployment'], ['daemonset', 'DaemonSet (one pod per node)']], value: 'deployment' },
      { name: 'image', label: 'Image', required: true, wide: true, placeholder: 'registry.example.com/web:1.0' },
      { name: 'repositoryId', label: 'External repository', hint: 'its id, for a private registry (optional)' },
      num('replicas', 'Replicas', 1),
      num('minCPU', 'CPU request', 100, 'percent of a core'),
      num('maxCPU', 'CPU limit', 500, 'percent of a core'),
      num('minMemory', 'Memory request', 64, 'MB'),
      num('maxMemory', 'Memory limit', 256, 'MB'),
      num('GPU', 'GPUs', 0),
      num('maxUnavailable', 'Max unavailable', 0, 'pods during a rolling update'),
      num('maxSurge', 'Max surge', 1, 'pods during a rolling update'),
      num('minReadySeconds', 'Min ready seconds', 0),
      { name: 'isHPA', label: 'Autoscale (horizontal pod autoscaler)', type: 'checkbox' },
      num('minReplicas', 'Min replicas', 0, 'when autoscaled'),
      num('maxReplicas', 'Max replicas', 0, 'when autoscaled'),
      num('targetCPUUtilization', 'Target CPU %', 0, 'when autoscaled'),
      num('targetMemUtilization', 'Target memory %', 0, 'when autoscaled'),
      { name: 'port', label: 'Ports', type: 'textarea', wide: true, value: 'http 80:8080/TCP', hint: 'one per line: [name] [servicePort:]containerPort[/TCP|UDP|SCTP]' },
      { name: 'command', label: 'Command', wide: true, hint: 'optional; split like a shell line' },
      { name: 'env', label: 'Environment', type: 'textarea', wide: true, hint: 'one per line: NAME=value' },
      { name: 'volume', label: 'Volumes', type: 'textarea', wide: true, hint: 'one per line: name mountPath emptyDir, or name mountPath hostPath /path [ro]' },
    ],
    async onSubmit(v) {
      const body = { ...v, port: parsePorts(v.port), env: parseEnv(v.env), volume: parseVolumes(v.volume) };
      if (!body.repositoryId) delete body.repositoryId;
      if (!body.command) delete body.command;
      const env = await api.post('/v1/app', body);
      ctx.go('/apps/' + env.data.id);
    },
  });
  return h('section', null, h('p', null, h('a', { href: '#/apps' }, '← Apps')), h('h1', null, 'New container app'), h('div', { class: 'card' }, f.el));
}

export async function upload(ctx) {
  const f = form({
    submit: 'Upload chart',
    fields: [
      { name: 'appName', label: 'App name', required: true },
      { name: 'version', label: 'Version', required: true, hint: 'x.y, such as 1.0' },
      { name: 'chart', label: 'Chart archive (.tgz)', type: 'file', accept: '.tgz,.tar.gz,application/gzip', required: true },
    ],
    async onSubmit(v) {
      const fd = new FormData();
      fd.append('appName', v.appName);
      fd.append('version', v.version);
      if (v.chart) fd.append('chart', v.chart);
      const env = await api.call('POST', '/v1/app/chart', { form: fd });
      ctx.go('/apps/' + env.data.id);
    },
  });
  return h('section', null, h('p', null, h('a', { href: '#/apps' }, '← Apps')), h('h1', null, 'Upload a chart'),
    h('div', { class: 'card' }, h('p', { class: 'hint' }, 'A Helm chart archive, as helm package makes it. The hub checks it and keeps it; agents fetch it by digest.'), f.el));
}

export async function detail(ctx) {
  const a = (await api.get('/v1/app/id/' + ctx.params[0])).data;
  const versions = (await api.get('/v1/app', { appName: a.appName, appNameMode: 'strict', pageSize: 100 })).data || [];
  const facts = [['Version', a.version], ['Kind', a.chartName ? 'Helm chart' : 'container']];
  if (a.chartName) facts.push(['Chart', `${a.chartName} ${a.chartVersion} (${fmtBytes(a.chartSize)})`], ['Digest', a.chartDigest]);
  else {
    facts.push(['Image', a.image], ['Workload', a.deployType], ['Replicas', a.isHPA ? `${a.minReplicas}-${a.maxReplicas} (autoscaled)` : String(a.replicas)],
      ['CPU', `${a.minCPU}-${a.maxCPU} % of a core`], ['Memory', `${a.minMemory}-${a.maxMemory} MB`], ['GPUs', String(a.GPU || 0)],
      ['Ports', (a.port || []).map((p) => `${p.name || ''} ${p.servicePort}:${p.containerPort}/${p.protocol}`.trim()).join(', ') || '—'],
      ['Command', a.command || '—'], ['Environment', (a.env || []).map((e) => e.name).join(', ') || '—'],
      ['Volumes', (a.volume || []).map((v) => `${v.name} → ${v.mountPath} (${v.type})`).join(', ') || '—']);
    if (a.repositoryId) facts.push(['External repository', a.repositoryId]);
  }
  facts.push(['Created', fmtTime(a.createTime)]);
  return h('section', null, h('p', null, h('a', { href: '#/apps' }, '← Apps')), h('h1', null, `App ${a.appName} ${a.version}`),
    h('div', { class: 'card' }, h('dl', { class: 'facts' }, facts.map(([k, v]) => [h('dt', null, k), h('dd', null, v)])),
      tenant(ctx.me) ? h('p', null, h('a', { href: `#/deploys/new?app=${encodeURIComponent(a.appName)}&version=${encodeURIComponent(a.version)}`, class: 'button' }, 'Deploy this version')) : null),
    h('h2', null, 'Versions'),
    table(`Versions of ${a.appName}`, [
      { title: 'Version', cell: (v) => h('a', { href: '#/apps/' + v.id }, v.version) },
      { title: 'Image or chart', cell: (v) => (v.chartName ? `${v.chartName} ${v.chartVersion}` : v.image) },
      { title: 'Created', cell: (v) => fmtTime(v.createTime) },
    ], versions));
}

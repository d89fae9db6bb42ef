// Images: the hub registry's projects, their images and tags, the user's
// registry account (for docker login) and the business's external
// registries.
import * as api from './api.js';
import { h, put, table, pager, form, action, message, fmtTime } from './ui.js';

const USER = 2, BADMIN = 3, SYSADMIN = 4;
const SIZE = 10;

// Project times come as RFC 3339 strings, image and tag times as Unix seconds.
const fmtIso = (s) => (s ? fmtTime(Date.parse(s) / 1000) : '—');

// loader keeps the last of several loads of one card: an earlier answer
// that arrives late is dropped, and so is one that arrives after leaving.
// A load asked with rethrow leaves the card as it was on a refusal and
// throws it (for the form that asked).
function loader(ctx, box, load) {
  let seq = 0;
  return async ({ rethrow = false } = {}) => {
    const mine = ++seq;
    let node;
    try {
      node = await load();
    } catch (e) {
      if (rethrow) throw e;
      node = message(e.text || e.message, false);
    }
    if (mine === seq && ctx.alive()) put(box, node);
  };
}

// fetchPage gets one page of a list; a page past the end (after a delete)
// falls back to the last one. It answers [envelope, page].
async function fetchPage(path, query, page) {
  let env = await api.get(path, { ...query, page, pageSize: SIZE });
  const last = Math.max(1, Math.ceil((env.total || 0) / SIZE));
  if (page > last) {
    page = last;
    env = await api.get(path, { ...query, page, pageSize: SIZE });
  }
  return [env, page];
}

// pick is a button that selects a row; the selected one is filled in.
function pick(text, selected, onclick) {
  return h('button', { type: 'button', class: selected ? 'pick' : 'pick secondary', 'aria-pressed': selected ? 'true' : 'false', onclick }, text);
}

// markPicked shows which row of a table is selected, without a reload.
function markPicked(box, text) {
  for (const b of box.querySelectorAll('button.pick')) {
    const on = b.textContent === text;
    b.classList.toggle('secondary', !on);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
}

// clearForm empties a form after a successful create.
const clearForm = (f) => f.el.reset();

// repeatCheck refuses a password that was not typed the same twice.
function repeatCheck(v) {
  if (v.password !== v.repeat) throw Object.assign(new Error('The passwords differ.'), { field: 'repeat' });
}

export async function view(ctx) {
  const role = ctx.me.role;
  const canDelete = role === BADMIN || role === SYSADMIN;
  const st = {
    project: ctx.query.get('project') || '',
    image: '',
    projectPage: 1, imagePage: 1, tagPage: 1,
    filter: { projectName: '', public: '' },
  };

  // Cards' bodies, filled in by their loaders.
  const projectBox = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const imageTitle = h('h2', null, 'Images');
  const imageBox = h('div');
  const tagBox = h('div');

  // select remembers the project in the address without a reload.
  const select = (name) => {
    st.project = name; st.image = ''; st.imagePage = 1; st.tagPage = 1;
    ctx.replaceAddress('/images' + (name ? '?project=' + encodeURIComponent(name) : ''));
    markPicked(projectBox, name);
    loadImages(); loadTags();
  };

  const loadProjects = loader(ctx, projectBox, async () => {
    const [env, page] = await fetchPage('/v1/repository/project', st.filter, st.projectPage);
    st.projectPage = page;
    const cols = [
      { title: 'Project', cell: (p) => pick(p.projectName, p.projectName === st.project, () => select(p.projectName)) },
      { title: 'Public', cell: (p) => (p.public ? 'yes' : 'no') },
      { title: 'Images', cell: (p) => String(p.imageCount ?? 0), num: true },
      { title: 'Created', cell: (p) => fmtIso(p.createTime) },
    ];
    if (canDelete) {
      cols.push({ title: 'Actions', cell: (p) => action(`Delete ${p.projectName}`, async () => {
        await api.del('/v1/repository/project', { projectId: [p.projectId] });
        if (p.projectName === st.project) select('');
        await loadProjects();
      }, { cls: 'danger', confirmText: 'Really delete?' }) });
    }
    return h('div', null,
      table('Projects', cols, env.data || [], 'No projects yet.'),
      pager(env.total || 0, page, SIZE, (n) => { st.projectPage = n; loadProjects(); }));
  });

  const loadImages = loader(ctx, imageBox, async () => {
    imageTitle.textContent = st.project ? `Images of ${st.project}` : 'Images';
    if (!st.project) return h('p', { class: 'hint' }, 'Choose a project above to see its images.');
    const [env, page] = await fetchPage('/v1/repository/image', { projectName: st.project }, st.imagePage);
    st.imagePage = page;
    const cols = [
      { title: 'Image', cell: (i) => pick(i.imageName, i.imageName === st.image, () => {
        st.image = i.imageName; st.tagPage = 1;
        markPicked(imageBox, i.imageName);
        loadTags();
      }) },
      { title: 'Address', cell: (i) => h('code', null, i.imageAddress) },
      { title: 'Created', cell: (i) => fmtTime(i.createTime) },
      { title: 'Updated', cell: (i) => fmtTime(i.updateTime) },
    ];
    if (canDelete) {
      cols.push({ title: 'Actions', cell: (i) => action(`Delete ${i.imageName}`, async () => {
        await api.del('/v1/repository/image', { imageName: [i.imageName] });
        if (i.imageName === st.image) { st.image = ''; loadTags(); }
        loadProjects(); // its image count changed
        await loadImages();
      }, { cls: 'danger', confirmText: 'Really delete all its tags?' }) });
    }
    return h('div', null,
      table(`Images of ${st.project}`, cols, env.data || [], 'No images in this project yet (push one with docker push).'),
      pager(env.total || 0, page, SIZE, (n) => { st.imagePage = n; loadImages(); }));
  });

  const loadTags = loader(ctx, tagBox, async () => {
    if (!st.image) return st.project ? h('p', { class: 'hint' }, 'Choose an image to see its tags.') : h('div');
    const [env, page] = await fetchPage('/v1/repository/image/tag', { imageName: st.image }, st.tagPage);
    st.tagPage = page;
    const image = st.image;
    const cols = [
      { title: 'Tag', cell: (t) => t.tag },
      { title: 'Digest', cell: (t) => h('code', null, t.digest) },
      { title: 'Address', cell: (t) => h('code', null, t.imageAddress) },
      { title: 'Created', cell: (t) => fmtTime(t.createTime) },
    ];
    if (canDelete) {
      cols.push({ title: 'Actions', cell: (t) => action(`Delete tag ${t.tag}`, async () => {
        await api.del('/v1/repository/image/tag', { imageName: image, tag: [t.tag] });
        await loadTags();
      }, { cls: 'danger', confirmText: 'Really untag?' }) });
    }
    return h('div', null,
      h('h3', null, `Tags of ${image}`),
      table(`Tags of ${image}`, cols, env.data || [], 'This image has no tags.'),
      pager(env.total || 0, page, SIZE, (n) => { st.tagPage = n; loadTags(); }));
  });

  // Filtering and creating projects.
  const filter = form({
    cls: 'grid', submit: 'Filter', secondary: true,
    fields: [
      { name: 'projectName', label: 'Name contains' },
      { name: 'public', label: 'Visibility', type: 'select', options: [['', 'any'], ['true', 'public'], ['false', 'private']] },
    ],
    onSubmit: async (v) => {
      const before = [st.filter, st.projectPage];
      st.filter = v; st.projectPage = 1;
      try { await loadProjects({ rethrow: true }); } catch (e) { [st.filter, st.projectPage] = before; throw e; }
    },
  });
  const privateOnly = ctx.me.privateProject && role !== SYSADMIN;
  const create = form({
    submit: 'Create project',
    fields: [
      { name: 'projectName', label: 'Project name', required: true, hint: 'Lower-case letters and digits, separated by ".", "_" or "-". Images are pushed as <project>/<name>.' },
      { name: 'public', label: 'Public (anyone may pull)', type: 'checkbox', hint: privateOnly ? 'This hub keeps projects private: only a system administrator may make a public one.' : null },
    ],
    onSubmit: async (v) => {
      await api.post('/v1/repository/project', { projectName: v.projectName.trim(), public: v.public });
      clearForm(create);
      await loadProjects();
      return `Project ${v.projectName.trim()} created.`;
    },
  });

  const section = h('section', null, h('h1', null, 'Images'),
    h('div', { class: 'card' }, h('h2', null, 'Projects'),
      filter.el, projectBox,
      canDelete ? null : h('p', { class: 'hint' }, 'Deleting projects, images and tags is for business administrators.'),
      h('h3', null, 'New project'), create.el),
    h('div', { class: 'card' }, imageTitle, imageBox, tagBox),
    registryCard(ctx));
  if (role === USER || role === BADMIN) section.append(thirdCard(ctx));

  await Promise.all([loadProjects(), loadImages(), loadTags()]);
  return section;
}

// registryCard: the user's own account of the hub's registry.
function registryCard(ctx) {
  const pw = [
    { name: 'password', label: 'Registry password', type: 'password', autocomplete: 'new-password', required: true, hint: 'The platform\'s password rule applies.' },
    { name: 'repeat', label: 'Registry password again', type: 'password', autocomplete: 'new-password', required: true },
  ];
  if (ctx.me.hasRepoAccount) {
    const f = form({
      submit: 'Change password', fields: pw,
      onSubmit: async (v) => {
        repeatCheck(v);
        await api.put('/v1/repository/user', { password: v.password });
        clearForm(f);
        return 'Registry password changed.';
      },
    });
    return h('div', { class: 'card' }, h('h2', null, 'Registry account'),
      h('p', null, 'You have a registry account. Sign in with ', h('code', null, 'docker login <registry address> -u <your registry user>'), '.'),
      f.el);
  }
  const f = form({
    submit: 'Create registry account',
    fields: [{ name: 'user', label: 'Registry user name', required: true, autocomplete: 'username', hint: 'Letters, digits, ".", "_", "@" or "-".' }, ...pw],
    onSubmit: async (v) => {
      repeatCheck(v);
      await api.post('/v1/repository/user', { user: v.user.trim(), password: v.password });
      ctx.reload();
    },
  });
  return h('div', { class: 'card' }, h('h2', null, 'Registry account'),
    h('p', null, 'You need a registry account to push and pull with docker. Then sign in with ', h('code', null, 'docker login <registry address> -u <user>'), '.'),
    f.el);
}

// thirdCard: the business's credentials for registries outside the platform.
function thirdCard(ctx) {
  let page = 1;
  const box = h('div', null, h('p', { class: 'loading' }, 'Loading…'));
  const load = loader(ctx, box, async () => {
    const [env, at] = await fetchPage('/v1/repository/third', {}, page);
    page = at;
    const rows = env.data || [];
    return h('div', null,
      table('External repositories', [
        { title: 'Id', cell: (r) => r.repositoryId },
        { title: 'Address', cell: (r) => h('code', null, r.address) },
        { title: 'User', cell: (r) => r.user },
        { title: 'Created', cell: (r) => fmtTime(r.createTime) },
        { title: 'Actions', cell: (r) => action(`Delete ${r.repositoryId}`, async () => {
          await api.del('/v1/repository/third', { repositoryId: [r.repositoryId] });
          await load();
        }, { cls: 'danger', confirmText: 'Really delete?' }) },
      ], rows, 'No external repositories yet.'),
      pager(env.total || 0, page, SIZE, (n) => { page = n; load(); }));
  });
  const f = form({
    cls: 'grid', submit: 'Add repository',
    fields: [
      { name: 'repositoryId', label: 'Repository id', required: true, hint: 'Apps name it as repositoryId.' },
      { name: 'address', label: 'Repository address', required: true, placeholder: 'registry.example.com:5000' },
      { name: 'user', label: 'Repository user', required: true, autocomplete: 'off' },
      { name: 'password', label: 'Repository password', type: 'password', autocomplete: 'new-password', required: true, hint: 'Kept sealed; never shown again.' },
    ],
    onSubmit: async (v) => {
      await api.post('/v1/repository/third', { repositoryId: v.repositoryId.trim(), address: v.address.trim(), user: v.user, password: v.password });
      clearForm(f);
      await load();
      return `Repository ${v.repositoryId.trim()} added.`;
    },
  });
  load();
  return h('div', { class: 'card' }, h('h2', null, 'External repositories'),
    h('p', { class: 'hint' }, 'Credentials for image registries outside the platform, used when an app names one.'),
    box, h('h3', null, 'New external repository'), f.el);
}

// DOM helpers of the console's screens: elements, tables, pagers and
// forms that show the API's refusals next to the field they name.

// h makes an element: h('button', {class: 'x', onclick: f}, 'text', child...).
// Attributes whose value is false, null or undefined are left out;
// children may be strings, nodes, arrays or null.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function fmtTime(unix) {
  if (!unix) return '—';
  const d = new Date(unix * 1000);
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function fmtBytes(n) {
  if (!n) return '0';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${u[i]}`;
}

export function badge(text, kind) { return h('span', { class: 'badge ' + (kind || '') }, text); }

// table renders rows under columns [{title, cell(row), num}]; a caption
// names it for screen readers.
export function table(caption, columns, rows, empty = 'Nothing here yet.') {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'scroll' }, h('table', null,
    h('caption', { class: 'sr' }, caption),
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c.title)))),
    h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(r))))))));
}

// pager: "Page 2 of 5" with previous and next.
export function pager(total, page, size, go) {
  const pages = Math.max(1, Math.ceil(total / size));
  if (pages <= 1) return h('p', { class: 'hint' }, `${total} in all`);
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { class: 'secondary', disabled: page <= 1, onclick: () => go(page - 1) }, 'Previous'),
    h('span', null, `Page ${page} of ${pages} (${total} in all)`),
    h('button', { class: 'secondary', disabled: page >= pages, onclick: () => go(page + 1) }, 'Next'));
}

let ids = 0;

// form builds a form of fields [{name, label, type, value, options, hint,
// required, wide, placeholder}]. onSubmit(values) may throw an ApiError:
// a 422 that names a field of the form is shown under it (and the field
// focused), anything else above the button. Nothing typed is lost.
//
// more are further submit buttons [{label, value, cls}]: onSubmit gets the
// value of the button that sent the form (submitter: 'submit' for the
// first), so a failed "Refuse" cannot turn the next "Approve" into one.
export function form({ fields, submit, onSubmit, cls = 'stack', secondary = false, more = [] }) {
  const inputs = {};
  const errors = {};
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'msg ok', role: 'status' });
  const el = h('form', { class: cls, novalidate: true });
  for (const f of fields) {
    const id = 'f' + (++ids) + '-' + f.name.replace(/[^\w-]/g, '_');
    const errId = id + '-err';
    const hintId = f.hint ? id + '-hint' : null;
    let input;
    const common = { id, name: f.name, 'aria-describedby': [hintId, errId].filter(Boolean).join(' '), required: !!f.required, placeholder: f.placeholder, autocomplete: f.autocomplete };
    if (f.type === 'select') {
      input = h('select', common, (f.options || []).map((o) => {
        const [v, t] = Array.isArray(o) ? o : [o, o];
        return h('option', { value: v, selected: String(v) === String(f.value ?? '') }, t);
      }));
    } else if (f.type === 'textarea') {
      input = h('textarea', common);
      input.value = f.value ?? '';
    } else if (f.type === 'checkbox') {
      input = h('input', { ...common, type: 'checkbox', checked: !!f.value });
    } else {
      input = h('input', { ...common, type: f.type || 'text', value: f.value ?? '', min: f.min, max: f.max, step: f.step, accept: f.accept, inputmode: f.inputmode });
    }
    inputs[f.name] = input;
    errors[f.name] = h('p', { class: 'field-error', id: errId });
    const label = h('label', { for: id }, f.label);
    el.append(h('div', { class: 'field' + (f.type === 'checkbox' ? ' check' : '') + (f.wide ? ' wide' : '') },
      f.type === 'checkbox' ? [input, label] : [label, input],
      f.hint ? h('p', { class: 'hint', id: hintId }, f.hint) : null,
      errors[f.name]));
  }
  const buttons = [h('button', { type: 'submit', value: 'submit', class: secondary ? 'secondary' : null }, submit),
    ...more.map((b) => h('button', { type: 'submit', value: b.value, class: b.cls || 'secondary' }, b.label))];
  el.append(h('div', { class: 'field wide' }, formError, h('div', { class: 'actions' }, buttons), done));

  const clear = () => {
    formError.textContent = '';
    done.textContent = '';
    for (const [n, e] of Object.entries(errors)) { e.textContent = ''; inputs[n].removeAttribute('aria-invalid'); }
  };
  const values = () => {
    const out = {};
    for (const f of fields) {
      const i = inputs[f.name];
      if (f.type === 'checkbox') out[f.name] = i.checked;
      else if (f.type === 'file') out[f.name] = i.files[0];
      else if (f.type === 'number') out[f.name] = i.value === '' ? undefined : Number(i.value);
      else out[f.name] = i.value;
    }
    return out;
  };
  // showError puts err under the field it names: the exact name, or the
  // list it is in (port[0].name → port).
  const showError = (err) => {
    const text = err.text || err.message || String(err);
    const f = err.field || '';
    const target = inputs[f] ? f : inputs[f.replace(/[[.].*$/, '')] ? f.replace(/[[.].*$/, '') : '';
    if (target) {
      errors[target].textContent = text;
      inputs[target].setAttribute('aria-invalid', 'true');
      inputs[target].focus();
    } else {
      formError.textContent = text;
    }
  };
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear();
    const submitter = (ev.submitter && ev.submitter.value) || 'submit';
    for (const b of buttons) b.disabled = true;
    try {
      const msg = await onSubmit(values(), { inputs, showError, submitter });
      if (typeof msg === 'string') done.textContent = msg;
    } catch (err) {
      showError(err);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  });
  return { el, inputs, values, showError };
}

// action is a button whose refusal is shown beside it.
export function action(label, run, { cls = 'secondary', confirmText, name } = {}) {
  const out = h('span', { class: 'field-error', role: 'alert' });
  // name: what a screen reader says when the label repeats on every row.
  const b = h('button', { type: 'button', class: cls, 'aria-label': name }, label);
  // A confirmation is a second click on the same button (no dialog),
  // within 10 s and before the focus leaves it; a live region says so.
  let armed = false;
  let timer;
  const hint = h('span', { class: 'sr', 'aria-live': 'polite' });
  const disarm = () => { armed = false; clearTimeout(timer); b.textContent = label; hint.textContent = ''; };
  b.addEventListener('blur', () => { if (armed) disarm(); });
  b.addEventListener('click', async () => {
    if (confirmText && !armed) {
      armed = true;
      b.textContent = confirmText;
      hint.textContent = `${confirmText} Press again to confirm.`;
      timer = setTimeout(disarm, 10000);
      return;
    }
    disarm();
    out.textContent = '';
    b.disabled = true;
    try { await run(); } catch (e) { out.textContent = e.text || e.message; } finally { b.disabled = false; }
  });
  return h('span', { class: 'actions' }, b, hint, out);
}

// message: a line that says how something went.
export function message(text, ok = true) {
  return h('p', { class: 'msg ' + (ok ? 'ok' : 'bad'), role: ok ? 'status' : 'alert' }, text);
}

// The seed's numbers, as words.
export const userStatus = { 0: ['pending', 'warn'], 1: ['approved', 'ok'], 2: ['not approved', 'bad'], 3: ['forbidden', 'bad'] };
export const businessStatus = { 0: ['pending', 'warn'], 1: ['approved', 'ok'], 2: ['disapproved', 'bad'] };
export const deployStatus = {
  0: ['waiting for audit', 'warn'], 1: ['approved', ''], 2: ['disapproved', 'bad'], 3: ['processing', ''], 4: ['deploying', 'warn'],
  5: ['success', 'ok'], 6: ['partial success', 'warn'], 7: ['failed', 'bad'], 8: ['internal error', 'bad'], 9: ['deleted', ''],
};
export const deployType = { 1: 'create', 2: 'upgrade', 3: 'rollback', 4: 'delete' };
export const auditStatus = { 0: ['waiting', 'warn'], 1: ['approved', 'ok'], 2: ['refused', 'bad'] };
export const roleName = { 0: 'pending approval', 1: 'approved user', 2: 'general user', 3: 'business administrator', 4: 'system administrator' };

export function statusOf(table, n) {
  const [t, k] = table[n] || [String(n), ''];
  return badge(t, k);
}

// put replaces an element's children (null and false children are left out).
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// changed tells whether data differs from what el was last drawn from, and
// remembers it: a poll redraws a part of the screen only when its data
// changed, so that nothing the user is looking at or about to click moves.
const drawnFrom = new WeakMap();
export function changed(el, data) {
  const key = JSON.stringify(data);
  if (drawnFrom.get(el) === key) return false;
  drawnFrom.set(el, key);
  return true;
}

// redraw draws el from data with build(): only when data changed since el
// was last drawn and, on a poll, not while the focus is inside el (what the
// user is typing or about to press stays where it is).
export function redraw(el, data, build, poll = false) {
  if (poll && el.contains(document.activeElement)) return;
  if (!changed(el, data)) return;
  put(el, build());
}

// latest wraps a screen's load so that only the newest call draws: a poll
// answered after an action's own reload is dropped. load gets
// {poll, current}; it draws only while current() is true.
export function latest(load) {
  let n = 0;
  return (opts = {}) => {
    const mine = ++n;
    return load({ poll: !!opts.poll, current: () => mine === n });
  };
}

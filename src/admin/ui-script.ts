/**
 * The script of `/ui` (served as /ui/app.js, same origin, so the strict CSP holds): reads the
 * JSON endpoints every second, draws the charts on canvases, fills the tables with textContent,
 * and sends the kill switch and runtime-rule changes with a credential it asks for.
 */
export const UI_SCRIPT = `'use strict';
const $ = (id) => document.getElementById(id);
const HISTORY = 300;
const TOKEN_KEY = 'faultline-admin-token';

function cellOf(content) {
  const td = document.createElement('td');
  if (content instanceof Node) td.append(content);
  else td.textContent = String(content);
  return td;
}

function fill(table, rows) {
  $(table).tBodies[0].replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    tr.append(...cells.map(cellOf));
    return tr;
  }));
}

const interception = (i) => i.mode !== 'on-demand' ? i.mode
  : 'on-demand: ' + (i.installed ? i.rules.length + ' rules installed until ' + i.leaseUntil : 'no rule installed') + (i.lastError ? ' (last change failed: ' + i.lastError.message + ')' : '');
const age = (ms) => (ms < 1000 ? ms + ' ms' : ms < 60000 ? (ms / 1000).toFixed(1) + ' s' : Math.round(ms / 60000) + ' min');
const text = (v) => (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

// A fault as its values say: "latency latency=100ms jitter=20ms, p=0.5" (every field but type).
function describeFault(f) {
  const fields = Object.keys(f).filter((k) => k !== 'type' && k !== 'probability').map((k) => k + '=' + text(f[k]));
  return f.type + (fields.length ? ' ' + fields.join(' ') : '') + ', p=' + (f.probability === undefined ? 1 : f.probability);
}
const describeMatch = (m) => Object.keys(m || {}).map((k) => k + ': ' + text(m[k])).join('; ') || 'everything';

function credentialHeaders(token) {
  const t = token || sessionStorage.getItem(TOKEN_KEY);
  return t ? { 'x-faultline-token': t } : {};
}

async function json(path) {
  const r = await fetch(path, { cache: 'no-store', headers: credentialHeaders() });
  if (r.status === 401 || r.status === 403) throw Object.assign(new Error('credential needed'), { status: r.status });
  return r.json();
}

function askForCredential(status) {
  if (status === 403) sessionStorage.removeItem(TOKEN_KEY);
  $('login-error').textContent = status === 403 ? 'that credential was refused' : '';
  if ($('login').hidden) {
    $('login').hidden = false;
    $('token').focus();
  }
  $('updated').textContent = 'Waiting for a credential.';
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  $('login').hidden = true;
  refresh();
});

// ---- Changes: the kill switch and runtime rules. A refused change asks for a credential that
// grants it; that credential is kept only once it worked.
let pending = null;

async function change(what, method, path, token) {
  const r = await fetch(path, { method, headers: credentialHeaders(token) });
  if (r.status === 401 || r.status === 403) {
    pending = { what, method, path };
    $('change-what').textContent = what;
    $('change-error').textContent = token ? 'that credential was refused (' + r.status + ')' : '';
    $('change-login').hidden = false;
    $('change-token').focus();
    $('change-status').textContent = what + ': not done, a credential is needed';
    return;
  }
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  pending = null;
  $('change-login').hidden = true;
  $('change-error').textContent = '';
  $('change-status').textContent = r.ok ? what + ': done' : what + ': failed (' + r.status + ')';
  refresh();
}

$('change-login').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('change-token').value.trim();
  $('change-token').value = '';
  if (token && pending) change(pending.what, pending.method, pending.path, token);
});
$('change-cancel').addEventListener('click', () => {
  pending = null;
  $('change-login').hidden = true;
  $('change-status').textContent = '';
});

let killSwitchOn = false;
$('killswitch').addEventListener('click', () =>
  change(killSwitchOn ? 'Turning the kill switch off' : 'Turning the kill switch on', killSwitchOn ? 'DELETE' : 'POST', '/killswitch'));

function removeButton(rule) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = 'remove';
  b.dataset.rule = rule.name;
  b.addEventListener('click', () => change('Removing the runtime rule ' + rule.name, 'DELETE', '/rules/' + encodeURIComponent(rule.name)));
  return b;
}

// ---- Charts: the last HISTORY seconds on a canvas each, with the scale's top value written.
const series = { connections: [], requests: [], faults: [] };
let previous = null;

function record(totals) {
  const now = Date.now();
  if (previous) {
    const seconds = Math.max(0.001, (now - previous.at) / 1000);
    series.requests.push(Math.max(0, (totals.requests - previous.requests) / seconds));
    series.faults.push(Math.max(0, (totals.faultsInjected - previous.faultsInjected) / seconds));
  }
  series.connections.push(totals.connectionsActive);
  previous = { at: now, requests: totals.requests, faultsInjected: totals.faultsInjected };
  for (const list of Object.values(series)) if (list.length > HISTORY) list.splice(0, list.length - HISTORY);
}

function draw(name) {
  const canvas = $('chart-' + name);
  const values = series[name];
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const h = canvas.height;
  const pad = { left: 36, right: 6, top: 8, bottom: 16 };
  const top = Math.max(1, ...values);
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = '#bbb';
  ctx.fillStyle = '#555';
  ctx.font = '10px sans-serif';
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top);
  ctx.lineTo(pad.left, h - pad.bottom);
  ctx.lineTo(w - pad.right, h - pad.bottom);
  ctx.stroke();
  ctx.fillText(top >= 10 ? top.toFixed(0) : top.toFixed(1), 2, pad.top + 8);
  ctx.fillText('0', 2, h - pad.bottom);
  ctx.fillText('-5 min', pad.left, h - 3);
  ctx.fillText('now', w - pad.right - 18, h - 3);
  if (values.length > 0) {
    const x = (i) => pad.left + ((w - pad.left - pad.right) * (HISTORY - values.length + i)) / (HISTORY - 1);
    const y = (v) => h - pad.bottom - ((h - pad.top - pad.bottom) * v) / top;
    ctx.strokeStyle = '#4e79a7';
    ctx.lineWidth = 2;
    ctx.beginPath();
    values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
    if (values.length === 1) ctx.lineTo(x(0) + 2, y(values[0]));
    ctx.stroke();
  }
  canvas.dataset.samples = String(values.length);
  canvas.dataset.last = values.length ? String(values[values.length - 1]) : '';
}

// ---- The connection filters become GET /connections query parameters.
function connectionsPath() {
  const q = new URLSearchParams({ limit: '500' });
  const listener = $('filter-listener').value.trim();
  const rule = $('filter-rule').value.trim();
  if (listener) q.set('listener', listener);
  if ($('filter-protocol').value) q.set('protocol', $('filter-protocol').value);
  if (rule) q.set('rule', rule);
  if ($('filter-faulted').checked) q.set('faulted', 'true');
  return '/connections?' + q;
}
$('filters').addEventListener('input', () => refresh());
$('filters').addEventListener('submit', (event) => event.preventDefault());

const mirrorRows = (list) => (list || []).map((m) => [m.rule, m.upstream, m.driftRatio === null ? '-' : (m.driftRatio * 100).toFixed(1) + '%',
  m.counts.match, m.counts.drift, m.counts.shadow_error, m.counts.skipped]);

async function refresh() {
  try {
    const [policy, conns, faults] = await Promise.all([json('/policy'), json(connectionsPath()), json('/faults')]);
    const state = policy.killSwitch ? 'KILL SWITCH ON: no fault applies' : policy.faultsEnabled ? 'faults enabled' : 'faults disabled';
    $('policy').textContent = 'policy ' + policy.name + ' (' + policy.hash + ') from ' + policy.source + ', loaded ' + policy.loadedAt + ': ' + state
      + (policy.lastError ? '; last reload failed: ' + policy.lastError.message : '') + '; interception ' + interception(policy.interception);
    $('policy').className = policy.killSwitch || policy.lastError ? 'off' : 'muted';
    killSwitchOn = policy.killSwitch;
    $('killswitch').textContent = killSwitchOn ? 'Kill switch is ON: turn it off' : 'Kill switch: turn on';
    $('killswitch').className = killSwitchOn ? 'on' : '';
    $('connection-count').textContent = '(' + conns.total + ')';
    fill('connections', conns.connections.map((c) => [c.id, c.listener, c.direction, c.source, c.destination, c.protocol, age(c.ageMs),
      c.bytesUpstream, c.bytesDownstream, c.faults.map((f) => f.rule + '/' + f.fault + ' x' + f.count + (f.active ? '' : ' (over)')).join(', ')]));
    fill('rules', policy.rules.map((r) => {
      const list = document.createElement('div');
      for (const f of r.faults || []) {
        const line = document.createElement('div');
        line.className = 'fault';
        line.textContent = describeFault(f);
        list.append(line);
      }
      if (r.scenario) list.prepend(Object.assign(document.createElement('div'), { textContent: 'scenario ' + r.scenario }));
      return [r.name, r.layer, describeMatch(r.match), list, r.layer === 'runtime' ? removeButton(r) : ''];
    }));
    fill('faults', faults.faults.map((f) => [f.rule, f.fault, f.active, f.injected]));
    fill('mirror', mirrorRows(faults.mirror));
    record(faults.totals);
    for (const name of Object.keys(series)) draw(name);
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  } catch (err) {
    if (err.status === 401 || err.status === 403) return askForCredential(err.status);
    $('updated').textContent = 'Update failed: ' + err.message;
  }
}

refresh();
setInterval(refresh, 1000);
`;

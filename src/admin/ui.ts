/**
 * The admin port's `/ui`: one small page showing the live connections, the rules in force and
 * the fault counters, refreshed every second from the read-only JSON endpoints. Data is written
 * with textContent only, and the script is served from the same origin (no inline script), so
 * the page runs under a strict Content-Security-Policy. Where reads need a credential (an admin
 * address outside loopback) a 401 makes the page ask for it; it is kept in sessionStorage (this
 * tab only) and sent as X-Faultline-Token.
 */

export const UI_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};

export const UI_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>faultline</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
  h1 { font-size: 1.3em; margin: 0 0 .2em; }
  h2 { font-size: 1.05em; margin: 1.4em 0 .4em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }
  th { background: #f4f4f4; }
  .muted { color: #777; }
  .off { color: #b00; font-weight: 600; }
  #login { margin: .8em 0; padding: .6em; border: 1px solid #ddd; background: #fafafa; }
</style>
</head>
<body>
<h1>faultline</h1>
<form id="login" hidden>
  <label>This admin API needs a credential (view or higher): <input id="token" type="password" autocomplete="off" size="40"></label>
  <button type="submit">Use it</button> <span id="login-error" class="off"></span>
</form>
<div id="policy" class="muted">loading…</div>
<h2>Live connections <span id="connection-count" class="muted"></span></h2>
<table id="connections"><thead><tr><th>id</th><th>listener</th><th>direction</th><th>source</th><th>destination</th><th>protocol</th><th>age</th><th>bytes up</th><th>bytes down</th><th>faults</th></tr></thead><tbody></tbody></table>
<h2>Rules</h2>
<table id="rules"><thead><tr><th>rule</th><th>from</th><th>match</th><th>faults</th></tr></thead><tbody></tbody></table>
<h2>Fault counters</h2>
<table id="faults"><thead><tr><th>rule</th><th>fault</th><th>active now</th><th>injected</th></tr></thead><tbody></tbody></table>
<h2>Shadow traffic</h2>
<table id="mirror"><thead><tr><th>rule</th><th>shadow</th><th>drift rate</th><th>match</th><th>drift</th><th>shadow error</th><th>skipped</th></tr></thead><tbody></tbody></table>
<p class="muted">Refreshes every second. <span id="updated"></span></p>
<script src="/ui/app.js"></script>
</body>
</html>
`;

export const UI_SCRIPT = `'use strict';
const $ = (id) => document.getElementById(id);

function fill(table, rows) {
  const body = $(table).tBodies[0];
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = String(cell);
      tr.append(td);
    }
    return tr;
  }));
}

const interception = (i) => i.mode !== 'on-demand' ? i.mode
  : 'on-demand: ' + (i.installed ? i.rules.length + ' rules installed until ' + i.leaseUntil : 'no rule installed') + (i.lastError ? ' (last change failed: ' + i.lastError.message + ')' : '');
const age = (ms) => (ms < 1000 ? ms + ' ms' : ms < 60000 ? (ms / 1000).toFixed(1) + ' s' : Math.round(ms / 60000) + ' min');
const TOKEN_KEY = 'faultline-admin-token';
function credentialHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { 'x-faultline-token': token } : {};
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

// Shadow traffic: per mirror rule, the drift rate over its last compared requests (GET /faults \`mirror\`).
const mirrorRows = (list) => (list || []).map((m) => [m.rule, m.upstream, m.driftRatio === null ? '-' : (m.driftRatio * 100).toFixed(1) + '%',
  m.counts.match, m.counts.drift, m.counts.shadow_error, m.counts.skipped]);

async function refresh() {
  try {
    const [policy, conns, faults] = await Promise.all([json('/policy'), json('/connections?limit=500'), json('/faults')]);
    const state = policy.killSwitch ? 'KILL SWITCH ON: no fault applies' : policy.faultsEnabled ? 'faults enabled' : 'faults disabled';
    $('policy').textContent = 'policy ' + policy.name + ' (' + policy.hash + ') from ' + policy.source + ', loaded ' + policy.loadedAt + ': ' + state
      + (policy.lastError ? '; last reload failed: ' + policy.lastError.message : '') + '; interception ' + interception(policy.interception);
    $('policy').className = policy.killSwitch || policy.lastError ? 'off' : 'muted';
    $('connection-count').textContent = '(' + conns.total + ')';
    fill('connections', conns.connections.map((c) => [c.id, c.listener, c.direction, c.source, c.destination, c.protocol, age(c.ageMs),
      c.bytesUpstream, c.bytesDownstream, c.faults.map((f) => f.rule + '/' + f.fault + ' x' + f.count + (f.active ? '' : ' (over)')).join(', ')]));
    fill('rules', policy.rules.map((r) => [r.name, r.layer, JSON.stringify(r.match), r.faults.map((f) => f.type).join(', ')]));
    fill('faults', faults.faults.map((f) => [f.rule, f.fault, f.active, f.injected]));
    fill('mirror', mirrorRows(faults.mirror));
    $('updated').textContent = 'Updated ' + new Date().toLocaleTimeString() + '.';
  } catch (err) {
    if (err.status === 401 || err.status === 403) return askForCredential(err.status);
    $('updated').textContent = 'Update failed: ' + err.message;
  }
}

refresh();
setInterval(refresh, 1000);
`;

export { UI_SCRIPT } from './ui-script.js';

/**
 * The admin port's `/ui`: the rules in force with their faults' values and probabilities, live
 * charts (connections open, requests and faults per second over the last five minutes), the
 * connections with filters, and the kill switch and runtime-rule controls. Refreshed every
 * second from the JSON endpoints. Data is written with textContent only and the script is
 * served from the same origin (no inline script, no external one), so the page runs under a
 * strict Content-Security-Policy. Where reads need a credential (an admin address outside
 * loopback) a 401 makes the page ask for it; a change asks for one that grants it. A credential
 * is kept in sessionStorage (this tab only) and sent as X-Faultline-Token.
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
  th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; vertical-align: top; }
  th { background: #f4f4f4; }
  .muted { color: #777; }
  .off { color: #b00; font-weight: 600; }
  form.credential { margin: .8em 0; padding: .6em; border: 1px solid #ddd; background: #fafafa; }
  #charts { display: flex; gap: 1em; flex-wrap: wrap; }
  figure { margin: 0; }
  figcaption { font-weight: 600; margin-bottom: .2em; }
  canvas { border: 1px solid #ddd; background: #fff; }
  #controls { margin: .6em 0; }
  #killswitch.on { background: #b00; color: #fff; }
  .fault { white-space: nowrap; }
  #filters label { margin-right: 1em; }
</style>
</head>
<body>
<h1>faultline</h1>
<form id="login" class="credential" hidden>
  <label>This admin API needs a credential (view or higher): <input id="token" type="password" autocomplete="off" size="40"></label>
  <button type="submit">Use it</button> <span id="login-error" class="off"></span>
</form>
<div id="policy" class="muted">loading…</div>
<div id="controls">
  <button id="killswitch" type="button">Kill switch: turn on</button>
  <span id="change-status" class="muted"></span>
</div>
<form id="change-login" class="credential" hidden>
  <label><span id="change-what">This change</span> needs a credential that grants it: <input id="change-token" type="password" autocomplete="off" size="40"></label>
  <button type="submit">Send</button> <button type="button" id="change-cancel">Cancel</button> <span id="change-error" class="off"></span>
</form>
<div id="charts">
  <figure><figcaption>Connections open</figcaption><canvas id="chart-connections" width="320" height="120"></canvas></figure>
  <figure><figcaption>Requests per second</figcaption><canvas id="chart-requests" width="320" height="120"></canvas></figure>
  <figure><figcaption>Faults per second</figcaption><canvas id="chart-faults" width="320" height="120"></canvas></figure>
</div>
<p class="muted">The last five minutes, one point a second, since this page opened.</p>
<h2>Rules</h2>
<table id="rules"><thead><tr><th>rule</th><th>from</th><th>match</th><th>faults (values, probability)</th><th></th></tr></thead><tbody></tbody></table>
<h2>Live connections <span id="connection-count" class="muted"></span></h2>
<form id="filters">
  <label>listener <input id="filter-listener" size="10"></label>
  <label>protocol <select id="filter-protocol"><option value="">any</option><option>tcp</option><option>http</option><option>h2c</option><option>ws</option><option>tls</option></select></label>
  <label>rule <input id="filter-rule" size="12"></label>
  <label><input id="filter-faulted" type="checkbox"> faulted only</label>
</form>
<table id="connections"><thead><tr><th>id</th><th>listener</th><th>direction</th><th>source</th><th>destination</th><th>protocol</th><th>age</th><th>bytes up</th><th>bytes down</th><th>faults</th></tr></thead><tbody></tbody></table>
<h2>Fault counters</h2>
<table id="faults"><thead><tr><th>rule</th><th>fault</th><th>active now</th><th>injected</th></tr></thead><tbody></tbody></table>
<h2>Shadow traffic</h2>
<table id="mirror"><thead><tr><th>rule</th><th>shadow</th><th>drift rate</th><th>match</th><th>drift</th><th>shadow error</th><th>skipped</th></tr></thead><tbody></tbody></table>
<p class="muted">Refreshes every second. <span id="updated"></span></p>
<script src="/ui/app.js"></script>
</body>
</html>
`;

/**
 * The console page and its stylesheet, kept as strings so that tsc ships them inside dist/ (it
 * copies no other files) and the Docker image needs nothing beside dist/. The page carries no
 * data and no inline script or style: console/client.ts fills it from /console/api/state.
 */

export const CONSOLE_FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<rect width="32" height="32" rx="7" fill="#1d2735"/>
<path d="M7 11h12M7 16h18M7 21h12" stroke="#8fb3ff" stroke-width="2.6" stroke-linecap="round"/>
<path d="M21 8l4 3-4 3M21 18l4 3-4 3" fill="none" stroke="#ffffff" stroke-width="2.2" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`;

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>busgate console</title>
<link rel="icon" type="image/svg+xml" href="/console/favicon.svg">
<link rel="stylesheet" href="/console/app.css">
<script type="module" src="/console/app.js"></script>
</head>
<body>
<header class="topbar">
  <div class="brand">
    <img src="/console/favicon.svg" alt="" width="26" height="26">
    <span class="wordmark">busgate</span><span class="subtitle">console</span>
  </div>
  <dl class="stats" aria-label="summary">
    <div><dt>status</dt><dd><span id="status" class="pill pill-muted">connecting</span></dd></div>
    <div><dt>requests/s</dt><dd id="stat-rate">–</dd></div>
    <div><dt>5xx</dt><dd id="stat-errors">–</dd></div>
    <div><dt>in flight</dt><dd id="stat-inflight">–</dd></div>
    <div><dt>uptime</dt><dd id="stat-uptime">–</dd></div>
  </dl>
  <div class="session">
    <span id="key-state" class="key-state" hidden></span>
    <button id="key-forget" type="button" class="link" hidden>forget key</button>
  </div>
</header>

<section id="keygate" class="keygate" hidden>
  <form id="key-form" class="card keycard" autocomplete="off">
    <h2>API key required</h2>
    <p>This busgate requires an API key for every route and for the console. The key stays in this
      browser tab (session storage) and is sent as <code>X-Api-Key</code>.</p>
    <label for="key-input">API key</label>
    <input id="key-input" type="password" spellcheck="false" autocomplete="off" placeholder="secret">
    <p id="key-error" class="form-error" role="alert"></p>
    <button id="key-submit" type="submit" class="primary">Use key</button>
  </form>
</section>

<main id="main" class="layout">
  <div class="column">
    <section class="card" aria-labelledby="routes-title">
      <div class="card-head">
        <h2 id="routes-title">Routes</h2>
        <span id="routes-count" class="muted"></span>
      </div>
      <table class="routes">
        <thead>
          <tr>
            <th>route</th><th>broker</th><th>mode</th><th>destination</th>
            <th class="num">req/s</th><th class="num">total</th><th class="num">errors</th>
          </tr>
        </thead>
        <tbody id="routes-body"><tr><td colspan="7" class="empty">loading…</td></tr></tbody>
      </table>
    </section>

    <section class="card" aria-labelledby="brokers-title">
      <div class="card-head">
        <h2 id="brokers-title">Brokers</h2>
        <span class="muted">connection state, as /ready reports it</span>
      </div>
      <ul id="brokers" class="brokers"></ul>
    </section>

    <section class="card" aria-labelledby="subscriptions-title">
      <div class="card-head">
        <h2 id="subscriptions-title">Subscriptions</h2>
        <span class="muted">webhook deliveries from the brokers</span>
      </div>
      <table class="routes messages subscriptions">
        <thead><tr><th>subscription</th><th>source</th><th>state</th><th class="num">msg/s</th><th class="num">delivered</th><th class="num">dead letters</th><th class="num">lag</th><th class="num">held</th></tr></thead>
        <tbody id="subscriptions-body"></tbody>
      </table>
    </section>

    <section class="card" aria-labelledby="streams-title">
      <div class="card-head">
        <h2 id="streams-title">Streams</h2>
        <span class="muted">SSE and WebSocket paths; watch one here</span>
      </div>
      <table class="routes messages streams">
        <thead><tr><th>path</th><th>source</th><th>resume</th><th class="num">clients</th><th></th></tr></thead>
        <tbody id="streams-body"></tbody>
      </table>
      <div id="watch" class="watch" hidden>
        <div class="result-head">
          <code id="watch-path"></code>
          <span id="watch-state" class="pill"></span>
          <span id="watch-count" class="muted"></span>
          <button id="watch-stop" type="button" class="link">stop</button>
        </div>
        <ol id="watch-events" class="watch-events"></ol>
      </div>
    </section>

    <section class="card" aria-labelledby="pulls-title">
      <div class="card-head">
        <h2 id="pulls-title">Pull paths</h2>
        <span class="muted">leases handed to polling workers (held: by this instance)</span>
      </div>
      <table class="routes messages pulls">
        <thead><tr><th>path</th><th>source</th><th>group</th><th class="num">lease</th><th>dead letter</th><th class="num">held</th></tr></thead>
        <tbody id="pulls-body"></tbody>
      </table>
    </section>

    <section class="card" aria-labelledby="messages-title">
      <div class="card-head">
        <h2 id="messages-title">Messages</h2>
        <span class="muted">by broker, mode and outcome</span>
      </div>
      <table class="routes messages">
        <thead><tr><th>broker</th><th>mode</th><th>outcome</th><th class="num">msg/s</th><th class="num">total</th></tr></thead>
        <tbody id="messages-body"></tbody>
      </table>
    </section>
  </div>

  <section class="card sender" aria-labelledby="send-title">
    <div class="card-head">
      <h2 id="send-title">Send a test message</h2>
    </div>
    <form id="send-form" autocomplete="off">
      <label for="route-select">route</label>
      <select id="route-select"></select>
      <p id="route-summary" class="route-summary"></p>

      <div id="params"></div>

      <div class="field-head">
        <span class="label">headers</span>
        <button id="add-header" type="button" class="link">+ header</button>
      </div>
      <div id="headers" class="headers"></div>

      <label for="body-input">body</label>
      <textarea id="body-input" rows="3" spellcheck="false"></textarea>

      <div class="send-row">
        <code id="request-line" class="request-line"></code>
        <button id="send-button" type="submit" class="primary">Send</button>
      </div>
      <p id="send-error" class="form-error" role="alert"></p>
    </form>

    <div id="result" class="result" hidden>
      <div class="result-head">
        <span id="result-status" class="status"></span>
        <span id="result-kind" class="result-kind"></span>
        <span id="result-meta" class="muted"></span>
      </div>
      <pre id="result-body" class="result-body"></pre>
    </div>
  </section>
</main>

<footer class="footer">
  <span id="updated" class="muted"></span>
  <nav><a href="/ready">/ready</a><a href="/metrics">/metrics</a><a href="/health">/health</a></nav>
</footer>
</body>
</html>
`;

export const CONSOLE_CSS = `:root {
  --bg: #f4f6f9;
  --panel: #ffffff;
  --ink: #1b2430;
  --muted: #627084;
  --line: #e2e7ee;
  --line-strong: #cfd6e0;
  --accent: #2f5bea;
  --accent-ink: #ffffff;
  --ok: #17845a;
  --ok-bg: #e3f5ec;
  --warn: #a86400;
  --warn-bg: #fff1d6;
  --bad: #c53535;
  --bad-bg: #fde7e7;
  --pubsub: #2563c9;
  --pubsub-bg: #e4edfc;
  --p2p: #9a5b00;
  --p2p-bg: #fcefd9;
  --rr: #6f42c1;
  --rr-bg: #efe7fb;
  --bar: #151d29;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  --sans: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Roboto, "Helvetica Neue", Arial, sans-serif;
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body { background: var(--bg); color: var(--ink); font: 14px/1.45 var(--sans); }
code, pre, .mono { font-family: var(--mono); font-size: 12.5px; }
h2 { font-size: 13px; font-weight: 650; letter-spacing: .04em; text-transform: uppercase; margin: 0; color: var(--ink); }
[hidden] { display: none !important; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }

.topbar { display: flex; align-items: center; gap: 28px; padding: 10px 24px; background: var(--bar); color: #e9eef6; }
.brand { display: flex; align-items: center; gap: 10px; }
.wordmark { font-weight: 700; font-size: 18px; letter-spacing: .01em; color: #fff; }
.subtitle { color: #93a3b8; font-size: 14px; padding-left: 8px; border-left: 1px solid #3a475a; }
.stats { display: flex; gap: 26px; margin: 0 0 0 auto; }
.stats div { display: flex; flex-direction: column; align-items: flex-end; }
.stats dt { font-size: 10.5px; text-transform: uppercase; letter-spacing: .08em; color: #8a9ab0; }
.stats dd { margin: 0; font-variant-numeric: tabular-nums; font-weight: 600; font-size: 15px; color: #fff; }
.session { display: flex; align-items: center; gap: 10px; font-size: 12.5px; color: #b8c4d4; }
.session .link { color: #8fb3ff; }

.pill { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; line-height: 19px; }
.pill-ok { background: var(--ok-bg); color: var(--ok); }
.pill-warn { background: var(--warn-bg); color: var(--warn); }
.pill-bad { background: var(--bad-bg); color: var(--bad); }
.pill-muted { background: #e8ecf2; color: var(--muted); }

.layout { display: grid; grid-template-columns: minmax(0, 1fr) 400px; gap: 18px; padding: 18px 24px 8px; align-items: start; }
.column { display: flex; flex-direction: column; gap: 18px; min-width: 0; }
.card { overflow-x: auto; background: var(--panel); border: 1px solid var(--line); border-radius: 10px; box-shadow: 0 1px 2px rgba(20, 30, 50, .04); }
.card-head { display: flex; align-items: baseline; justify-content: space-between; gap: 12px; padding: 14px 18px 10px; }
.muted { color: var(--muted); font-size: 12.5px; }

table.routes { width: 100%; border-collapse: collapse; table-layout: auto; }
.routes th { text-align: left; font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); padding: 6px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
.routes td { padding: 8px 8px; border-bottom: 1px solid var(--line); vertical-align: middle; }
.routes th:first-child, .routes td:first-child { padding-left: 18px; }
.routes th:last-child, .routes td:last-child { padding-right: 18px; }
table.routes:not(.messages) tbody tr { cursor: pointer; }
.messages tbody tr:hover { background: none; }
.routes tbody tr:hover { background: #f7f9fc; }
.routes tbody tr.selected { background: #eef3ff; box-shadow: inset 3px 0 0 var(--accent); }
.routes tbody tr:last-child td { border-bottom: 0; }
.routes .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.routes td.empty { color: var(--muted); text-align: center; padding: 22px; cursor: default; }
.route-name { font-weight: 600; }
.route-path { display: block; color: var(--muted); font-family: var(--mono); font-size: 12px; }
.method { font-family: var(--mono); font-size: 10.5px; font-weight: 700; color: var(--accent); margin-right: 6px; }
.dest { font-family: var(--mono); font-size: 12px; white-space: nowrap; }
.choice { display: block; font-size: 11.5px; color: var(--muted); }
.rate { display: inline-flex; align-items: center; gap: 6px; }
.spark { width: 52px; height: 20px; display: block; }
.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; stroke-linejoin: round; }
.spark .base { stroke: var(--line-strong); stroke-width: 1; }
.errors-bad { color: var(--bad); font-weight: 600; }
.outcome { font-family: var(--mono); font-size: 12px; }
.outcome-ok { color: var(--ok); }
.outcome-bad { color: var(--bad); }

.mode { display: inline-block; padding: 1px 8px; border-radius: 5px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.mode-pubsub { background: var(--pubsub-bg); color: var(--pubsub); }
.mode-point-to-point { background: var(--p2p-bg); color: var(--p2p); }
.mode-request-reply { background: var(--rr-bg); color: var(--rr); }
.mode-chosen { background: #edf0f4; color: var(--muted); white-space: normal; }

.brokers { list-style: none; margin: 0; padding: 0 18px 14px; display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
.broker { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.broker-head { display: flex; align-items: center; gap: 8px; }
.broker-name { font-weight: 600; }
.broker-plugin { color: var(--muted); font-size: 12px; margin-left: auto; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); flex: none; }
.dot-up { background: var(--ok); box-shadow: 0 0 0 3px var(--ok-bg); }
.dot-down { background: var(--bad); box-shadow: 0 0 0 3px var(--bad-bg); }
.broker-detail { color: var(--muted); font-size: 12px; margin-top: 4px; min-height: 17px; }
.broker-figures { display: flex; gap: 14px; margin-top: 6px; font-size: 12px; color: var(--muted); font-variant-numeric: tabular-nums; }
.broker-figures b { color: var(--ink); font-weight: 600; }

.sender form { padding: 0 18px 16px; display: flex; flex-direction: column; }
label, .label { display: block; font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 10px 0 4px; }
input, select, textarea { font: inherit; color: var(--ink); background: #fff; border: 1px solid var(--line-strong); border-radius: 6px; padding: 6px 9px; width: 100%; }
textarea, .headers input, .params input { font-family: var(--mono); font-size: 12.5px; }
textarea { resize: vertical; min-height: 64px; }
input:focus, select:focus, textarea:focus { outline: 2px solid #c9d7ff; border-color: var(--accent); }
.route-summary { margin: 6px 0 0; color: var(--muted); font-size: 12.5px; }
.route-summary code { color: var(--ink); }
.field-head { display: flex; align-items: baseline; justify-content: space-between; }
.headers { display: flex; flex-direction: column; gap: 6px; }
.header-row { display: grid; grid-template-columns: 150px minmax(0, 1fr) 26px; gap: 6px; align-items: center; }
.header-row .remove { border: 0; background: none; color: var(--muted); font-size: 16px; cursor: pointer; padding: 0; }
.header-row .remove:hover { color: var(--bad); }
.param-row { display: grid; grid-template-columns: 110px minmax(0, 1fr); gap: 8px; align-items: center; margin-top: 6px; }
.param-row label { margin: 0; text-transform: none; letter-spacing: 0; font-family: var(--mono); font-size: 12.5px; color: var(--ink); font-weight: 500; }
.hint { font-size: 11.5px; color: var(--muted); grid-column: 2; margin-top: -2px; }
.send-row { display: flex; align-items: center; gap: 12px; margin-top: 14px; }
.request-line { flex: 1; min-width: 0; color: var(--muted); overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button { font: inherit; cursor: pointer; }
button.primary { background: var(--accent); color: var(--accent-ink); border: 0; border-radius: 6px; padding: 7px 20px; font-weight: 600; }
button.primary:hover { background: #2449c4; }
button.primary:disabled { background: #9aaee8; cursor: progress; }
button.link { background: none; border: 0; padding: 0; color: var(--accent); font-size: 12.5px; }
.form-error { color: var(--bad); font-size: 12.5px; margin: 8px 0 0; min-height: 0; }
.form-error:empty { display: none; }

.result { border-top: 1px solid var(--line); padding: 12px 18px 16px; }
.result-head { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
.status { font-family: var(--mono); font-weight: 700; padding: 1px 8px; border-radius: 5px; }
.status-2 { background: var(--ok-bg); color: var(--ok); }
.status-4 { background: var(--warn-bg); color: var(--warn); }
.status-5, .status-0 { background: var(--bad-bg); color: var(--bad); }
.result-kind { font-weight: 600; }
.result-body { margin: 8px 0 0; background: #0f1722; color: #dbe4f0; border-radius: 8px; padding: 12px 14px; max-height: 260px; overflow: auto; white-space: pre-wrap; word-break: break-word; }

.watch { margin-top: 10px; }
.watch-events { margin: 8px 0 0; padding: 8px 12px 8px 32px; background: #0f1722; color: #dbe4f0; border-radius: 8px; max-height: 260px; overflow: auto; font: 12px/1.5 ui-monospace, monospace; }
.watch-events li { white-space: pre-wrap; word-break: break-word; }
.watch-events .meta { color: #8aa0b8; }

.keygate { display: flex; justify-content: center; padding: 64px 24px; }
.keycard { width: 420px; padding: 22px 24px; display: flex; flex-direction: column; }
.keycard p { color: var(--muted); font-size: 13px; margin: 8px 0 4px; }
.keycard button { margin-top: 14px; align-self: flex-start; }

.footer { display: flex; justify-content: space-between; padding: 6px 24px 18px; }
.footer nav { display: flex; gap: 16px; font-family: var(--mono); font-size: 12px; }

@media (max-width: 980px) {
  .layout { grid-template-columns: minmax(0, 1fr); }
  .stats { display: none; }
}
`;

/**
 * The console's browser script, served as /console/app.js (tsc compiles it next to console.js).
 * Polls /console/api/state, renders routes, brokers and rates, and sends test messages through
 * the ingress. Every value from the daemon or a reply reaches the page through textContent or
 * an attribute, never as markup.
 */
import type { ConsoleState, PathPart, RouteView } from '../console.js';

/** How often the page polls; ?refresh=MS (500 to 60000) changes it. */
const POLL_MS = ((): number => {
  const asked = Number(new URLSearchParams(location.search).get('refresh'));
  return Number.isFinite(asked) && asked >= 500 && asked <= 60_000 ? asked : 2000;
})();
const HISTORY = 30;
const KEY_STORAGE = 'busgate.console.key';
const SVG = 'http://www.w3.org/2000/svg';

type Child = Node | string | null | undefined | false;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; attrs?: Record<string, string>; text?: string } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.class) element.className = props.class;
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  if (props.text !== undefined) element.textContent = props.text;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return element;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

function setText(id: string, text: string): void {
  byId(id).textContent = text;
}

// ------------------------------------------------------------------------------------ API key

let apiKey: string | null = sessionStorage.getItem(KEY_STORAGE);

function authHeaders(): Record<string, string> {
  return apiKey ? { 'X-Api-Key': apiKey } : {};
}

function showKeyGate(message: string): void {
  byId('keygate').hidden = false;
  byId('main').hidden = true;
  setText('key-error', message);
  byId<HTMLInputElement>('key-input').focus();
}

function hideKeyGate(): void {
  byId('keygate').hidden = true;
  byId('main').hidden = false;
}

function showKeyState(authOn: boolean): void {
  byId('key-state').hidden = !authOn || !apiKey;
  byId('key-forget').hidden = !authOn || !apiKey;
  if (authOn && apiKey) setText('key-state', 'API key in use');
}

// ------------------------------------------------------------------------------ formatting

function formatRate(perSecond: number | undefined): string {
  if (perSecond === undefined) return '–';
  if (perSecond === 0) return '0';
  if (perSecond < 10) return perSecond.toFixed(2);
  if (perSecond < 100) return perSecond.toFixed(1);
  return Math.round(perSecond).toLocaleString('en');
}

function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en');
}

function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const hours = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d ${hours}h`;
  if (hours > 0) return `${hours}h ${m}m`;
  if (m > 0) return `${m}m ${seconds % 60}s`;
  return `${seconds}s`;
}

function modeBadge(mode: RouteView['mode']): HTMLElement {
  if (mode.fixed) return h('span', { class: `mode mode-${mode.fixed}`, text: mode.fixed });
  return h('span', {
    class: 'mode mode-chosen',
    text: choiceText(mode),
    attrs: { title: `${mode.template ?? ''}: one of ${(mode.allowed ?? []).join(', ')}` },
  });
}

/** A fixed value as it is; a client's choice by where it comes from: "header x-mode" or ":broker". */
function choiceText(choice: RouteView['broker']): string {
  if (choice.fixed) return choice.fixed;
  if (choice.from) return choice.from.kind === 'header' ? `header ${choice.from.name}` : `:${choice.from.name}`;
  return choice.template ?? '';
}

// ------------------------------------------------------------------------------ live rates

interface Sample {
  readonly time: number;
  readonly total: number;
  readonly errors: number;
}

/** Per route name: the last samples of its counters, to turn them into rates. */
const history = new Map<string, Sample[]>();
let lastState: ConsoleState | null = null;

function errorsOf(byStatus: Record<string, number>): number {
  let errors = 0;
  for (const [status, count] of Object.entries(byStatus)) if (status.startsWith('5')) errors += count;
  return errors;
}

function record(state: ConsoleState): void {
  for (const [route, counters] of Object.entries(state.requests)) {
    const samples = history.get(route) ?? [];
    samples.push({ time: state.time, total: counters.total, errors: errorsOf(counters.byStatus) });
    if (samples.length > HISTORY + 1) samples.shift();
    history.set(route, samples);
  }
}

/** Requests per second between consecutive samples, oldest first. */
function ratesOf(route: string): number[] {
  const samples = history.get(route) ?? [];
  const rates: number[] = [];
  for (let i = 1; i < samples.length; i += 1) {
    const seconds = (samples[i]!.time - samples[i - 1]!.time) / 1000;
    rates.push(seconds > 0 ? Math.max(0, samples[i]!.total - samples[i - 1]!.total) / seconds : 0);
  }
  return rates;
}

function latest(route: string, field: 'total' | 'errors'): number | undefined {
  const samples = history.get(route) ?? [];
  if (samples.length < 2) return undefined;
  const a = samples[samples.length - 2]!;
  const b = samples[samples.length - 1]!;
  const seconds = (b.time - a.time) / 1000;
  return seconds > 0 ? Math.max(0, b[field] - a[field]) / seconds : 0;
}

function sparkline(values: number[]): SVGSVGElement {
  const width = 64;
  const height = 20;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('aria-hidden', 'true');
  const base = document.createElementNS(SVG, 'line');
  base.setAttribute('class', 'base');
  base.setAttribute('x1', '0');
  base.setAttribute('x2', String(width));
  base.setAttribute('y1', String(height - 0.5));
  base.setAttribute('y2', String(height - 0.5));
  svg.append(base);
  if (values.length >= 2) {
    const max = Math.max(...values, 0.001);
    const step = width / (HISTORY - 1);
    const offset = width - step * (values.length - 1);
    const points = values.map((value, i) => `${(offset + i * step).toFixed(1)},${(height - 1.5 - (value / max) * (height - 4)).toFixed(1)}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.append(line);
  }
  return svg;
}

// -------------------------------------------------------------------------------- rendering

let selectedRoute = '';
let routesSignature = '';

function renderSummary(state: ConsoleState): void {
  const status = byId('status');
  status.textContent = state.status;
  status.className = `pill ${state.status === 'ready' ? 'pill-ok' : state.status === 'degraded' ? 'pill-bad' : 'pill-warn'}`;
  let rate: number | undefined;
  let errors: number | undefined;
  for (const route of state.routes) {
    const r = latest(route.name, 'total');
    const e = latest(route.name, 'errors');
    if (r !== undefined) rate = (rate ?? 0) + r;
    if (e !== undefined) errors = (errors ?? 0) + e;
  }
  setText('stat-rate', formatRate(rate));
  setText('stat-errors', errors === undefined ? '–' : `${formatRate(errors)}/s`);
  setText('stat-inflight', formatCount(state.brokers.reduce((sum, broker) => sum + broker.inFlight, 0)));
  setText('stat-uptime', formatUptime(state.uptimeSeconds));
  setText('updated', `updated ${new Date(state.time).toLocaleTimeString('en-GB')}`);
}

function renderRoutes(state: ConsoleState): void {
  const body = byId('routes-body');
  setText('routes-count', `${state.routes.length} route${state.routes.length === 1 ? '' : 's'}`);
  const rows = state.routes.map((route) => {
    const counters = state.requests[route.name];
    const total = counters?.total ?? 0;
    let failed = 0;
    for (const [status, count] of Object.entries(counters?.byStatus ?? {})) if (!status.startsWith('2')) failed += count;
    const row = h(
      'tr',
      { class: route.name === selectedRoute ? 'selected' : '', attrs: { 'data-route': route.name } },
      h(
        'td',
        {},
        h('span', { class: 'route-name', text: route.name }),
        h('span', { class: 'route-path' }, h('span', { class: 'method', text: route.method }), route.path),
      ),
      h('td', {}, choiceText(route.broker), route.broker.allowed ? h('span', { class: 'choice', text: route.broker.allowed.join(' · ') }) : null),
      h('td', {}, modeBadge(route.mode), route.mode.allowed ? h('span', { class: 'choice', text: route.mode.allowed.join(' · ') }) : null),
      h('td', { class: 'dest' }, route.destination),
      h(
        'td',
        { class: 'num' },
        h('span', { class: 'rate' }, sparkline(ratesOf(route.name)), h('span', { class: 'rate-value', text: formatRate(latest(route.name, 'total')) })),
      ),
      h('td', { class: 'num route-total', text: formatCount(total) }),
      h('td', { class: `num ${failed > 0 ? 'errors-bad' : ''}`, text: formatCount(failed), attrs: { title: 'answers other than 2xx' } }),
    );
    row.addEventListener('click', () => selectRoute(route.name));
    return row;
  });
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '7' }, text: 'no routes are loaded' })));
  body.replaceChildren(...rows);
}

function renderBrokers(state: ConsoleState): void {
  const sent = new Map<string, { ok: number; failed: number }>();
  for (const message of state.messages) {
    const entry = sent.get(message.broker) ?? { ok: 0, failed: 0 };
    if (message.outcome === 'ok') entry.ok += message.count;
    else entry.failed += message.count;
    sent.set(message.broker, entry);
  }
  const items = state.brokers.map((broker) => {
    const figures = sent.get(broker.name) ?? { ok: 0, failed: 0 };
    return h(
      'li',
      { class: 'broker', attrs: { 'data-broker': broker.name } },
      h(
        'div',
        { class: 'broker-head' },
        h('span', { class: `dot ${broker.up ? 'dot-up' : 'dot-down'}` }),
        h('span', { class: 'broker-name', text: broker.name }),
        h('span', { class: `pill ${broker.up ? 'pill-ok' : 'pill-bad'} broker-state`, text: broker.up ? 'connected' : 'down' }),
        h('span', { class: 'broker-plugin', text: broker.plugin === broker.name ? '' : `plugin ${broker.plugin}` }),
      ),
      h('div', { class: 'broker-detail', text: broker.detail ?? broker.modes.join(' · ') }),
      h(
        'div',
        { class: 'broker-figures' },
        h('span', {}, h('b', { text: formatCount(figures.ok) }), ' sent'),
        h('span', {}, h('b', { text: formatCount(figures.failed) }), ' failed'),
        h('span', {}, h('b', { text: formatCount(broker.inFlight) }), ' in flight'),
      ),
    );
  });
  if (items.length === 0) items.push(h('li', { class: 'muted', text: 'no broker is in use' }));
  byId('brokers').replaceChildren(...items);
}

/** Messages by broker, mode and outcome, with their rate since the previous poll. */
const previousMessages = new Map<string, { time: number; count: number }>();

function renderMessages(state: ConsoleState): void {
  const rows = [...state.messages].sort((a, b) => a.broker.localeCompare(b.broker) || a.mode.localeCompare(b.mode) || a.outcome.localeCompare(b.outcome));
  const body = byId('messages-body');
  const cells = rows.map((message) => {
    const id = `${message.broker}\u0000${message.mode}\u0000${message.outcome}`;
    const before = previousMessages.get(id);
    previousMessages.set(id, { time: state.time, count: message.count });
    const seconds = before ? (state.time - before.time) / 1000 : 0;
    const rate = before && seconds > 0 ? Math.max(0, message.count - before.count) / seconds : undefined;
    return h(
      'tr',
      {},
      h('td', { text: message.broker }),
      h('td', {}, h('span', { class: `mode mode-${message.mode}`, text: message.mode })),
      h('td', {}, h('span', { class: `outcome ${message.outcome === 'ok' ? 'outcome-ok' : 'outcome-bad'}`, text: message.outcome })),
      h('td', { class: 'num', text: formatRate(rate) }),
      h('td', { class: 'num', text: formatCount(message.count) }),
    );
  });
  if (cells.length === 0) cells.push(h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '5' }, text: 'no message sent yet' })));
  body.replaceChildren(...cells);
}

/** Delivered counts of the previous poll, for the rate. */
const previousDelivered = new Map<string, { time: number; count: number }>();

function renderSubscriptions(state: ConsoleState): void {
  const rows = state.subscriptions.map((subscription) => {
    const before = previousDelivered.get(subscription.name);
    previousDelivered.set(subscription.name, { time: state.time, count: subscription.delivered });
    const seconds = before ? (state.time - before.time) / 1000 : 0;
    const rate = before && seconds > 0 ? Math.max(0, subscription.delivered - before.count) / seconds : undefined;
    const paused = subscription.endpoint !== 'closed';
    const stateText = !subscription.up
      ? 'subscribing'
      : subscription.endpoint === 'open'
        ? 'endpoint down: paused'
        : subscription.endpoint === 'half-open'
          ? 'probing endpoint'
          : 'delivering';
    return h(
      'tr',
      { attrs: { 'data-subscription': subscription.name } },
      h('td', { text: subscription.name }),
      h('td', { class: 'dest', text: `${subscription.broker} ${subscription.source}` }),
      h(
        'td',
        {},
        h('span', {
          class: `pill ${subscription.up && !paused ? 'pill-ok' : paused ? 'pill-bad' : 'pill-warn'}`,
          text: stateText,
          attrs: { title: subscription.detail ?? '' },
        }),
      ),
      h('td', { class: 'num', text: formatRate(rate) }),
      h('td', { class: 'num', text: formatCount(subscription.delivered) }),
      h('td', { class: `num ${subscription.deadLettered > 0 ? 'errors-bad' : ''}`, text: formatCount(subscription.deadLettered) }),
      h('td', {
        class: 'num',
        text: subscription.backlog === null ? '–' : formatCount(subscription.backlog),
        attrs: { title: 'messages waiting in the broker' },
      }),
      h('td', { class: 'num', text: formatCount(subscription.held), attrs: { title: 'taken from the broker, not settled yet' } }),
    );
  });
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '8' }, text: 'no subscriptions are configured' })));
  byId('subscriptions-body').replaceChildren(...rows);
}

// ------------------------------------------------------------------------------- streams

/**
 * The watch view reads a stream's Server-Sent Events with fetch(), not EventSource: only fetch
 * can send the API key header. The newest events stay on screen (WATCH_KEEP); stop aborts.
 */
const WATCH_KEEP = 200;
let watching: { readonly path: string; readonly abort: AbortController } | undefined;

function renderStreams(state: ConsoleState): void {
  const rows = state.streams.map((stream) =>
    h(
      'tr',
      { attrs: { 'data-stream': stream.path } },
      h('td', {}, h('code', { text: stream.path })),
      h('td', { class: 'dest', text: `${stream.broker} ${stream.source}` }),
      h('td', {}, h('span', { class: `pill ${stream.history ? 'pill-ok' : 'pill-warn'}`, text: stream.history ? 'resumable' : 'live only' })),
      h('td', { class: 'num', text: formatCount(stream.connected) }),
      h('td', {}, watchButton(stream.path)),
    ),
  );
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '5' }, text: 'no streams are configured' })));
  byId('streams-body').replaceChildren(...rows);
}

// ------------------------------------------------------------------------------- pulls

function renderPulls(state: ConsoleState): void {
  const rows = state.pulls.map((pull) =>
    h(
      'tr',
      { attrs: { 'data-pull': pull.path } },
      h('td', {}, h('code', { text: pull.path })),
      h('td', { class: 'dest', text: `${pull.broker} ${pull.source} (${pull.mode})` }),
      h('td', { text: pull.group ?? '–' }),
      h('td', { class: 'num', text: formatSeconds(pull.leaseMs) }),
      h('td', { class: 'dest', text: pull.deadLetter ?? '–' }),
      h('td', {
        class: 'num',
        text: `${formatCount(pull.held)} / ${formatCount(pull.maxHeld)}`,
        attrs: { title: 'leased, buffered or delayed now, of maxHeld' },
      }),
    ),
  );
  if (rows.length === 0) rows.push(h('tr', {}, h('td', { class: 'empty', attrs: { colspan: '6' }, text: 'no pull paths are configured' })));
  byId('pulls-body').replaceChildren(...rows);
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function watchButton(path: string): HTMLButtonElement {
  const button = h('button', { class: 'link', attrs: { type: 'button', 'data-watch': path }, text: 'watch' });
  button.addEventListener('click', () => void watch(path));
  return button;
}

function watchState(text: string, kind: 'ok' | 'warn' | 'bad'): void {
  const state = byId('watch-state');
  state.textContent = text;
  state.className = `pill pill-${kind}`;
}

function stopWatching(): void {
  watching?.abort.abort();
  watching = undefined;
}

async function watch(path: string): Promise<void> {
  stopWatching();
  const abort = new AbortController();
  watching = { path, abort };
  byId('watch').hidden = false;
  setText('watch-path', path);
  setText('watch-count', '');
  byId('watch-events').replaceChildren();
  watchState('connecting', 'warn');
  let count = 0;
  try {
    const response = await fetch(path, { headers: { ...authHeaders(), Accept: 'text/event-stream' }, signal: abort.signal, credentials: 'omit' });
    if (!response.ok || !response.body) {
      const error = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      watchState(`${response.status} ${error.error?.code ?? ''}`.trim(), 'bad');
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event === undefined) continue;
        if (event.type === 'open') watchState('watching', 'ok');
        else if (event.type === 'close') watchState(`closed: ${String(event.data.reason)}`, 'bad');
        else if (event.type === 'message') {
          count += 1;
          setText('watch-count', `${formatCount(count)} message${count === 1 ? '' : 's'}`);
          showWatched(event.data);
        }
      }
    }
    if (watching?.abort === abort) watchState('ended', 'warn');
  } catch (error) {
    if (!abort.signal.aborted) watchState(error instanceof Error ? error.message : String(error), 'bad');
    else watchState('stopped', 'warn');
  }
}

function parseEvent(block: string): { type: string; data: Record<string, unknown> } | undefined {
  let type = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return undefined;
  try {
    return { type, data: JSON.parse(data.join('\n')) as Record<string, unknown> };
  } catch {
    return undefined;
  }
}

function showWatched(message: Record<string, unknown>): void {
  const position = message.position === null ? '' : ` ${JSON.stringify(message.position)}`;
  const contentType = typeof message.contentType === 'string' ? message.contentType : '';
  const meta = `${String(message.id)} ${contentType}${position}${message.encoding === 'base64' ? ' (base64)' : ''}`;
  const list = byId('watch-events');
  list.append(h('li', { attrs: { 'data-message-id': String(message.id) } }, h('span', { class: 'meta', text: `${meta}\n` }), String(message.body)));
  while (list.childElementCount > WATCH_KEEP) list.firstElementChild?.remove();
  list.scrollTop = list.scrollHeight;
}

function render(state: ConsoleState): void {
  lastState = state;
  record(state);
  renderSummary(state);
  renderRoutes(state);
  renderBrokers(state);
  renderSubscriptions(state);
  renderStreams(state);
  renderPulls(state);
  renderMessages(state);
  showKeyState(state.auth);
  const signature = JSON.stringify(state.routes);
  if (signature !== routesSignature) {
    routesSignature = signature;
    fillRouteSelect(state.routes);
  }
}

// ------------------------------------------------------------------------------- OpenAPI

type Schema = { readonly [key: string]: unknown };
interface OpenApiDocument {
  readonly paths?: Record<
    string,
    Record<string, { readonly operationId?: string; readonly requestBody?: { readonly content?: Record<string, { readonly schema?: Schema }> } }>
  >;
  readonly components?: { readonly schemas?: Record<string, Schema> };
}
let openApi: OpenApiDocument | undefined;

async function loadOpenApi(): Promise<void> {
  try {
    const response = await fetch('/openapi.json', { headers: authHeaders() });
    openApi = response.ok ? ((await response.json()) as OpenApiDocument) : undefined;
  } catch {
    openApi = undefined;
  }
}

/** The request body content types of the route's operation (`*` + `/*` left out), in document order. */
function requestContent(route: RouteView): Record<string, { readonly schema?: Schema }> {
  for (const operations of Object.values(openApi?.paths ?? {})) {
    for (const operation of Object.values(operations)) if (operation.operationId === route.operationId) return operation.requestBody?.content ?? {};
  }
  return {};
}

function resolveRef(ref: string): Schema | undefined {
  let node: unknown = openApi;
  for (const segment of ref.replace(/^#\//, '').split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node as Schema | undefined;
}

/** A value that fits the schema where that is easy (types, required keys, enums, formats): a start to edit, not a promise. */
function exampleOf(schema: Schema | undefined, name = '', depth = 0): unknown {
  if (!schema || depth > 8) return null;
  if (typeof schema.$ref === 'string') return exampleOf(resolveRef(schema.$ref), name, depth + 1);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if ('default' in schema) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const key of ['allOf', 'oneOf', 'anyOf']) {
    const list = schema[key];
    if (!Array.isArray(list) || list.length === 0) continue;
    if (key !== 'allOf') return exampleOf(list[0] as Schema, name, depth + 1);
    return Object.assign({}, ...list.map((part) => exampleOf(part as Schema, name, depth + 1)).filter((value) => typeof value === 'object' && value !== null));
  }
  const types = Array.isArray(schema.type)
    ? (schema.type as string[]).filter((t) => t !== 'null')
    : [schema.type ?? (schema.properties ? 'object' : undefined)];
  switch (types[0]) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const wanted = new Set([...((schema.required as string[] | undefined) ?? []), ...('data' in properties ? ['data'] : [])]);
      return Object.fromEntries([...wanted].map((key) => [key, exampleOf(properties[key], key, depth + 1)]));
    }
    case 'array':
      return Number(schema.minItems ?? 1) > 0 ? [exampleOf(schema.items as Schema | undefined, name, depth + 1)] : [];
    case 'integer':
    case 'number':
      return Math.max(Number(schema.minimum ?? 1), 1);
    case 'boolean':
      return true;
    case 'string':
      if (schema.format === 'email') return 'someone@example.com';
      if (schema.format === 'date-time') return new Date().toISOString();
      if (schema.format === 'uri' || schema.format === 'uri-reference') return name === 'source' ? '/busgate/console' : 'https://example.com/';
      if (name === 'id') return crypto.randomUUID();
      if (name === 'type') return 'com.example.console';
      return 'x'.repeat(Math.max(Number(schema.minLength ?? 4), 4));
    default:
      return { id: 1, note: 'sent from the busgate console' };
  }
}

/** The body to start from for a content type the route's operation lists. */
function exampleBody(route: RouteView, contentType: string | undefined): string | undefined {
  const content = requestContent(route);
  if (contentType === undefined || !(contentType in content)) return undefined;
  if (contentType.endsWith('ndjson')) {
    const line = JSON.stringify(exampleOf(openApi?.components?.schemas?.[`${route.operationId}.body`]) ?? { id: 1 });
    return `${line}\n${line}\n`;
  }
  const schema = content[contentType]?.schema;
  if (!schema || Object.keys(schema).length === 0) return undefined;
  return JSON.stringify(exampleOf(schema), null, 2);
}

// ------------------------------------------------------------------------------- send form

function currentRoute(): RouteView | undefined {
  return lastState?.routes.find((route) => route.name === selectedRoute);
}

function fillRouteSelect(routes: readonly RouteView[]): void {
  const select = byId<HTMLSelectElement>('route-select');
  select.replaceChildren(...routes.map((route) => h('option', { attrs: { value: route.name }, text: `${route.name}  —  ${route.method} ${route.path}` })));
  const keep = routes.some((route) => route.name === selectedRoute) ? selectedRoute : (routes[0]?.name ?? '');
  selectedRoute = '';
  if (keep) selectRoute(keep);
}

function paramNames(parts: readonly PathPart[], into: { name: string; optional: boolean }[] = [], optional = false): { name: string; optional: boolean }[] {
  for (const part of parts) {
    if (part.kind === 'param' || part.kind === 'wildcard') into.push({ name: part.name, optional });
    if (part.kind === 'optional') paramNames(part.parts, into, true);
  }
  return into;
}

function valueInput(name: string, allowed: readonly string[] | undefined, value: string, className: string): HTMLInputElement | HTMLSelectElement {
  if (allowed && allowed.length > 0) {
    const select = h(
      'select',
      { class: className, attrs: { 'data-name': name } },
      ...allowed.map((option) => h('option', { attrs: { value: option }, text: option })),
    );
    select.value = allowed.includes(value) ? value : allowed[0]!;
    return select;
  }
  const input = h('input', { class: className, attrs: { 'data-name': name, spellcheck: 'false', type: 'text' } });
  input.value = value;
  return input;
}

function headerRow(name: string, value: string, allowed?: readonly string[], placeholder?: string): HTMLElement {
  const nameInput = h('input', { class: 'header-name', attrs: { type: 'text', spellcheck: 'false', placeholder: 'header', 'aria-label': 'header name' } });
  nameInput.value = name;
  const valueField = valueInput(name, allowed, value, 'header-value');
  valueField.setAttribute('aria-label', `value of ${name || 'header'}`);
  if (placeholder && valueField instanceof HTMLInputElement) valueField.placeholder = placeholder;
  const remove = h('button', { class: 'remove', text: '×', attrs: { type: 'button', title: 'remove header', 'aria-label': 'remove header' } });
  const row = h('div', { class: 'header-row' }, nameInput, valueField, remove);
  remove.addEventListener('click', () => {
    row.remove();
    updateRequestLine();
  });
  return row;
}

function defaultBody(route: RouteView): string {
  if (route.mode.fixed === 'request-reply') return 'hello from the busgate console';
  return JSON.stringify({ id: 1, note: 'sent from the busgate console' });
}

function selectRoute(name: string): void {
  if (name === selectedRoute) return;
  selectedRoute = name;
  byId<HTMLSelectElement>('route-select').value = name;
  for (const row of byId('routes-body').querySelectorAll('tr')) row.classList.toggle('selected', row.getAttribute('data-route') === name);
  const route = currentRoute();
  if (!route) return;

  const summary = byId('route-summary');
  summary.replaceChildren(
    ...[
      choiceText(route.broker),
      ' · ',
      modeBadge(route.mode),
      ' → ',
      h('code', { text: route.destination }),
      ...(route.key ? [' key ', h('code', { text: route.key })] : []),
      ` · timeout ${route.timeoutMs % 1000 === 0 ? `${route.timeoutMs / 1000}s` : `${route.timeoutMs}ms`}`,
    ],
  );

  const params = paramNames(route.pathParts);
  byId('params').replaceChildren(
    ...(params.length > 0 ? [h('span', { class: 'label', text: 'path parameters' })] : []),
    ...params.map((param) => {
      const id = `param-${param.name}`;
      const input = valueInput(param.name, route.paramChoices[param.name], '', 'param-value');
      input.id = id;
      if (input instanceof HTMLInputElement) input.placeholder = param.optional ? 'optional' : 'required';
      return h('div', { class: 'param-row params' }, h('label', { attrs: { for: id }, text: `:${param.name}` }), input);
    }),
  );

  const rows: HTMLElement[] = [];
  const hasBody = route.method !== 'GET' && route.method !== 'DELETE';
  // "*/*" (any bytes) is offered as the type the form used before it read the document.
  const fallbackType = route.mode.fixed === 'request-reply' ? 'text/plain' : 'application/json';
  const contentTypes = [...new Set(Object.keys(requestContent(route)).map((type) => (type === '*/*' ? fallbackType : type)))];
  if (hasBody) rows.push(headerRow('content-type', contentTypes[0] ?? fallbackType, contentTypes.length > 1 ? contentTypes : undefined));
  const choices = new Map<string, readonly string[]>();
  for (const choice of [route.broker, route.mode]) if (choice.from?.kind === 'header' && choice.allowed) choices.set(choice.from.name, choice.allowed);
  for (const name of route.templateHeaders) rows.push(headerRow(name, '', choices.get(name), 'required by the route'));
  for (const name of route.forwardHeaders) if (!route.templateHeaders.includes(name)) rows.push(headerRow(name, '', undefined, 'copied into the message'));
  byId('headers').replaceChildren(...rows);

  const body = byId<HTMLTextAreaElement>('body-input');
  body.value = hasBody ? (exampleBody(route, contentTypes[0]) ?? defaultBody(route)) : '';
  byId('headers')
    .querySelector('select[data-name="content-type"]')
    ?.addEventListener('change', (event) => {
      body.value = exampleBody(route, (event.target as HTMLSelectElement).value) ?? defaultBody(route);
      updateRequestLine();
    });
  body.disabled = !hasBody;
  setText('send-error', '');
  updateRequestLine();
}

/** The URL path from the route's parts and the filled parameters; undefined names what is missing. */
function buildPath(parts: readonly PathPart[], values: Map<string, string>): { path: string; missing: string[] } {
  let path = '';
  const missing: string[] = [];
  for (const part of parts) {
    if (part.kind === 'text') path += part.value;
    else if (part.kind === 'param') {
      const value = values.get(part.name) ?? '';
      if (!value) missing.push(part.name);
      path += encodeURIComponent(value);
    } else if (part.kind === 'wildcard') {
      const value = values.get(part.name) ?? '';
      if (!value) missing.push(part.name);
      path += value.split('/').map(encodeURIComponent).join('/');
    } else {
      const inner = buildPath(part.parts, values);
      if (inner.missing.length === 0) path += inner.path;
    }
  }
  return { path, missing };
}

function formRequest(): { method: string; path: string; missing: string[]; headers: [string, string][]; body: string | undefined } | undefined {
  const route = currentRoute();
  if (!route) return undefined;
  const values = new Map<string, string>();
  for (const field of byId('params').querySelectorAll<HTMLInputElement | HTMLSelectElement>('.param-value')) {
    values.set(field.getAttribute('data-name') ?? '', field.value.trim());
  }
  const { path, missing } = buildPath(route.pathParts, values);
  const headers: [string, string][] = [];
  for (const row of byId('headers').querySelectorAll('.header-row')) {
    const name = row.querySelector<HTMLInputElement>('.header-name')?.value.trim() ?? '';
    const value = row.querySelector<HTMLInputElement | HTMLSelectElement>('.header-value')?.value ?? '';
    if (name && value) headers.push([name, value]);
  }
  const body = route.method === 'GET' || route.method === 'DELETE' ? undefined : byId<HTMLTextAreaElement>('body-input').value;
  return { method: route.method, path, missing, headers, body };
}

function updateRequestLine(): void {
  const request = formRequest();
  setText('request-line', request ? `${request.method} ${request.path}` : '');
}

function showResult(status: number, statusText: string, kind: string, meta: string, body: string): void {
  byId('result').hidden = false;
  const badge = byId('result-status');
  badge.textContent = status === 0 ? 'failed' : `${status} ${statusText}`;
  badge.className = `status status-${String(status).charAt(0)}`;
  setText('result-kind', kind);
  setText('result-meta', meta);
  setText('result-body', body);
}

async function send(): Promise<void> {
  const request = formRequest();
  const route = currentRoute();
  if (!request || !route) return;
  if (request.missing.length > 0) {
    setText('send-error', `fill in ${request.missing.map((name) => `:${name}`).join(', ')}`);
    return;
  }
  setText('send-error', '');
  const button = byId<HTMLButtonElement>('send-button');
  button.disabled = true;
  const headers = new Headers(authHeaders());
  try {
    for (const [name, value] of request.headers) headers.set(name, value);
  } catch (error) {
    button.disabled = false;
    setText('send-error', `invalid header: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  const started = performance.now();
  try {
    const response = await fetch(request.path, { method: request.method, headers, body: request.body, cache: 'no-store', credentials: 'omit' });
    const text = await response.text();
    const ms = Math.round(performance.now() - started);
    const contentType = response.headers.get('content-type') ?? '';
    let shown = text;
    if (/^application\/([\w.+-]*\+)?json/i.test(contentType)) {
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // Not JSON after all: show it as it came.
      }
    }
    const kind = response.status >= 400 ? 'error' : response.status === 202 ? 'receipt' : 'reply';
    const meta = [
      `${ms} ms`,
      contentType ? contentType.split(';')[0]! : '',
      response.headers.get('x-busgate-id') ? `id ${response.headers.get('x-busgate-id')}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    showResult(response.status, response.statusText, kind, meta, shown === '' ? '(empty body)' : shown);
    if (response.status === 401) setText('send-error', 'the daemon asks for a valid API key');
  } catch (error) {
    showResult(
      0,
      '',
      'error',
      `${Math.round(performance.now() - started)} ms`,
      `the request failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  } finally {
    button.disabled = false;
    void poll();
  }
}

// ------------------------------------------------------------------------------------ polling

let timer: number | undefined;

async function poll(): Promise<void> {
  window.clearTimeout(timer);
  try {
    const response = await fetch('/console/api/state', { headers: authHeaders(), cache: 'no-store', credentials: 'omit' });
    if (response.status === 401) {
      showKeyGate(apiKey ? 'that key was not accepted' : '');
      return; // no polling until a key is given
    }
    if (!response.ok) throw new Error(`the daemon answered ${response.status}`);
    hideKeyGate();
    const state = (await response.json()) as ConsoleState;
    // The send form takes content types and example bodies from the routes' OpenAPI document,
    // fetched before the routes are drawn so the form never changes under the user's hands.
    if (JSON.stringify(state.routes) !== routesSignature) await loadOpenApi();
    render(state);
  } catch (error) {
    const status = byId('status');
    status.textContent = 'unreachable';
    status.className = 'pill pill-bad';
    setText('updated', error instanceof Error ? error.message : String(error));
  }
  timer = window.setTimeout(() => void poll(), POLL_MS);
}

function start(): void {
  byId('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const value = byId<HTMLInputElement>('key-input').value.trim();
    if (!value) return setText('key-error', 'enter a key');
    apiKey = value;
    sessionStorage.setItem(KEY_STORAGE, value);
    byId<HTMLInputElement>('key-input').value = '';
    void poll();
  });
  byId('key-forget').addEventListener('click', () => {
    apiKey = null;
    sessionStorage.removeItem(KEY_STORAGE);
    void poll();
  });
  byId('watch-stop').addEventListener('click', () => {
    stopWatching();
    watchState('stopped', 'warn');
  });
  byId('route-select').addEventListener('change', (event) => selectRoute((event.target as HTMLSelectElement).value));
  byId('send-form').addEventListener('input', updateRequestLine);
  byId('send-form').addEventListener('change', updateRequestLine);
  byId('send-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void send();
  });
  byId('add-header').addEventListener('click', () => {
    const row = headerRow('', '');
    byId('headers').append(row);
    row.querySelector('input')?.focus();
  });
  void poll();
}

start();

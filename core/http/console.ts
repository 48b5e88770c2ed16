/**
 * The web console: `GET /` serves one small page (no framework, no build step) that lists the
 * routes, shows broker status and live rates, and sends test messages through the real ingress.
 *
 *   GET /                     the page (also at /console/)
 *   GET /console/app.css      its stylesheet          (console/page.ts, a string module)
 *   GET /console/app.js       its script              (console/client.ts, compiled by tsc next to this file)
 *   GET /console/api/state    routes, brokers and counters as JSON; needs an API key when keys exist
 *
 * The page holds no data: everything comes from /console/api/state and is put on screen with
 * textContent, never innerHTML. A strict Content-Security-Policy (no inline script or style)
 * backs that up. Test messages go through the ingress like any client's, so they need the same
 * key and count in the same metrics. Off with `console.enabled: false` (CONSOLE_ENABLED=false).
 */
import fs from 'node:fs';
import type { Express, Request, Response } from 'express';
import { parse, type Token } from 'path-to-regexp';
import type { Logger } from 'winston';
import type { Egress, SubscriptionOverview } from '../egress/egress.js';
import type { StreamServer, StreamView } from '../streams/stream-server.js';
import type { PullServer, PullView } from '../pulls/pull-server.js';
import { componentName } from '../contracts/describe.js';
import type { Metrics } from '../observability/metrics.js';
import type { BrokerInstance } from '../brokers/instance.js';
import type { Choice, RouteSpec } from '../routes/model.js';
import type { Template } from '../routes/template.js';
import type { Authenticator } from './auth.js';
import { CONSOLE_CSS, CONSOLE_FAVICON, CONSOLE_HTML } from './console/page.js';
import type { Lifecycle } from './lifecycle.js';
import { sendError } from './send-error.js';

export interface ConsoleDependencies {
  /** The routes being served now; read on every request, so a reload shows at once. */
  readonly routeTable: { readonly routes: readonly RouteSpec[] };
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly authenticator: Authenticator;
  readonly defaultTimeoutMs: number;
  readonly egress?: Pick<Egress, 'overview'>;
  readonly streams?: Pick<StreamServer, 'views'>;
  readonly pulls?: Pick<PullServer, 'views'>;
}

/** A path token as the page needs it to build a URL: text, a parameter, or an optional group. */
export type PathPart =
  | { readonly kind: 'text'; readonly value: string }
  | { readonly kind: 'param'; readonly name: string }
  | { readonly kind: 'wildcard'; readonly name: string }
  | { readonly kind: 'optional'; readonly parts: readonly PathPart[] };

/** Where a per-request choice (broker, mode) or a template value comes from. */
export interface ChoiceView {
  readonly fixed?: string;
  readonly template?: string;
  readonly allowed?: readonly string[];
  readonly from?: { readonly kind: 'param' | 'header'; readonly name: string };
}

export interface RouteView {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly pathParts: readonly PathPart[];
  readonly broker: ChoiceView;
  readonly mode: ChoiceView;
  readonly destination: string;
  readonly key: string | null;
  readonly timeoutMs: number;
  /** Headers the route copies into the message. */
  readonly forwardHeaders: readonly string[];
  /** Headers the templates read (destination, key, broker or mode choice). */
  readonly templateHeaders: readonly string[];
  /** The route's operation in /openapi.json: the send form takes content types and an example body from it. */
  readonly operationId: string;
  /** Allowed values of path parameters that choose the broker or the mode. */
  readonly paramChoices: Readonly<Record<string, readonly string[]>>;
  readonly clients: readonly string[] | null;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | null;
}

export interface ConsoleState {
  readonly status: 'starting' | 'ready' | 'degraded' | 'stopping' | 'draining';
  readonly auth: boolean;
  readonly time: number;
  readonly uptimeSeconds: number;
  readonly routes: readonly RouteView[];
  readonly brokers: readonly {
    readonly name: string;
    readonly plugin: string;
    readonly modes: readonly string[];
    readonly up: boolean;
    readonly detail: string | null;
    readonly inFlight: number;
  }[];
  /** Per route name (plus "(unmatched)"): answers by status class, and the latency sum and count. */
  readonly requests: Readonly<Record<string, { total: number; byStatus: Record<string, number>; seconds: number; count: number }>>;
  /** Egress subscriptions: state, delivered and dead-lettered counts, broker backlog. */
  readonly subscriptions: readonly SubscriptionOverview[];
  /** Streams (SSE / WebSocket paths) and their connected clients; the page can watch one. */
  readonly streams: readonly StreamView[];
  /** Pull paths and the messages this instance holds for each. */
  readonly pulls: readonly PullView[];
  /** Per broker instance: messages by mode and outcome. */
  readonly messages: readonly { readonly broker: string; readonly mode: string; readonly outcome: string; readonly count: number }[];
}

function pathParts(tokens: readonly Token[]): PathPart[] {
  return tokens.map((token): PathPart => {
    if (token.type === 'text') return { kind: 'text', value: token.value };
    if (token.type === 'group') return { kind: 'optional', parts: pathParts(token.tokens) };
    return token.type === 'param' ? { kind: 'param', name: token.name } : { kind: 'wildcard', name: token.name };
  });
}

function singlePlaceholder(template: Template): ChoiceView['from'] {
  const [only] = template.parts;
  if (template.parts.length !== 1 || only === undefined || only.kind === 'literal') return undefined;
  return { kind: only.kind, name: only.name };
}

function choiceView(choice: Choice<string>): ChoiceView {
  if (choice.kind === 'fixed') return { fixed: choice.value };
  const from = singlePlaceholder(choice.template);
  return { template: choice.template.source, allowed: choice.allowed, ...(from ? { from } : {}) };
}

function headersOf(...templates: (Template | undefined)[]): string[] {
  const names = new Set<string>();
  for (const template of templates) for (const part of template?.parts ?? []) if (part.kind === 'header') names.add(part.name);
  return [...names];
}

export function routeView(route: RouteSpec, defaultTimeoutMs: number): RouteView {
  let parts: PathPart[];
  try {
    parts = pathParts(parse(route.path).tokens);
  } catch {
    parts = [{ kind: 'text', value: route.path }];
  }
  const paramChoices: Record<string, readonly string[]> = {};
  for (const choice of [route.broker, route.mode] as Choice<string>[]) {
    if (choice.kind !== 'chosen') continue;
    const from = singlePlaceholder(choice.template);
    if (from?.kind === 'param') paramChoices[from.name] = choice.allowed;
  }
  const chosenTemplates = [route.broker, route.mode].map((choice) => (choice.kind === 'chosen' ? choice.template : undefined));
  return {
    name: route.name,
    operationId: componentName(route),
    method: route.method,
    path: route.path,
    pathParts: parts,
    broker: choiceView(route.broker),
    mode: choiceView(route.mode),
    destination: route.destination.source,
    key: route.key?.source ?? null,
    timeoutMs: route.timeoutMs ?? defaultTimeoutMs,
    forwardHeaders: route.forwardHeaders,
    templateHeaders: headersOf(route.destination, route.key, ...chosenTemplates),
    paramChoices,
    clients: route.clients ?? null,
    rateLimit: route.rateLimit ?? null,
  };
}

export async function consoleState(deps: ConsoleDependencies): Promise<ConsoleState> {
  const [requests, durations, messages, inFlight, subscriptions] = await Promise.all([
    deps.metrics.httpRequests.get(),
    deps.metrics.httpDuration.get(),
    deps.metrics.messages.get(),
    deps.metrics.inFlight.get(),
    deps.egress?.overview() ?? Promise.resolve([]),
  ]);

  const perRoute: Record<string, { total: number; byStatus: Record<string, number>; seconds: number; count: number }> = {};
  const entry = (route: string) => (perRoute[route] ??= { total: 0, byStatus: {}, seconds: 0, count: 0 });
  for (const { labels, value } of requests.values) {
    const row = entry(String(labels.route));
    const status = String(labels.status);
    row.total += value;
    row.byStatus[status] = (row.byStatus[status] ?? 0) + value;
  }
  for (const { labels, value, metricName } of durations.values) {
    if (metricName === 'busgate_http_request_duration_seconds_sum') entry(String(labels.route)).seconds += value;
    if (metricName === 'busgate_http_request_duration_seconds_count') entry(String(labels.route)).count += value;
  }
  const inFlightOf = new Map(inFlight.values.map(({ labels, value }) => [String(labels.broker), value]));

  let allUp = true;
  const brokers = [...deps.brokers].map(([name, broker]) => {
    const health = broker.health();
    allUp &&= health.up;
    return {
      name,
      plugin: broker.pluginName,
      modes: broker.modes,
      up: health.up,
      detail: health.detail ?? null,
      inFlight: inFlightOf.get(name) ?? 0,
    };
  });
  const { lifecycle } = deps;
  return {
    status: lifecycle.status === 'serving' ? (allUp ? 'ready' : 'degraded') : lifecycle.status,
    auth: deps.authenticator.enabled,
    time: Date.now(),
    uptimeSeconds: Math.round(process.uptime()),
    routes: deps.routeTable.routes.map((route) => routeView(route, deps.defaultTimeoutMs)),
    brokers,
    subscriptions,
    streams: deps.streams?.views() ?? [],
    pulls: deps.pulls?.views() ?? [],
    requests: perRoute,
    messages: messages.values.map(({ labels, value }) => ({
      broker: String(labels.broker),
      mode: String(labels.mode),
      outcome: String(labels.outcome),
      count: value,
    })),
  };
}

/** The compiled page script sits next to this module (dist/core/http/console/client.js). */
function readClientScript(): string {
  const file = new URL('./console/client.js', import.meta.url);
  // Drop tsc's source-map comment: the map is not served.
  return fs.readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
}

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export function mountConsole(app: Express, deps: ConsoleDependencies): void {
  const script = readClientScript();
  const asset = (type: string, body: string) => (_req: Request, res: Response) => {
    res.status(200).set(SECURITY_HEADERS).type(type).send(body);
  };

  // A route of the routes file that serves GET / keeps it; the console stays at /console/.
  const routeOwnsRoot = deps.routeTable.routes.some((route) => route.method === 'GET' && route.path === '/');
  if (routeOwnsRoot) deps.logger.warn('a route serves GET /; the console is at /console/ only');
  app.get(routeOwnsRoot ? ['/console', '/console/'] : ['/', '/console', '/console/'], asset('html', CONSOLE_HTML));
  app.get('/console/app.css', asset('css', CONSOLE_CSS));
  app.get('/console/app.js', asset('text/javascript', script));
  app.get('/console/favicon.svg', asset('image/svg+xml', CONSOLE_FAVICON));
  app.get('/console/api/state', deps.authenticator.guard(undefined, deps.logger), async (_req: Request, res: Response) => {
    try {
      res.set(SECURITY_HEADERS).json(await consoleState(deps));
    } catch (error) {
      sendError(res, error, deps.logger);
    }
  });
}

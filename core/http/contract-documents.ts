/**
 * GET /openapi.json and GET /asyncapi.json: the documents of the routes (and subscriptions,
 * streams and pull paths) in service. Each is built on first request after a (re)load and kept until they change, so a reload is reflected at
 * once and a scrape of the documents costs nothing.
 */
import type { Express } from 'express';
import { buildAsyncApi } from '../contracts/asyncapi.js';
import type { BrokerDeclarations } from '../contracts/describe.js';
import { buildOpenApi } from '../contracts/openapi.js';
import type { SubscriptionSpec } from '../egress/model.js';
import type { PullSpec } from '../pulls/model.js';
import type { RouteSpec } from '../routes/model.js';
import type { StreamSpec } from '../streams/model.js';

export const DOCUMENT_PATHS = ['/openapi.json', '/asyncapi.json'] as const;

export function mountContractDocuments(
  app: Express,
  deps: {
    readonly routeTable: { readonly routes: readonly RouteSpec[] };
    readonly brokers: BrokerDeclarations;
    readonly authenticator: { readonly enabled: boolean };
    readonly egress?: { readonly specs: readonly SubscriptionSpec[] };
    readonly streams?: { configured(): readonly StreamSpec[] };
    readonly pulls?: { configured(): readonly PullSpec[] };
  },
): void {
  const inService = (): InService => ({
    routes: deps.routeTable.routes,
    subscriptions: deps.egress?.specs ?? NONE,
    streams: deps.streams?.configured() ?? NONE,
    pulls: deps.pulls?.configured() ?? NONE,
  });
  const openApi = cached(inService, ({ routes, streams, pulls }) =>
    JSON.stringify(buildOpenApi(routes, deps.brokers, { apiKeys: deps.authenticator.enabled, streams, pulls })),
  );
  const asyncApi = cached(inService, ({ routes, subscriptions }) => JSON.stringify(buildAsyncApi(routes, deps.brokers, { subscriptions })));
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openApi());
  });
  app.get('/asyncapi.json', (_req, res) => {
    res.type('application/json').send(asyncApi());
  });
}

const NONE: readonly never[] = [];

interface InService {
  readonly routes: readonly RouteSpec[];
  readonly subscriptions: readonly SubscriptionSpec[];
  readonly streams: readonly StreamSpec[];
  readonly pulls: readonly PullSpec[];
}

/** Builds again only when one of the lists is another array (a reload replaces them whole). */
function cached<T>(current: () => InService, build: (specs: InService) => T): () => T {
  let source: InService | undefined;
  let document: T | undefined;
  return () => {
    const specs = current();
    const same = source !== undefined && (Object.keys(specs) as Array<keyof InService>).every((key) => specs[key] === source![key]);
    if (!same || document === undefined) {
      document = build(specs);
      source = specs;
    }
    return document;
  };
}

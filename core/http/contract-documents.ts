/**
 * GET /openapi.json and GET /asyncapi.json: the documents of the routes in service. Each is built
 * on first request after a (re)load and kept until the routes change, so a reload is reflected at
 * once and a scrape of the documents costs nothing.
 */
import type { Express } from 'express';
import { buildAsyncApi } from '../contracts/asyncapi.js';
import type { BrokerDeclarations } from '../contracts/describe.js';
import { buildOpenApi } from '../contracts/openapi.js';
import type { RouteSpec } from '../routes/model.js';

export const DOCUMENT_PATHS = ['/openapi.json', '/asyncapi.json'] as const;

export function mountContractDocuments(
  app: Express,
  deps: {
    readonly routeTable: { readonly routes: readonly RouteSpec[] };
    readonly brokers: BrokerDeclarations;
    readonly authenticator: { readonly enabled: boolean };
  },
): void {
  const cached = <T>(build: (routes: readonly RouteSpec[]) => T): (() => T) => {
    let source: readonly RouteSpec[] | undefined;
    let document: T | undefined;
    return () => {
      const routes = deps.routeTable.routes;
      if (routes !== source || document === undefined) {
        document = build(routes);
        source = routes;
      }
      return document;
    };
  };
  const openApi = cached((routes) => JSON.stringify(buildOpenApi(routes, deps.brokers, { apiKeys: deps.authenticator.enabled })));
  const asyncApi = cached((routes) => JSON.stringify(buildAsyncApi(routes, deps.brokers)));
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openApi());
  });
  app.get('/asyncapi.json', (_req, res) => {
    res.type('application/json').send(asyncApi());
  });
}

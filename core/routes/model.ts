/** A route after linting: every field checked, templates compiled, durations in milliseconds. */
import type { Mode } from '../plugins/contract.js';
import type { RouteContract } from '../contracts/route-contract.js';
import type { LintCode } from './lint-codes.js';
import type { LintProblem } from './lint-registry.js';
import type { Template } from './template.js';

/** A value fixed in routes.yaml, or chosen per request from an allow-list. */
export type Choice<T extends string> =
  { readonly kind: 'fixed'; readonly value: T } | { readonly kind: 'chosen'; readonly template: Template; readonly allowed: readonly T[] };

export interface RouteSpec {
  /** Metrics and log label: the route's `name`, or "METHOD path". Bounded by the file. */
  readonly name: string;
  readonly method: HttpMethod;
  readonly path: string;
  readonly broker: Choice<string>;
  readonly mode: Choice<Mode>;
  readonly destination: Template;
  readonly key: Template | undefined;
  readonly timeoutMs: number | undefined;
  /** Request headers (lower case) copied into the message. */
  readonly forwardHeaders: readonly string[];
  /** The plugin-specific `options:` block as written (validated against each possible broker's schema). */
  readonly options: Readonly<Record<string, unknown>>;
  /**
   * The same block parsed once per possible broker when the routes load: validated against that
   * broker's routeOptionsSchema with its defaults filled in. This is what the plugin receives.
   */
  readonly brokerOptions: ReadonlyMap<string, Readonly<Record<string, unknown>>>;
  /** API-key client names allowed on this route; undefined = any authenticated client. */
  readonly clients: readonly string[] | undefined;
  readonly rateLimit: { readonly perSecond: number; readonly burst: number } | undefined;
  /** Body schema, CloudEvents policy and batching (core/contracts/). */
  readonly contract: RouteContract;
  /** Where the route starts in the file, for log lines. */
  readonly line: number;
}

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** One linter finding; printed as FILE:LINE:COL code message. */
export type RouteProblem = LintProblem<LintCode>;

/** Any linter's finding (routes, subscriptions, streams, pulls) as FILE:LINE:COL code message. */
export function formatProblem(file: string, problem: LintProblem): string {
  return `${file}:${problem.line}:${problem.col} ${problem.code} ${problem.message}`;
}

/**
 * What the four linters of the routes file (routes, subscriptions, streams, pulls) share: a
 * registry of stable problem codes and the finding that carries one. Each linter keeps its own
 * registry, because the README documents each in its own table and a test checks every table
 * against its registry.
 */

/**
 * A linter's problem codes, each with the sentence its README table shows. The codes are
 * matched on by editors and CI scripts, so a registry is only ever added to.
 */
export function defineLintCodes<const Codes extends Record<string, string>>(codes: Codes): Codes {
  return codes;
}

/** One finding of a linter, printed as FILE:LINE:COL code message (see formatProblem). */
export interface LintProblem<Code extends string = string> {
  readonly line: number;
  readonly col: number;
  readonly code: Code;
  readonly message: string;
}

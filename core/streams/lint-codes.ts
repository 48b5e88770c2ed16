import { defineLintCodes, type LintProblem } from '../routes/lint-registry.js';

/**
 * Every problem code the streams linter reports (core/streams/lint.ts). Stable, and checked
 * against the README's "lint code (streams)" table by a test.
 */
export const STREAM_LINT_CODES = defineLintCodes({
  missing_key: '`path`, `broker` or `source` missing',
  unknown_key: 'a key busgate does not know',
  wrong_type: 'a value has the wrong type',
  bad_path: "the path does not start with `/`, has characters other than letters, digits, `/`, `_`, `.`, `-`, or is one of busgate's own paths",
  duplicate_path: 'two streams, or a stream and a route, with the same path',
  unknown_broker: 'no such broker instance',
  egress_not_supported: "the broker's plugin declares no egress",
  bad_destination: '`source` is not valid on the broker',
  bad_option: "`options:` does not match the plugin's route options",
  unknown_client: 'a `clients:` name has no API key',
});

export type StreamLintCode = keyof typeof STREAM_LINT_CODES;

export type StreamProblem = LintProblem<StreamLintCode>;

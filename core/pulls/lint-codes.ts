import { defineLintCodes, type LintProblem } from '../routes/lint-registry.js';

/**
 * Every problem code the pulls linter reports (core/pulls/lint.ts). Stable, and checked against
 * the README's "lint code (pulls)" table by a test.
 */
export const PULL_LINT_CODES = defineLintCodes({
  missing_key: '`path`, `broker` or `source` missing, or `group` on a broker with durable consumer groups',
  unknown_key: 'a key busgate does not know',
  wrong_type: 'a value has the wrong type',
  bad_path:
    "the path does not start with `/`, has characters other than letters, digits, `/`, `_`, `.`, `-`, ends in `/ack` or `/nack`, or is one of busgate's own paths",
  duplicate_path: 'two pull paths, or a pull path (or its `/ack`, `/nack`) and a route or stream, with the same path',
  unknown_broker: 'no such broker instance',
  egress_not_supported: "the broker's plugin declares no egress",
  unknown_mode: '`mode` is not `pubsub` or `point-to-point`',
  no_durable_groups: '`group`, or `mode: pubsub`, on a broker without durable consumer groups',
  bad_destination: '`source` or `deadLetter` is not valid on the broker',
  bad_duration: '`lease` is not a duration from 1s to 12h',
  bad_number: '`maxHeld` is not a whole number from 1 to 1000',
  bad_option: "`options:` does not match the plugin's route options",
  unknown_client: 'a `clients:` name has no API key',
});

export type PullLintCode = keyof typeof PULL_LINT_CODES;

export type PullProblem = LintProblem<PullLintCode>;

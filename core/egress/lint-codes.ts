import { defineLintCodes, type LintProblem } from '../routes/lint-registry.js';

/**
 * Every problem code the subscriptions linter reports (core/egress/lint.ts). Stable, like the
 * routes' codes, and checked against the README's "lint code (subscriptions)" table by a test.
 */
export const SUBSCRIPTION_LINT_CODES = defineLintCodes({
  missing_key: '`name`, `broker`, `source`, `mode`, `deliver` (with `url`) or `deadLetter` missing',
  unknown_key: 'a key busgate does not know, at any level',
  wrong_type: 'a value has the wrong type',
  duplicate_subscription: 'two subscriptions with the same name',
  bad_name: 'the name is not letters, digits, `_`, `.`, `-` (at most 100)',
  unknown_broker: 'no such broker instance',
  egress_not_supported: "the broker's plugin declares no egress",
  unknown_mode: 'not `pubsub` or `point-to-point`',
  bad_destination: '`source` or `deadLetter` is templated, not valid on the broker, or the same',
  bad_option: "`options:` does not match the plugin's route options; `group` on a broker without durable groups (memory)",
  bad_url: '`deliver.url` is not an absolute http(s) URL',
  bad_duration: '`timeout`, `initialDelay`, `maxDelay`, `maxRetryAfter`, `pause`, `maxPause` not a duration (or maxDelay < initialDelay)',
  bad_number: '`concurrency` (1-1000), `attempts` (1-100) or `failures` (1-1000) out of range',
  bad_ordering: 'not `none` or `key`',
  bad_cloudevents: '`deliver.cloudevents` not `binary` or `structured`, or `deliver.eventType` without it or not a CloudEvents type',
  bad_header_name: 'a `deliver.headers` name is not a header name',
  reserved_header: 'a `deliver.headers` name busgate sets (`webhook-*`, `busgate-*`, `content-type`, hop-by-hop headers)',
  missing_secret: '`signing.secretEnv` names a variable that is not set',
  bad_secret: 'the variable does not hold `whsec_` + base64 of 24 to 64 bytes (the value is never printed)',
});

export type SubscriptionLintCode = keyof typeof SUBSCRIPTION_LINT_CODES;

/** One finding of the subscriptions linter; printed like the routes' (formatProblem). */
export type SubscriptionProblem = LintProblem<SubscriptionLintCode>;

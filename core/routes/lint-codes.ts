import { defineLintCodes } from './lint-registry.js';

/**
 * Every problem code the routes linter reports. Like the HTTP error codes (core/errors.ts), they
 * are stable — editors and CI scripts match on them — and the README's lint table is checked
 * against this registry by a test, so the two cannot drift.
 */
export const LINT_CODES = defineLintCodes({
  yaml_syntax: 'the file is not valid YAML',
  wrong_type: 'a value has the wrong type (a list where a string belongs...)',
  missing_key: 'a required key is missing (`path`, `broker`, `mode`, `destination`; `brokers` for a chosen broker)',
  unknown_key: 'a key busgate does not know (typos are caught, not ignored)',
  bad_path: 'not a valid express path',
  bad_method: 'not GET, POST, PUT, PATCH or DELETE',
  unknown_broker: 'no such broker instance',
  unknown_mode: 'not `pubsub`, `point-to-point` or `request-reply`',
  mode_not_supported: "the broker's plugin cannot do that mode",
  duplicate_route: 'the same method and path twice (parameter names do not matter)',
  bad_template: 'a destination/key/broker/mode template is malformed',
  bad_destination:
    "a fixed destination breaks the naming rules its broker's plugin declares (a wildcard, a reserved prefix, too long...), or a templated one's literal text does, whatever the request sends",
  bad_key: "a fixed key (or a templated key's literal text) breaks the key rules its broker's plugin declares (length, control characters)",
  unknown_param: 'a template names a parameter the path does not have',
  bad_duration: '`timeout` is not like `500ms`, `2s`, `1m`',
  bad_header_name: 'an entry of `headers:` is not a header name',
  bad_option: "`options:` does not match the plugin's route options schema",
  reserved_path: '`/health`, `/ready`, `/metrics`, `/tap`, `/console`, `/openapi.json` and `/asyncapi.json` belong to busgate',
  reserved_destination:
    "the destination template could render a destination the broker's plugin reserves for itself (such as a reply topic that carries every client's replies)",
  reserved_header:
    "`headers:` names a header busgate sets (`busgate-*`, `idempotency-key`, `content-type`), one the route's broker reserves (declared by its plugin), or a credential (`authorization`, `x-api-key`, `cookie`)",
  unknown_client: '`clients:` names an API key that is not configured',
  bad_rate_limit: '`rateLimit:` is not `{ perSecond, burst }`',
  schema_not_found: '`schema:` names a file that cannot be read (relative to the routes file)',
  schema_invalid:
    'the schema file is not valid JSON/YAML (its own line and column follow the file name), or not a usable draft 2020-12 JSON Schema (unknown keyword, bad `$ref`...)',
  bad_cloudevents: '`cloudevents:` is not `required`, `accepted` or `off`',
  bad_batch: '`batch:` is not `true`, `false` or `{ maxEntries: 1..1000 }`, or the route is request-reply',
});

export type LintCode = keyof typeof LINT_CODES;

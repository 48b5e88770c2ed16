/**
 * NATS subject rules as busgate needs them: what one templated token may contain, what a whole
 * destination may look like, how a stream filter matches a subject, and the names busgate derives
 * for streams and durable consumers.
 */
import { createHash } from 'node:crypto';

// Whitespace and control characters would split or corrupt the protocol line (PUB <subject> ...).
const SPACE_OR_CONTROL = /[\s\u0000-\u001f\u007f]/;
// `.` would add a token; `*` and `>` would turn a publish target into a subscription wildcard.
const TOKEN_BREAKERS = /[.*>]/;

/**
 * One rendered value is safe when it stays exactly one literal token. A leading `$` is refused
 * because `$JS`, `$SYS`, `$KV`... are the server's own API namespaces.
 */
export function isSafeToken(value: string): boolean {
  return value.length > 0 && !TOKEN_BREAKERS.test(value) && !SPACE_OR_CONTROL.test(value) && !value.startsWith('$');
}

/** A problem with a whole publish subject, or undefined when it can be published to. */
export function checkDestination(subject: string): string | undefined {
  if (subject.length === 0) return 'a NATS subject cannot be empty';
  if (SPACE_OR_CONTROL.test(subject)) {
    return `NATS subject "${printable(subject)}" contains whitespace or control characters`;
  }
  const tokens = subject.split('.');
  if (tokens.some((token) => token.length === 0)) {
    return `NATS subject "${subject}" has an empty token (a leading, trailing or doubled ".")`;
  }
  if (tokens.some((token) => token.includes('*') || token.includes('>'))) {
    return `NATS subject "${subject}" contains a wildcard ("*" or ">"); messages are published to literal subjects`;
  }
  const first = tokens[0]!;
  if (first.startsWith('$')) {
    return `NATS subject "${subject}" starts with "$", which the server reserves for its APIs ($JS, $SYS...)`;
  }
  if (first === '_INBOX') {
    return `NATS subject "${subject}" is a reply inbox; clients never choose reply subjects`;
  }
  return undefined;
}

/** Whether a stream or consumer filter (which may hold `*` and `>`) captures a literal subject. */
export function subjectMatches(filter: string, subject: string): boolean {
  const wanted = filter.split('.');
  const actual = subject.split('.');
  for (let index = 0; index < wanted.length; index++) {
    const token = wanted[index]!;
    if (token === '>') return actual.length > index;
    if (index >= actual.length) return false;
    if (token !== '*' && token !== actual[index]) return false;
  }
  return wanted.length === actual.length;
}

const NAME_UNSAFE = /[^A-Za-z0-9_-]/g;

/** The work-queue stream busgate creates for a subject when the route names none. */
export function streamNameFor(prefix: string, subject: string): string {
  return `${prefix}_${subject.replace(NAME_UNSAFE, '_')}`;
}

/**
 * The durable consumer every point-to-point subscriber of a subject shares. The hash keeps
 * `a.b` and `a_b` apart: both sanitise to `a_b` and may land in the same stream, and a work-queue
 * stream refuses two consumers with the same name but different filters.
 */
export function durableNameFor(subject: string): string {
  const digest = createHash('sha256').update(subject).digest('hex').slice(0, 8);
  // Consumer names become file names on the server: keep them well under common limits.
  const readable = subject.replace(NAME_UNSAFE, '_').slice(0, 120);
  return `busgate_${readable}_${digest}`;
}

function printable(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

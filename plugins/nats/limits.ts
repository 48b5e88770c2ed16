/**
 * What nats-server answers by closing the whole connection, checked before anything is written.
 * A NATS connection is shared by every request of every client, so one client's oversized subject
 * (`-ERR 'Maximum Control Line Exceeded'`) or payload (`-ERR 'Maximum Payload Violation'`) would
 * otherwise fail every request in flight and feed the circuit breaker.
 *
 * max_payload comes from the server's INFO at connect time. The control-line limit is not in INFO:
 * it is the `maxControlLine` option, the server's default (4096) unless the operator changed it.
 */
import type { MsgHdrs } from '@nats-io/transport-node';
import { BusgateError } from '../../core/errors.js';

/**
 * Room on the control line besides the subject: `HPUB `, the reply inbox nats.js adds to
 * requests and JetStream publishes (`_INBOX.<22>.<22>`), two byte counts and CRLF, with margin.
 */
const CONTROL_LINE_OVERHEAD = 128;
/** Headers JetStream publishes add after the check (Nats-Msg-Id with a 200-character id, Nats-Expected-Stream). */
const JETSTREAM_HEADER_ROOM = 512;
/** The server's default max_control_line; the server does not announce its own in INFO. */
export const DEFAULT_MAX_CONTROL_LINE = 4096;
/** Stream names become directory names on the server; busgate derives one from the subject. */
export const MAX_STREAM_NAME = 200;

export interface NatsLimits {
  /** Headers plus payload, from the server's INFO. */
  readonly maxPayloadBytes: number;
  readonly maxControlLineBytes: number;
  readonly maxSubjectBytes: number;
}

export function natsLimits(maxPayload: number | undefined, maxControlLine: number): NatsLimits {
  return {
    maxPayloadBytes: maxPayload ?? 1024 * 1024,
    maxControlLineBytes: maxControlLine,
    maxSubjectBytes: maxControlLine - CONTROL_LINE_OVERHEAD,
  };
}

export function checkSubject(subject: string, limits: NatsLimits): void {
  const bytes = Buffer.byteLength(subject);
  if (bytes > limits.maxSubjectBytes) {
    throw new BusgateError(
      'exceeds_broker_limit',
      `the NATS subject is ${bytes} bytes; this server accepts at most ${limits.maxSubjectBytes} (max_control_line ${limits.maxControlLineBytes}); nothing was sent`,
    );
  }
}

/** Refuses a message the server would drop the connection for; `jetstream` leaves room for its headers. */
export function checkMessage(subject: string, headers: MsgHdrs, payload: Uint8Array, limits: NatsLimits, jetstream: boolean): void {
  checkSubject(subject, limits);
  const size = encodedSize(headers) + payload.length + (jetstream ? JETSTREAM_HEADER_ROOM : 0);
  if (size > limits.maxPayloadBytes) {
    throw new BusgateError(
      'message_too_large',
      `the message with its headers is about ${size} bytes; this NATS server accepts at most ${limits.maxPayloadBytes} (max_payload); nothing was sent`,
    );
  }
}

/** A work-queue stream name busgate derives from a subject must stay a usable directory name. */
export function checkDerivedStreamName(stream: string): void {
  if (stream.length > MAX_STREAM_NAME) {
    throw new BusgateError(
      'exceeds_broker_limit',
      `the subject is too long for a work-queue stream name (${stream.length} characters, at most ${MAX_STREAM_NAME}); name a stream on the route or shorten the subject`,
    );
  }
}

/** Bytes of the header block as nats.js writes it: `NATS/1.0\r\n`, `name: value\r\n` each, `\r\n`. */
function encodedSize(headers: MsgHdrs): number {
  let size = 12;
  for (const [name, values] of headers) {
    for (const value of values) size += Buffer.byteLength(name) + Buffer.byteLength(value) + 4;
  }
  return size;
}

/**
 * Stores a message in its subscription's dead-letter destination (point-to-point on the same
 * broker) and resolves only once that broker acknowledged it. Until then it keeps trying with
 * backoff: the source message stays held and unacknowledged, so a failing dead letter can delay a
 * message but never lose it. Gives up only when the subscription stops (the message then goes
 * back to the broker and is delivered again later).
 */
import type { Logger } from 'winston';
import { backoffDelay } from '../backoff.js';
import { scopedDedupeId } from '../dedupe-id.js';
import { describeError } from '../errors.js';
import type { InboundMessage } from '../plugins/contract.js';
import type { BrokerInstance } from '../brokers/instance.js';
import { pause } from './endpoint-circuit.js';

export type DeadLetterReason = 'rejected' | 'exhausted';

export interface DeadLetterNote {
  readonly reason: DeadLetterReason;
  readonly attempts: number;
  /** The last answer: a status code, `timeout` or `connection-error`. */
  readonly lastStatus: string;
}

/** Headers a dead letter carries on top of the original ones. */
export const DEAD_LETTER_HEADERS = {
  reason: 'busgate-dead-letter-reason',
  attempts: 'busgate-attempts',
  lastStatus: 'busgate-last-status',
  subscription: 'busgate-subscription',
  source: 'busgate-source',
} as const;

type DeadLetterBroker = Pick<BrokerInstance, 'name' | 'send'>;

export class DeadLetterPublisher {
  constructor(
    private readonly broker: DeadLetterBroker,
    private readonly destination: string,
    /** The broker's route options with their defaults, as a point-to-point route would send. */
    private readonly options: Readonly<Record<string, unknown>>,
    private readonly subscription: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  async store(id: string, message: InboundMessage, note: DeadLetterNote, stop: AbortSignal): Promise<void> {
    const headers = Object.assign({}, message.headers, {
      [DEAD_LETTER_HEADERS.reason]: note.reason,
      [DEAD_LETTER_HEADERS.attempts]: String(note.attempts),
      [DEAD_LETTER_HEADERS.lastStatus]: note.lastStatus,
      [DEAD_LETTER_HEADERS.subscription]: this.subscription,
      [DEAD_LETTER_HEADERS.source]: message.destination,
    });
    for (let failures = 0; ; failures += 1) {
      try {
        await this.broker.send({
          mode: 'point-to-point',
          destination: this.destination,
          // The source message's id. A dead letter written twice (a crash between the store and
          // the source ack) is one message where the broker dedupes (JetStream msgID): on an id
          // scoped to this subscription and the source message, since `id` may be a client's
          // Idempotency-Key that another client's message carries too.
          message: {
            id,
            dedupeId: deadLetterDedupeId(this.subscription, id, message),
            payload: message.payload,
            headers,
            ...(message.contentType !== undefined ? { contentType: message.contentType } : {}),
            ...(message.key !== undefined ? { key: message.key } : {}),
          },
          timeoutMs: this.timeoutMs,
          options: this.options,
        });
        return;
      } catch (error) {
        const waitMs = backoffDelay(failures, 250, 10_000);
        this.logger.error('dead-letter store failed; the message stays held and the store is retried', {
          subscription: this.subscription,
          broker: this.broker.name,
          deadLetter: this.destination,
          retryInMs: waitMs,
          error: describeError(error),
        });
        await pause(waitMs, stop);
      }
    }
  }
}

/** The source's position (stream and seq, partition and offset) names it uniquely; else its id. */
function deadLetterDedupeId(subscription: string, id: string, message: InboundMessage): string {
  const position = message.delivery?.position;
  const where =
    position === undefined
      ? [`id=${id}`]
      : Object.keys(position)
          .sort()
          .map((name) => `${name}=${position[name]}`);
  return scopedDedupeId(['dead-letter', subscription, message.destination, ...where]);
}

/**
 * A named JetStream durable consumer (a subscription's `group`) read with bounded concurrency,
 * for egress:
 *
 * - point-to-point: the durable reads the subject's work-queue stream (a work-queue stream allows
 *   one consumer per subject, so every subscriber of the subject must use the same group);
 *   pubsub: the durable reads the stream that captures the subject (limits or interest
 *   retention), from the messages published after it was first created.
 * - it pulls only as many messages as it has free handler slots (maxInFlight), so a handler
 *   holding messages pauses consumption and the rest waits in the stream;
 * - while a handler holds a message, an in-progress ack every ackWait/3 keeps the server from
 *   handing it to another subscriber; resolve = ack, reject = nak with a short delay.
 * Several daemons with the same group pull from the one durable: the server shares the messages.
 */
import { createHash } from 'node:crypto';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from '../../core/plugins/contract.js';
import { BusgateError, describeError } from '../../core/errors.js';
import type { InboundMessage, Subscription } from '../../core/plugins/contract.js';
import { toBusgateError } from './errors.js';
import { fromNatsHeaders, ID_HEADER } from './messages.js';

const ACK_WAIT_MS = 30_000;
const KEEPALIVE_MS = ACK_WAIT_MS / 3;
const FETCH_EXPIRES_MS = 2000;
const NAK_DELAY_MS = 1000;
const RETRY_AFTER_ERROR_MS = 1000;

export interface GroupConsumerSpec {
  readonly stream: string;
  readonly subject: string;
  readonly group: string;
  readonly deliverPolicy: 'all' | 'new';
  readonly maxInFlight: number;
  readonly onMessage: (message: InboundMessage) => Promise<void>;
}

/** JetStream consumer names may not hold `.`, `*`, `>` or whitespace; others keep their group name. */
export function durableForGroup(group: string): string {
  if (/^[A-Za-z0-9_-]{1,200}$/.test(group)) return group;
  const digest = createHash('sha256').update(group).digest('hex').slice(0, 8);
  return `${group.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 120)}_${digest}`;
}

export async function startGroupConsumer(js: JetStreamClient, manager: JetStreamManager, spec: GroupConsumerSpec, logger: Logger): Promise<Subscription> {
  const durable = durableForGroup(spec.group);
  try {
    await ensureDurable(manager, spec, durable);
    const consumer = await js.consumers.get(spec.stream, durable);
    const reader = new GroupReader(consumer, spec, logger);
    reader.run();
    return reader;
  } catch (error) {
    if (error instanceof BusgateError) throw error;
    if (error instanceof JetStreamApiError) {
      throw new BusgateError(
        'broker_rejected',
        `cannot use JetStream consumer "${durable}" on stream "${spec.stream}" for "${spec.subject}": ${error.message}`,
        { cause: error },
      );
    }
    throw toBusgateError(error, 'jetstream-api', spec.subject);
  }
}

async function ensureDurable(manager: JetStreamManager, spec: GroupConsumerSpec, durable: string): Promise<void> {
  try {
    const info = await manager.consumers.info(spec.stream, durable);
    if (info.config.filter_subject !== undefined && info.config.filter_subject !== spec.subject) {
      throw new BusgateError(
        'broker_rejected',
        `JetStream consumer "${durable}" on stream "${spec.stream}" reads "${info.config.filter_subject}", not "${spec.subject}": choose another group`,
      );
    }
    // An existing durable keeps its place and its settings (an operator may have tuned them).
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)) throw error;
  }
  try {
    await manager.consumers.add(spec.stream, {
      durable_name: durable,
      filter_subject: spec.subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: spec.deliverPolicy === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
      ack_wait: nanos(ACK_WAIT_MS),
      // Room for every daemon sharing the group; each bounds itself with its pull size.
      max_ack_pending: Math.max(1000, spec.maxInFlight * 4),
    });
  } catch (error) {
    // Another daemon of the group may have created it a moment ago.
    try {
      await manager.consumers.info(spec.stream, durable);
    } catch {
      throw error;
    }
  }
}

class GroupReader implements Subscription {
  private inFlight = 0;
  private closed = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();
  private readonly settled = new Set<Promise<void>>();

  constructor(
    private readonly consumer: Consumer,
    private readonly spec: GroupConsumerSpec,
    private readonly logger: Logger,
  ) {}

  run(): void {
    this.loop = this.pullLoop();
  }

  /** Messages the durable has not delivered yet (num_pending). */
  async backlog(): Promise<number | undefined> {
    try {
      return (await this.consumer.info(true)).num_pending;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.loop;
    // Handlers still holding messages settle on their own (the caller stops them); their acks
    // or naks still reach the server while the connection lives.
    await Promise.allSettled([...this.settled]);
  }

  private async pullLoop(): Promise<void> {
    while (!this.closed) {
      const room = this.spec.maxInFlight - this.inFlight;
      // Pull in batches: a fetch per freed slot would cost a round trip per message.
      if (room <= 0 || (this.inFlight > 0 && room < Math.ceil(this.spec.maxInFlight / 4))) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        continue;
      }
      try {
        const batch = await this.consumer.fetch({ max_messages: room, expires: FETCH_EXPIRES_MS });
        for await (const msg of batch) {
          if (this.closed) {
            msg.nak();
            continue;
          }
          this.dispatch(msg);
        }
      } catch (error) {
        if (this.closed) return;
        this.logger.warn('JetStream group consumer: pull failed; trying again', {
          stream: this.spec.stream,
          subject: this.spec.subject,
          group: this.spec.group,
          error: describeError(error),
        });
        await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_ERROR_MS));
      }
    }
  }

  private dispatch(msg: JsMsg): void {
    this.inFlight += 1;
    const keepalive = setInterval(() => msg.working(), KEEPALIVE_MS);
    const done = Promise.resolve()
      .then(() => this.spec.onMessage(toInbound(msg)))
      .then(
        () => msg.ack(),
        () => msg.nak(NAK_DELAY_MS),
      )
      .catch((error: unknown) => {
        this.logger.warn('JetStream ack failed; the message will be redelivered', { subject: this.spec.subject, error: describeError(error) });
      })
      .finally(() => {
        clearInterval(keepalive);
        this.inFlight -= 1;
        this.settled.delete(done);
        this.wake?.();
      });
    this.settled.add(done);
  }
}

/** A JetStream message as handlers see it: named and positioned by its stream sequence. */
export function toInbound(msg: JsMsg): InboundMessage {
  const read = fromNatsHeaders(msg.headers);
  const id = read.headers[ID_HEADER];
  return {
    destination: msg.subject,
    payload: Buffer.from(msg.data),
    ...read,
    delivery: {
      messageId: id ?? `${msg.info.stream}-${msg.info.streamSequence}`,
      position: { stream: msg.info.stream, seq: String(msg.info.streamSequence) },
      redeliveries: Math.max(0, msg.info.deliveryCount - 1),
    },
  };
}

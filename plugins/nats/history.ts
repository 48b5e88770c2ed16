/**
 * Resume from history (streams, SubscribeOptions.from). A pubsub source with `persistent: true`
 * is read from the JetStream stream that captures its subject through an ordered consumer:
 * ephemeral, unacknowledged, strictly in stream order, and recreated by the client from the last
 * sequence it saw if it stalls, so nothing is skipped or repeated. The resume token is the stream
 * sequence of the next message to read; the start point for 'now' is read from the stream before
 * the consumer exists, so a message stored after subscribe() resolved is always included.
 * Core NATS subjects (no `persistent`) keep no history: the plugin declares none for them.
 */
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { BusgateError, describeError } from '../../core/errors.js';
import type { HistoryCapability, InboundMessage, Logger, SubscribeOptions, Subscription } from '../../core/plugins/contract.js';
import { toBusgateError } from './errors.js';
import { toInbound } from './group-consumer.js';
import type { StreamDirectory } from './stream-directory.js';

const TOKEN = /^[1-9]\d{0,15}$/;

export const natsHistory: HistoryCapability = {
  when: { persistent: true },
  position: 'the JetStream stream sequence of the next message, in decimal',
  checkToken: (token) => (TOKEN.test(token) ? undefined : 'a NATS resume position is the decimal stream sequence of the next message'),
};

export interface HistorySource {
  readonly js: JetStreamClient;
  readonly manager: JetStreamManager;
  readonly streams: StreamDirectory;
}

export async function subscribeFromHistory(
  link: HistorySource,
  subject: string,
  namedStream: string | undefined,
  from: NonNullable<SubscribeOptions['from']>,
  onMessage: (message: InboundMessage) => Promise<void>,
  logger: Logger,
): Promise<Subscription> {
  if (from !== 'now') {
    const problem = natsHistory.checkToken(from.token);
    if (problem !== undefined) throw new BusgateError('bad_resume_position', problem);
  }
  let messages: ConsumerMessages;
  let start: number;
  let stream: string;
  let gap: boolean;
  try {
    const found = namedStream ?? (await link.streams.streamFor(subject));
    if (found === undefined) {
      throw new BusgateError('broker_rejected', `no JetStream stream captures subject "${subject}": history is read from a stream; create one`);
    }
    stream = found;
    const { first_seq: first, last_seq: last } = (await link.manager.streams.info(stream)).state;
    start = from === 'now' ? last + 1 : Number(from.token);
    if (start > last + 1) throw new BusgateError('bad_resume_position', `position ${start} is ahead of stream ${stream} (last sequence ${last})`);
    // Older than the stream still keeps: the server starts at its first message; say so.
    gap = start < first;
    if (gap) start = first;
    const consumer = await link.js.consumers.get(stream, {
      // One subject as a string: nats.js sends it as filter_subject, which servers before 2.10 know.
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: start,
    });
    messages = await consumer.consume();
  } catch (error) {
    throw toBusgateError(error, 'jetstream-api', subject);
  }
  const loop = (async () => {
    try {
      for await (const msg of messages) {
        const inbound = toInbound(msg);
        try {
          await onMessage(Object.assign({}, inbound, { delivery: Object.assign({}, inbound.delivery, { resumeToken: String(msg.seq + 1) }) }));
        } catch (error) {
          // An ordered consumer has no acks to withhold: the reader decides what a failure means.
          logger.warn('history handler failed; an ordered consumer cannot redeliver', { stream, subject, error: describeError(error) });
        }
      }
    } catch (error) {
      logger.warn('history consumer stopped', { stream, subject, error: describeError(error) });
    }
  })();
  return {
    start: String(start),
    gap,
    close: async () => {
      await messages.close().catch(() => undefined);
      await loop;
    },
  };
}

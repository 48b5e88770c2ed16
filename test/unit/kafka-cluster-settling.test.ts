/**
 * The Kafka plugin's two cluster helpers without a broker: an unknown-topic answer about a topic
 * busgate saw a moment ago is retried (lagging metadata, settling-topics.ts), and a consumer
 * crash while the group coordinator moves does not fail a subscribe (coordinator-moves.ts). The
 * errors are shaped like kafkajs's (type on a KafkaJSProtocolError, wrapped in a retry error).
 */
import { expect } from 'chai';
import { BusgateError } from '../../core/errors.js';
import { crashFailsJoin, isCoordinatorMoving } from '../../plugins/kafka/coordinator-moves.js';
import { SETTLING_MS, SettlingTopics } from '../../plugins/kafka/settling-topics.js';

function protocolError(type: string): Error {
  return Object.assign(new Error(`protocol error ${type}`), { name: 'KafkaJSProtocolError', type });
}

/** How kafkajs hands a retriable error over once its retries are spent. */
function retriesExceeded(cause: Error): Error {
  return new Error(cause.message, { cause });
}

describe('kafka plugin: settling topics (new topics whose metadata is still spreading)', () => {
  it('sends again while a topic seen a moment ago is unknown to the broker asked, until it is known', async () => {
    const settling = new SettlingTopics();
    settling.seen('orders');
    let attempts = 0;
    const receipt = await settling.retry('orders', AbortSignal.timeout(5000), () => {
      attempts += 1;
      return attempts < 3 ? Promise.reject(retriesExceeded(protocolError('UNKNOWN_TOPIC_OR_PARTITION'))) : Promise.resolve('stored');
    });
    expect(receipt).to.equal('stored');
    expect(attempts).to.equal(3);
  });

  it('answers a retryable 503 (not "topic does not exist") when the deadline passes first', async () => {
    const settling = new SettlingTopics();
    settling.seen('orders');
    const failure = await settling
      .retry('orders', AbortSignal.timeout(300), () => Promise.reject(protocolError('UNKNOWN_TOPIC_OR_PARTITION')))
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).to.be.instanceOf(BusgateError);
    expect((failure as BusgateError).code).to.equal('broker_unavailable');
    expect((failure as BusgateError).retryable).to.equal(true);
  });

  it('passes on at once an unknown topic busgate never saw, and other errors', async () => {
    const settling = new SettlingTopics();
    const unknown = protocolError('UNKNOWN_TOPIC_OR_PARTITION');
    let attempts = 0;
    const failure = await settling
      .retry('never-seen', AbortSignal.timeout(5000), () => {
        attempts += 1;
        return Promise.reject(unknown);
      })
      .catch((error: unknown) => error);
    expect(failure).to.equal(unknown);
    expect(attempts).to.equal(1);
    settling.seen('orders');
    const other = protocolError('MESSAGE_TOO_LARGE');
    expect(await settling.retry('orders', AbortSignal.timeout(5000), () => Promise.reject(other)).catch((error: unknown) => error)).to.equal(other);
  });

  it('stops counting a topic as settling once the window has passed', () => {
    let now = 1_000_000;
    const settling = new SettlingTopics(() => now);
    settling.seen('orders');
    expect(settling.isSettling('orders')).to.equal(true);
    now += SETTLING_MS + 1;
    expect(settling.isSettling('orders')).to.equal(false);
  });
});

describe('kafka plugin: a group coordinator that moves during a subscribe', () => {
  it('keeps waiting on a crash kafkajs restarts from after the coordinator moved or is loading', () => {
    for (const type of ['GROUP_LOAD_IN_PROGRESS', 'GROUP_COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP']) {
      const error = retriesExceeded(protocolError(type));
      expect(isCoordinatorMoving(error), type).to.equal(true);
      expect(crashFailsJoin({ error, restart: true }), type).to.equal(false);
      // kafkajs gave up for good: the subscribe fails as before.
      expect(crashFailsJoin({ error, restart: false }), type).to.equal(true);
    }
  });

  it('fails the subscribe on any other crash', () => {
    expect(crashFailsJoin({ error: protocolError('TOPIC_AUTHORIZATION_FAILED'), restart: false })).to.equal(true);
    expect(crashFailsJoin({ error: new Error('Connection error: connect ECONNREFUSED'), restart: true })).to.equal(true);
  });
});

/**
 * Credentials never appear in logs, /ready or error bodies. A daemon is given broker URLs with
 * passwords (brokers that are not there, so every connection attempt fails and is logged) and API
 * keys; requests with good and bad keys are sent; then everything it said is scanned.
 */
import { Writable } from 'node:stream';
import { expect } from 'chai';
import winston from 'winston';
import { createLogger } from '../../core/observability/logger.js';
import { startTestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';

const SECRETS = ['nats-pass-8d1f3b', 'amqp-pass-77c2e0', 'kafka-sasl-pass-19ab', 'client-key-0123456789abcdef'];

class Capture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, next: () => void): void {
    this.lines.push(chunk.toString());
    next();
  }
}

describe('secrets stay secret', function () {
  this.timeout(20_000);

  it('no credential in any log line, /ready, /metrics or error body', async () => {
    const capture = new Capture();
    const base = createLogger({ level: 'debug', format: 'json', silent: true });
    // The daemon's own format (masking included), written somewhere the test can read.
    const logger = winston.createLogger({ level: 'debug', format: base.format, transports: [new winston.transports.Stream({ stream: capture })] });
    const daemon = await startTestDaemon({
      routes: `routes:
  - path: /n
    broker: nats
    mode: pubsub
    destination: n
  - path: /r
    broker: rabbitmq
    mode: point-to-point
    destination: r
  - path: /k
    broker: kafka
    mode: pubsub
    destination: k
`,
      brokers: {
        nats: { plugin: 'nats', options: { url: `nats://user:${SECRETS[0]}@127.0.0.1:1` } },
        rabbitmq: { plugin: 'rabbitmq', options: { url: `amqp://guest:${SECRETS[1]}@127.0.0.1:1` } },
        kafka: { plugin: 'kafka', options: { brokers: ['127.0.0.1:1'], sasl: { mechanism: 'plain', username: 'u', password: SECRETS[2] } } },
      },
      overrides: { apiKeys: new Map([['client', SECRETS[3]!]]) },
      connectWaitMs: 1500,
      logger,
    });
    const said: string[] = [];
    try {
      for (const path of ['/n', '/r', '/k']) {
        for (const headers of [{}, { authorization: `Bearer ${SECRETS[3]}` }, { authorization: 'Bearer wrong-key-xxxxxxxxxxxxxxxx' }] as Record<
          string,
          string
        >[]) {
          const res = await daemon.post(path, 'x', headers);
          said.push(await res.text());
        }
      }
      said.push(await (await fetch(`${daemon.url}/ready`)).text());
      said.push(await (await fetch(`${daemon.url}/metrics`)).text());
      await sleep(1500); // a few reconnect attempts get logged
    } finally {
      await daemon.shutdown('done');
    }
    expect(capture.lines.length, 'the daemon logged something').to.be.greaterThan(3);
    const everything = [...capture.lines, ...said].join('\n');
    for (const secret of SECRETS) expect(everything, secret).to.not.include(secret);
  });
});

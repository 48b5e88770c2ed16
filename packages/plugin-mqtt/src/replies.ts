/**
 * Request-reply, requester side: one reply topic per plugin instance (MQTT 5 Response Topic), and
 * the requests waiting on it, told apart by their Correlation Data.
 */
import { randomBytes } from 'node:crypto';
import { abortReason, BusgateError, type Reply } from 'busgate';
import type { IPublishPacket } from 'mqtt';
import { replyOf } from './messages.js';

interface Waiting {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

export class ReplyInbox {
  private readonly waiting = new Map<string, Waiting>();

  /** A topic only this instance subscribes to; the random part keeps replicas apart. */
  constructor(
    readonly topic: string = `busgate/replies/${randomBytes(9)
      .toString('base64url')
      .replace(/[^A-Za-z0-9]/g, 'x')}`,
  ) {}

  /** Registers a request before it is published, so that even an instant reply finds it. */
  expect(signal: AbortSignal): { correlationData: Buffer; reply: Promise<Reply>; cancel(): void } {
    const correlationData = randomBytes(16);
    const key = correlationData.toString('hex');
    let cancel = (): void => undefined;
    const reply = new Promise<Reply>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiting.delete(key);
        reject(abortReason(signal, () => new BusgateError('reply_timeout', 'the wait for the reply was aborted')));
      };
      cancel = () => {
        this.waiting.delete(key);
        signal.removeEventListener('abort', onAbort);
      };
      this.waiting.set(key, {
        resolve: (value) => {
          cancel();
          resolve(value);
        },
        reject: (error) => {
          cancel();
          reject(error);
        },
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    // A request that fails before publishing never reads its reply promise.
    reply.catch(() => undefined);
    return { correlationData, reply, cancel };
  }

  /** A message on the reply topic; one without a waiting request (late, or foreign) is dropped. */
  deliver(packet: IPublishPacket): void {
    const correlation = packet.properties?.correlationData;
    if (correlation === undefined) return;
    this.waiting.get(Buffer.from(correlation).toString('hex'))?.resolve(replyOf(packet));
  }

  failAll(error: Error): void {
    for (const waiting of [...this.waiting.values()]) waiting.reject(error);
  }
}

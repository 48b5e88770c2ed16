/**
 * An in-process broker with the semantics of the real ones, so that the daemon, the demo and the
 * conformance suite exercise every mode without an external service:
 *   topics     every live subscriber gets each message (nothing is kept for later subscribers)
 *   queues     each message goes to exactly one consumer, and waits (up to a bound) until one exists;
 *              all queues together hold at most maxQueuedBytes, and a queue with no message and no
 *              consumer is forgotten, so clients sending to ever new destinations (a templated
 *              point-to-point route) cannot grow the daemon's memory without end
 *   responders request-reply, round-robin among the responders of a destination
 */
import { BusgateError } from '../../core/errors.js';
import type { InboundMessage, Reply } from '../../core/plugins/contract.js';

type Handler = (message: InboundMessage) => Promise<void>;
type Responder = (message: InboundMessage) => Promise<Reply>;

interface Consumer {
  readonly handler: Handler;
  /** Messages handed to it and not settled yet; at most `capacity`. */
  busy: number;
  readonly capacity: number;
}

interface Queue {
  readonly destination: string;
  readonly messages: InboundMessage[];
  readonly consumers: Consumer[];
  next: number;
}

export class MemoryBus {
  private readonly topics = new Map<string, Set<Handler>>();
  private readonly queues = new Map<string, Queue>();
  private readonly responders = new Map<string, { list: Responder[]; next: number }>();
  private queuedBytes = 0;

  constructor(
    private readonly queueLimit: number,
    private readonly onHandlerError: (error: unknown, destination: string) => void,
    private readonly maxQueuedBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Returns how many subscribers the message was handed to. */
  publish(message: InboundMessage): number {
    const subscribers = this.topics.get(message.destination);
    if (!subscribers) return 0;
    for (const handler of subscribers) {
      // Each subscriber runs on its own turn, as it would on a real broker connection.
      setImmediate(() => void handler(message).catch((error: unknown) => this.onHandlerError(error, message.destination)));
    }
    return subscribers.size;
  }

  /** Returns the queue depth after the message was added. */
  enqueue(message: InboundMessage): number {
    const bytes = sizeOf(message);
    if (this.queuedBytes + bytes > this.maxQueuedBytes) {
      throw new BusgateError(
        'overloaded',
        `the embedded broker's queues hold ${this.queuedBytes} bytes; ${this.maxQueuedBytes} is its limit (maxQueuedBytes)`,
        {
          retryAfterSeconds: 1,
        },
      );
    }
    const queue = this.queue(message.destination);
    if (queue.messages.length >= this.queueLimit) {
      throw new BusgateError('overloaded', `queue "${message.destination}" holds ${this.queueLimit} messages, its limit`, { retryAfterSeconds: 1 });
    }
    queue.messages.push(message);
    this.queuedBytes += bytes;
    const depth = queue.messages.length;
    this.dispatch(queue);
    return depth;
  }

  async request(message: InboundMessage, signal: AbortSignal): Promise<Reply> {
    const entry = this.responders.get(message.destination);
    if (!entry || entry.list.length === 0) {
      throw new BusgateError('no_responders', `no responder listens on "${message.destination}"`);
    }
    const responder = entry.list[entry.next++ % entry.list.length]!;
    return await new Promise<Reply>((resolve, reject) => {
      const onAbort = (): void => reject(new BusgateError('reply_timeout', `no reply from "${message.destination}" in time`));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      responder(message).then(
        (reply) => {
          signal.removeEventListener('abort', onAbort);
          resolve(reply);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          this.onHandlerError(error, message.destination);
          reject(new BusgateError('broker_rejected', `the responder on "${message.destination}" failed`));
        },
      );
    });
  }

  subscribe(destination: string, handler: Handler): () => void {
    let subscribers = this.topics.get(destination);
    if (!subscribers) this.topics.set(destination, (subscribers = new Set()));
    // Wrap so that the same function subscribed twice counts as two subscribers.
    const own: Handler = (message) => handler(message);
    subscribers.add(own);
    return () => {
      subscribers.delete(own);
      if (subscribers.size === 0) this.topics.delete(destination);
    };
  }

  /** `capacity`: messages one consumer holds unsettled at once (a prefetch). */
  consume(destination: string, handler: Handler, capacity = 1): () => void {
    const queue = this.queue(destination);
    const consumer: Consumer = { handler, busy: 0, capacity: Math.max(1, capacity) };
    queue.consumers.push(consumer);
    this.dispatch(queue);
    return () => {
      const index = queue.consumers.indexOf(consumer);
      if (index >= 0) queue.consumers.splice(index, 1);
      this.forgetIfIdle(queue);
    };
  }

  respond(destination: string, responder: Responder): () => void {
    let entry = this.responders.get(destination);
    if (!entry) this.responders.set(destination, (entry = { list: [], next: 0 }));
    const own: Responder = (message) => responder(message);
    entry.list.push(own);
    return () => {
      const index = entry.list.indexOf(own);
      if (index >= 0) entry.list.splice(index, 1);
    };
  }

  responderCount(destination: string): number {
    return this.responders.get(destination)?.list.length ?? 0;
  }

  depth(destination: string): number {
    return this.queues.get(destination)?.messages.length ?? 0;
  }

  /** Queues kept now (each holds a message or has a consumer), and the bytes they hold. */
  usage(): { readonly queues: number; readonly bytes: number } {
    return { queues: this.queues.size, bytes: this.queuedBytes };
  }

  private queue(destination: string): Queue {
    let queue = this.queues.get(destination);
    if (!queue) this.queues.set(destination, (queue = { destination, messages: [], consumers: [], next: 0 }));
    return queue;
  }

  private forgetIfIdle(queue: Queue): void {
    if (queue.messages.length === 0 && queue.consumers.length === 0 && this.queues.get(queue.destination) === queue) this.queues.delete(queue.destination);
  }

  /** Hands queued messages to consumers with room, up to each one's capacity (a prefetch). */
  private dispatch(queue: Queue): void {
    while (queue.messages.length > 0) {
      const consumer = this.idleConsumer(queue);
      if (!consumer) return;
      const message = queue.messages.shift()!;
      this.queuedBytes -= sizeOf(message);
      consumer.busy += 1;
      setImmediate(() => {
        consumer.handler(message).then(
          () => {
            consumer.busy -= 1;
            this.dispatch(queue);
          },
          (error: unknown) => {
            // Not acknowledged: the message goes back to the head of the queue for another try.
            // Into the queue kept now: this one may have been forgotten if its last consumer left.
            this.onHandlerError(error, message.destination);
            const live = this.queue(queue.destination);
            live.messages.unshift(message);
            this.queuedBytes += sizeOf(message);
            consumer.busy -= 1;
            this.dispatch(live);
          },
        );
      });
    }
  }

  private idleConsumer(queue: Queue): Consumer | undefined {
    for (let tried = 0; tried < queue.consumers.length; tried += 1) {
      const consumer = queue.consumers[queue.next++ % queue.consumers.length]!;
      if (consumer.busy < consumer.capacity) return consumer;
    }
    return undefined;
  }
}

/** What a queued message costs, as the limit counts it: payload, content type and headers. */
function sizeOf(message: InboundMessage): number {
  let size = message.payload.length + (message.contentType?.length ?? 0);
  for (const name in message.headers) size += name.length + message.headers[name]!.length;
  return size;
}

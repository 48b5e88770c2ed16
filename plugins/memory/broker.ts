/**
 * The embedded broker plugin object: no external service, real semantics (see bus.ts). One bus per
 * broker instance, living as long as the daemon; messages are not persisted across restarts.
 */
import { BusgateError } from '../../core/errors.js';
import { MESSAGE_ID_HEADER, pluginClosed } from '../../core/brokers/kit.js';
import type {
  BrokerHealth,
  BrokerPlugin,
  InboundMessage,
  Mode,
  OutboundMessage,
  PreflightResult,
  Receipt,
  Reply,
  SendContext,
  SubscribeOptions,
  Subscription,
} from '../../core/plugins/contract.js';
import { MemoryBus } from './bus.js';
import { checkOutbound, DEFAULT_MAX_MESSAGE_BYTES, memoryLimits, type MemoryLimits } from './limits.js';
import type { MemoryOptions } from './options.js';

function inbound(destination: string, message: OutboundMessage): InboundMessage {
  return {
    destination,
    payload: message.payload,
    // Object.assign, not a spread followed by a field: that costs about 1 µs more on node 20.
    headers: Object.assign({}, message.headers, { [MESSAGE_ID_HEADER]: message.id }),
    ...(message.contentType === undefined ? {} : { contentType: message.contentType }),
    ...(message.key === undefined ? {} : { key: message.key }),
  };
}

function echo(message: InboundMessage): Promise<Reply> {
  return Promise.resolve({
    payload: message.payload,
    headers: { 'x-echoed-by': 'busgate-memory' },
    contentType: message.contentType ?? 'application/octet-stream',
  });
}

/** The id busgate gave the message on the way in; the memory broker has no positions. */
function withDelivery(message: InboundMessage): InboundMessage {
  const id = message.headers[MESSAGE_ID_HEADER];
  return id === undefined ? message : Object.assign({}, message, { delivery: { messageId: id } });
}

export class MemoryBroker implements BrokerPlugin {
  private readonly bus: MemoryBus;
  private closed = false;
  private readonly limits: MemoryLimits;

  constructor(
    private readonly options: MemoryOptions,
    onHandlerError: (error: unknown, destination: string) => void,
  ) {
    this.limits = memoryLimits(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    this.bus = new MemoryBus(options.queueLimit, onHandlerError, options.maxQueuedBytes);
    for (const destination of options.echoResponders) this.bus.respond(destination, echo);
  }

  connect(): Promise<void> {
    if (this.options.unavailable) return Promise.reject(new Error('this memory broker is configured as unavailable'));
    return Promise.resolve();
  }

  publish(destination: string, message: OutboundMessage): Promise<Receipt> {
    this.assertOpen();
    checkOutbound(destination, message, this.limits);
    const subscribers = this.bus.publish(inbound(destination, message));
    return Promise.resolve({ id: message.id, subscribers });
  }

  enqueue(destination: string, message: OutboundMessage): Promise<Receipt> {
    this.assertOpen();
    checkOutbound(destination, message, this.limits);
    const depth = this.bus.enqueue(inbound(destination, message));
    return Promise.resolve({ id: message.id, queue: destination, depth });
  }

  request(destination: string, message: OutboundMessage, context: SendContext): Promise<Reply> {
    this.assertOpen();
    checkOutbound(destination, message, this.limits);
    return this.bus.request(inbound(destination, message), context.signal);
  }

  subscribe(destination: string, options: SubscribeOptions, onMessage: (m: InboundMessage) => Promise<void>): Promise<Subscription> {
    this.assertOpen();
    const handler = (message: InboundMessage): Promise<void> => onMessage(withDelivery(message));
    if (options.mode === 'pubsub') {
      const stop = this.bus.subscribe(destination, handler);
      // A topic keeps nothing: what a subscriber has not taken is not waiting anywhere.
      return Promise.resolve({ close: () => Promise.resolve(stop()), backlog: () => Promise.resolve(0) });
    }
    const stop = this.bus.consume(destination, handler, options.maxInFlight);
    return Promise.resolve({ close: () => Promise.resolve(stop()), backlog: () => Promise.resolve(this.bus.depth(destination)) });
  }

  respond(destination: string, onRequest: (m: InboundMessage) => Promise<Reply>): Promise<Subscription> {
    this.assertOpen();
    const stop = this.bus.respond(destination, onRequest);
    return Promise.resolve({ close: () => Promise.resolve(stop()) });
  }

  preflight(mode: Mode, destination: string): Promise<PreflightResult> {
    if (mode !== 'request-reply') return Promise.resolve({ ok: true, detail: 'embedded: destinations need no set-up' });
    const responders = this.bus.responderCount(destination);
    return Promise.resolve(responders > 0 ? { ok: true, detail: `${responders} responder(s)` } : { ok: false, detail: 'no responder listens here' });
  }

  health(): BrokerHealth {
    if (this.closed) return { up: false, detail: 'closed' };
    if (this.options.unavailable) return { up: false, detail: 'configured as unavailable' };
    return { up: true, detail: 'embedded', limits: { ...this.limits } };
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private assertOpen(): void {
    if (this.closed) throw pluginClosed('memory');
    if (this.options.unavailable) throw new BusgateError('broker_unavailable', 'the embedded broker is not available');
  }
}

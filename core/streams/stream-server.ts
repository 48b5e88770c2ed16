/**
 * Live streams over Server-Sent Events: GET on a stream path with `Accept: text/event-stream`.
 *
 * Everything that can refuse a request (path, method, Accept, API key and `clients:`, the
 * concurrency limits, the broker being connected) is decided before the response is committed
 * and before anything is subscribed, so a refusal is a JSON error that leaves no consumer behind.
 * Each accepted request gets its own live pubsub subscription (no group): it sees every message
 * published after it connected, and the subscription is closed however the client leaves.
 * A client that does not read is disconnected once its unread bytes pass maxBufferedBytes, so
 * no client makes busgate buffer without bound.
 */
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'winston';
import type { BrokerInstance } from '../brokers/instance.js';
import { BusgateError, describeError, isBusgateError } from '../errors.js';
import { CHALLENGE, type Authenticator } from '../http/auth.js';
import { encodeBody } from '../http/message-body.js';
import { sendError } from '../http/send-error.js';
import type { InboundMessage, Subscription } from '../plugins/contract.js';
import { STREAM_LIMITS, type StreamLimits, type StreamSpec } from './model.js';

export interface StreamServerDependencies {
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  /** The streams in force now (a reload changes them). */
  readonly streams: () => readonly StreamSpec[];
  readonly limits?: Partial<StreamLimits>;
}

/** Why busgate ended a stream, sent as the last event (`event: close`). */
export type CloseReason = 'slow_client' | 'shutting_down' | 'subscribe_failed';

/** One SSE event for a message: `id:` is the message id, `data:` the message as JSON. */
export function messageEvent(message: InboundMessage, fallbackId: string): string {
  const id = (message.delivery?.messageId ?? message.headers['busgate-id'] ?? fallbackId).replace(/[\r\n]/g, '');
  const data = JSON.stringify({
    id,
    contentType: message.contentType ?? null,
    headers: message.headers,
    key: message.key ?? null,
    position: message.delivery?.position ?? null,
    ...encodeBody(message.payload),
  });
  return `id: ${id}\nevent: message\ndata: ${data}\n\n`;
}

export class StreamServer {
  private readonly limits: StreamLimits;
  private readonly open = new Set<OpenStream>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly deps: StreamServerDependencies) {
    this.limits = { ...STREAM_LIMITS, ...deps.limits };
  }

  /** Streams connected now. */
  get openStreams(): number {
    return this.open.size;
  }

  /** express middleware: serves stream paths, passes everything else on. */
  readonly handle = (req: Request, res: Response, next: NextFunction): void => {
    const spec = this.deps.streams().find((stream) => stream.path === req.path);
    if (spec === undefined) return next();
    let admitted: Admitted;
    try {
      admitted = this.admit(req, spec);
    } catch (error) {
      const code = isBusgateError(error) ? error.code : undefined;
      sendError(res, error, this.deps.logger, code === 'unauthorized' ? CHALLENGE : code === 'method_not_allowed' ? { Allow: 'GET' } : {});
      return;
    }
    void this.serve(res, admitted);
  };

  /** Ends every stream (daemon shutdown); their subscriptions close as the responses end. */
  stop(): void {
    for (const stream of this.open) stream.end('shutting_down', 'the daemon is shutting down');
  }

  private admit(req: Request, spec: StreamSpec): Admitted {
    if (req.method !== 'GET') {
      throw new BusgateError('method_not_allowed', `${req.method.slice(0, 16)} is not allowed on a stream; use GET`);
    }
    if (!String(req.headers.accept ?? '').includes('text/event-stream')) {
      throw new BusgateError('not_acceptable', 'a stream answers Accept: text/event-stream');
    }
    const client = this.deps.authenticator.admit(req.headers, spec.clients);
    if (typeof client !== 'string') throw client;
    if (this.open.size >= this.limits.maxStreams) {
      throw new BusgateError('too_many_streams', `this instance already serves ${this.limits.maxStreams} streams`, { retryAfterSeconds: 5 });
    }
    if ((this.perClient.get(client) ?? 0) >= this.limits.maxStreamsPerClient) {
      throw new BusgateError('too_many_streams', `this client already has ${this.limits.maxStreamsPerClient} streams open on this instance`, {
        retryAfterSeconds: 5,
      });
    }
    const broker = this.deps.brokers.get(spec.broker);
    if (!broker?.isConnected) throw new BusgateError('broker_unavailable', `broker "${spec.broker}" is not connected`, { retryAfterSeconds: 1 });
    return { spec, broker, client };
  }

  private async serve(res: Response, { spec, broker, client }: Admitted): Promise<void> {
    const stream = new OpenStream(res, this.limits, this.deps.logger, spec.path);
    this.open.add(stream);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    res.once('close', () => {
      this.open.delete(stream);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left === 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
      stream.closed();
    });
    res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    res.write(`: live stream of ${spec.broker} ${spec.source}\nretry: 2000\n\n`);
    try {
      const subscription = await broker.subscribe(spec.source, { mode: 'pubsub', options: spec.options }, (message) => {
        stream.send(messageEvent(message, randomUUID()));
        return Promise.resolve();
      });
      stream.attach(subscription);
    } catch (error) {
      this.deps.logger.warn('stream could not subscribe', { path: spec.path, broker: spec.broker, error: describeError(error) });
      stream.end('subscribe_failed', isBusgateError(error) ? error.message : 'the stream could not subscribe');
    }
  }
}

interface Admitted {
  readonly spec: StreamSpec;
  readonly broker: BrokerInstance;
  /** "" when no API keys are configured. */
  readonly client: string;
}

/** One connected client: its response, its subscription, its heartbeat. */
class OpenStream {
  private subscription: Subscription | undefined;
  private gone = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: Response,
    private readonly limits: StreamLimits,
    private readonly logger: Logger,
    private readonly path: string,
  ) {
    this.heartbeat = setInterval(() => this.send(': heartbeat\n\n'), limits.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Writes an event, or ends the stream when the client has left too much unread. */
  send(event: string): void {
    if (this.gone) return;
    if (this.res.writableLength > this.limits.maxBufferedBytes) {
      this.end('slow_client', `more than ${this.limits.maxBufferedBytes} bytes unread; reconnect and read faster`);
      return;
    }
    this.res.write(event);
  }

  /** The subscription is live; closes it at once if the client already left. */
  attach(subscription: Subscription): void {
    this.subscription = subscription;
    if (this.gone) this.closeSubscription();
  }

  end(reason: CloseReason, message: string): void {
    if (this.gone) return;
    this.gone = true;
    if (reason === 'slow_client') this.logger.warn('stream client too slow; disconnected', { path: this.path, unreadBytes: this.res.writableLength });
    this.res.end(`event: close\ndata: ${JSON.stringify({ reason, message })}\n\n`);
    // A client that reads nothing would keep the ended response (and its buffer) forever.
    setTimeout(() => this.res.destroy(), 1000).unref();
    this.closeSubscription();
  }

  /** The response is closed (either side). */
  closed(): void {
    this.gone = true;
    clearInterval(this.heartbeat);
    this.closeSubscription();
  }

  private closeSubscription(): void {
    const subscription = this.subscription;
    this.subscription = undefined;
    subscription?.close().catch((error: unknown) => this.logger.warn('closing a stream subscription failed', { path: this.path, error: describeError(error) }));
  }
}

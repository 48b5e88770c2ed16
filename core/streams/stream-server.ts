/**
 * Streams: GET on a stream path serves the source's messages as Server-Sent Events (`Accept:
 * text/event-stream`) or, on the same path, over a WebSocket. Both carry the same events.
 *
 * Everything that can refuse a request (path, method, Accept, API key and `clients:`, the
 * concurrency limits, the broker being connected, the resume position) is decided before the
 * response is committed (before the WebSocket upgrade) and before anything is subscribed, so a
 * refusal is a JSON error that leaves no consumer behind. Each accepted client gets its own
 * private pubsub subscription, closed however the client leaves. Where the broker keeps history
 * (declared by the plugin as `egress.history`) the subscription reads it from a position, every
 * event's id is the token to resume after it, and a reconnecting client sends it back
 * (Last-Event-ID, or `from=`) to continue without a gap or a repeat. A client that does not read
 * is disconnected once its unread bytes pass maxBufferedBytes, so no client makes busgate buffer
 * without bound.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'winston';
import { WebSocketServer } from 'ws';
import type { BrokerInstance } from '../brokers/instance.js';
import { BusgateError, describeError, isBusgateError } from '../errors.js';
import { CHALLENGE, type Authenticator } from '../http/auth.js';
import { encodeBody } from '../http/message-body.js';
import { sendError } from '../http/send-error.js';
import type { Metrics } from '../observability/metrics.js';
import type { InboundMessage, SubscribeOptions, Subscription } from '../plugins/contract.js';
import { STREAM_LIMITS, type CloseReason, type DisconnectReason, type StreamLimits, type StreamSpec, type StreamTransport } from './model.js';
import { SseSink, WebSocketSink, type StreamSink } from './sinks.js';

export interface StreamServerDependencies {
  readonly brokers: ReadonlyMap<string, BrokerInstance>;
  readonly logger: Logger;
  readonly authenticator: Authenticator;
  readonly metrics: Pick<Metrics, 'streamClients' | 'streamEvents' | 'streamDisconnects'>;
  /** The streams in force now (a reload changes them). */
  readonly streams: () => readonly StreamSpec[];
  readonly limits?: Partial<StreamLimits>;
}

/** The data of one message event (SSE `data:`, or a WebSocket text frame with `type: "message"`). */
export function messageData(message: InboundMessage, fallbackId: string): Record<string, unknown> {
  return {
    id: message.delivery?.messageId ?? message.headers['busgate-id'] ?? fallbackId,
    contentType: message.contentType ?? null,
    headers: message.headers,
    key: message.key ?? null,
    position: message.delivery?.position ?? null,
    resume: message.delivery?.resumeToken ?? null,
    ...encodeBody(message.payload),
  };
}

export class StreamServer {
  private readonly limits: StreamLimits;
  private readonly open = new Set<OpenStream>();
  private readonly perClient = new Map<string, number>();
  /** Set at shutdown: upgrades bypass the HTTP drain, so new streams are refused here. */
  private stopped = false;
  // noServer: the daemon hands over upgrade requests only after they were admitted.
  private readonly sockets = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });

  constructor(private readonly deps: StreamServerDependencies) {
    this.limits = { ...STREAM_LIMITS, ...deps.limits };
  }

  /** Streams connected now. */
  get openStreams(): number {
    return this.open.size;
  }

  /** The streams in service (the same array until a reload changes them). */
  configured(): readonly StreamSpec[] {
    return this.deps.streams();
  }

  /** The configured streams with their connected clients, for the console. */
  views(): StreamView[] {
    const connected = new Map<string, number>();
    for (const stream of this.open) connected.set(stream.path, (connected.get(stream.path) ?? 0) + 1);
    return this.deps.streams().map((spec) => {
      const history = this.deps.brokers.get(spec.broker)?.history;
      return {
        path: spec.path,
        broker: spec.broker,
        source: spec.source,
        clients: spec.clients ?? null,
        history: history !== undefined && keepsHistory(spec, history.when),
        connected: connected.get(spec.path) ?? 0,
      };
    });
  }

  /** express middleware: serves stream paths over SSE, passes everything else on. */
  readonly handle = (req: Request, res: Response, next: NextFunction): void => {
    const spec = this.deps.streams().find((stream) => stream.path === req.path);
    if (spec === undefined) return next();
    let admitted: Admitted;
    try {
      admitted = this.admit(req, spec, 'sse');
    } catch (error) {
      sendError(res, error, this.deps.logger, refusalHeaders(error));
      return;
    }
    void this.serve(new SseSink(res, `stream of ${spec.broker} ${spec.source}`), admitted);
  };

  /** The HTTP server's `upgrade` listener: a WebSocket on a stream path, else a JSON refusal. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const path = pathOf(req);
    const spec = this.deps.streams().find((stream) => stream.path === path);
    let admitted: Admitted;
    try {
      if (spec === undefined) throw new BusgateError('not_found', 'only stream paths accept a WebSocket');
      admitted = this.admit(req, spec, 'websocket');
    } catch (error) {
      refuseUpgrade(req, socket, error, this.deps.logger);
      return;
    }
    this.sockets.handleUpgrade(req, socket, head, (ws) => void this.serve(new WebSocketSink(ws), admitted));
  };

  /** Ends every stream (daemon shutdown); their subscriptions close as the connections end. */
  stop(): void {
    this.stopped = true;
    for (const stream of this.open) stream.end('shutting_down', 'the daemon is shutting down');
  }

  private admit(req: IncomingMessage, spec: StreamSpec, transport: StreamTransport): Admitted {
    if (req.method !== 'GET') {
      throw new BusgateError('method_not_allowed', `${(req.method ?? '').slice(0, 16)} is not allowed on a stream; use GET`);
    }
    if (transport === 'sse' && !String(req.headers.accept ?? '').includes('text/event-stream')) {
      throw new BusgateError('not_acceptable', 'a stream answers Accept: text/event-stream, or a WebSocket upgrade');
    }
    const client = this.deps.authenticator.admit(req.headers, spec.clients);
    if (typeof client !== 'string') throw client;
    if (this.stopped) throw new BusgateError('shutting_down', 'the daemon is shutting down; connect to another instance', { retryAfterSeconds: 1 });
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
    return { spec, broker, client, ...resumeOf(req, spec, broker) };
  }

  private async serve(sink: StreamSink, admitted: Admitted): Promise<void> {
    const { spec, broker, client } = admitted;
    const labels = { stream: spec.path, transport: sink.transport };
    const stream = new OpenStream(sink, this.limits, this.deps.logger, spec.path, () => this.deps.metrics.streamEvents.inc(labels));
    this.open.add(stream);
    this.perClient.set(client, (this.perClient.get(client) ?? 0) + 1);
    this.deps.metrics.streamClients.inc(labels);
    sink.onGone(() => {
      this.open.delete(stream);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left === 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
      this.deps.metrics.streamClients.dec(labels);
      this.deps.metrics.streamDisconnects.inc({ stream: spec.path, reason: stream.closed() });
    });
    const options: SubscribeOptions = { mode: 'pubsub', options: spec.options, ...(admitted.from !== undefined ? { from: admitted.from } : {}) };
    try {
      const subscription = await broker.subscribe(spec.source, options, (message) => {
        stream.message(message);
        return Promise.resolve();
      });
      stream.attach(subscription, {
        history: admitted.from !== undefined,
        position: subscription.start ?? null,
        resumed: typeof admitted.from === 'object',
        ...(subscription.gap ? { gap: true, note: 'the broker no longer keeps the position asked for: this stream starts at the oldest message it has' } : {}),
        ...(admitted.ignoredResume ? { note: 'this stream is live only (the broker keeps no history): Last-Event-ID was ignored' } : {}),
      });
    } catch (error) {
      this.deps.logger.warn('stream could not subscribe', { path: spec.path, broker: spec.broker, error: describeError(error) });
      stream.end('subscribe_failed', isBusgateError(error) ? error.message : 'the stream could not subscribe');
    }
  }
}

export interface StreamView {
  readonly path: string;
  readonly broker: string;
  readonly source: string;
  readonly clients: readonly string[] | null;
  /** The broker keeps history for this source: clients can resume. */
  readonly history: boolean;
  readonly connected: number;
}

function keepsHistory(spec: StreamSpec, when: Readonly<Record<string, unknown>>): boolean {
  return Object.entries(when).every(([name, value]) => spec.options[name] === value);
}

interface Admitted {
  readonly spec: StreamSpec;
  readonly broker: BrokerInstance;
  /** "" when no API keys are configured. */
  readonly client: string;
  /** Set where the broker keeps history for this source: 'now', or the position to resume from. */
  readonly from?: NonNullable<SubscribeOptions['from']>;
  /** A live-only stream got a Last-Event-ID (a reconnecting EventSource): served live, and told so. */
  readonly ignoredResume?: boolean;
}

/**
 * What the client asked to resume from (`from=` wins over Last-Event-ID) and what the broker can
 * do for this source. An explicit `from=` on a live-only stream is refused; a Last-Event-ID is
 * not, because EventSource sends one on every reconnect and gives up for good on an error status.
 */
function resumeOf(req: IncomingMessage, spec: StreamSpec, broker: BrokerInstance): Pick<Admitted, 'from' | 'ignoredResume'> {
  const query = new URL(req.url ?? '/', 'http://stream').searchParams.get('from');
  const header = req.headers['last-event-id'];
  const asked = query ?? (typeof header === 'string' && header !== '' ? header : undefined);
  const history = broker.history;
  const kept = history !== undefined && keepsHistory(spec, history.when);
  if (!kept) {
    if (query !== null) {
      throw new BusgateError(
        'resume_not_supported',
        `stream ${spec.path} is live only: broker "${spec.broker}" keeps no history for "${spec.source}"${history ? ` without options ${JSON.stringify(history.when)}` : ''}`,
      );
    }
    return asked === undefined ? {} : { ignoredResume: true };
  }
  if (asked === undefined) return { from: 'now' };
  const problem = history.checkToken(asked);
  if (problem !== undefined) throw new BusgateError('bad_resume_position', `cannot resume from "${asked.slice(0, 64)}": ${problem}`);
  return { from: { token: asked } };
}

function refusalHeaders(error: unknown): Record<string, string> {
  const code = isBusgateError(error) ? error.code : undefined;
  return code === 'unauthorized' ? CHALLENGE : code === 'method_not_allowed' ? { Allow: 'GET' } : {};
}

function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://stream').pathname;
  } catch {
    return '';
  }
}

/** The JSON error a refused upgrade gets, written as a plain HTTP response on the raw socket. */
function refuseUpgrade(req: IncomingMessage, socket: Duplex, error: unknown, logger: Logger): void {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as never);
  res.once('finish', () => {
    res.detachSocket(socket as never);
    socket.end();
  });
  sendError(res, error, logger, refusalHeaders(error));
}

/** One connected client: its transport, its subscription, its heartbeat. */
class OpenStream {
  private subscription: Subscription | undefined;
  /** Messages that arrived before the open event was sent (a history read starts at once). */
  private early: InboundMessage[] | undefined = [];
  private gone = false;
  private reason: DisconnectReason = 'client_left';
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly sink: StreamSink,
    private readonly limits: StreamLimits,
    private readonly logger: Logger,
    readonly path: string,
    private readonly sent: () => void,
  ) {
    this.heartbeat = setInterval(() => {
      if (!this.gone && !this.tooSlow()) sink.heartbeat();
    }, limits.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Sends a message, or ends the stream when the client has left too much unread. */
  message(message: InboundMessage): void {
    if (this.gone || this.tooSlow()) return;
    if (this.early !== undefined) {
      this.early.push(message);
      return;
    }
    const data = messageData(message, randomUUID());
    // Where history exists the id is the resume token, so EventSource's Last-Event-ID resumes.
    this.sink.event('message', String(data.resume ?? data.id), data);
    this.sent();
  }

  /** The subscription is live: announce it, then send what arrived meanwhile. */
  attach(subscription: Subscription, open: Readonly<Record<string, unknown>>): void {
    this.subscription = subscription;
    if (this.gone) {
      this.closeSubscription();
      return;
    }
    this.sink.event('open', subscription.start, open);
    const early = this.early ?? [];
    this.early = undefined;
    for (const message of early) this.message(message);
  }

  end(reason: CloseReason, message: string): void {
    if (this.gone) return;
    this.gone = true;
    this.reason = reason;
    if (reason === 'slow_client') this.logger.warn('stream client too slow; disconnected', { path: this.path, unreadBytes: this.sink.unread() });
    this.sink.close(reason, message);
    this.closeSubscription();
  }

  /** The connection is gone (either side); returns why, for the disconnect metric. */
  closed(): DisconnectReason {
    this.gone = true;
    clearInterval(this.heartbeat);
    this.closeSubscription();
    return this.reason;
  }

  private tooSlow(): boolean {
    if (this.sink.unread() <= this.limits.maxBufferedBytes) return false;
    this.end('slow_client', `more than ${this.limits.maxBufferedBytes} bytes unread; reconnect and read faster`);
    return true;
  }

  private closeSubscription(): void {
    const subscription = this.subscription;
    this.subscription = undefined;
    subscription?.close().catch((error: unknown) => this.logger.warn('closing a stream subscription failed', { path: this.path, error: describeError(error) }));
  }
}

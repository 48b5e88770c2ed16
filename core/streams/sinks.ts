/**
 * The two ways a stream reaches a client, behind one small interface so admission, resume,
 * limits and metrics are written once: Server-Sent Events on the response, or a WebSocket
 * (`ws`) on the upgraded socket. Both carry the same JSON event shape.
 */
import type { ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import { CLOSE_REASONS, type CloseReason, type StreamTransport } from './model.js';

/** How long a closed stream waits for the client to read its last event before dropping the socket. */
const LINGER_MS = 1000;

export interface StreamSink {
  readonly transport: StreamTransport;
  /** Bytes handed to the transport that the client has not taken yet. */
  unread(): number;
  /** One event. `id` is what a client resumes from (the SSE `id:` line); WebSocket events carry it in their data. */
  event(type: 'open' | 'message', id: string | undefined, data: Readonly<Record<string, unknown>>): void;
  heartbeat(): void;
  /** Tells the client why, then closes; the socket is dropped a second later if the client does not read. */
  close(reason: CloseReason, message: string): void;
  /** Called once the connection is gone, whichever side closed it. */
  onGone(listener: () => void): void;
}

export class SseSink implements StreamSink {
  readonly transport = 'sse';

  constructor(
    private readonly res: ServerResponse,
    prelude: string,
  ) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
    res.flushHeaders();
    // retry: how long EventSource waits before reconnecting (with Last-Event-ID).
    res.write(`: ${prelude.replace(/[\r\n]/g, ' ')}\nretry: 2000\n\n`);
  }

  unread(): number {
    return this.res.writableLength;
  }

  event(type: 'open' | 'message', id: string | undefined, data: Readonly<Record<string, unknown>>): void {
    const idLine = id === undefined ? '' : `id: ${id.replace(/[\r\n\0]/g, '')}\n`;
    this.res.write(`${idLine}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  heartbeat(): void {
    this.res.write(': heartbeat\n\n');
  }

  close(reason: CloseReason, message: string): void {
    this.res.end(`event: close\ndata: ${JSON.stringify({ reason, message })}\n\n`);
    // A client that reads nothing would keep the ended response (and its buffer) forever.
    setTimeout(() => this.res.destroy(), LINGER_MS).unref();
  }

  onGone(listener: () => void): void {
    this.res.once('close', listener);
  }
}

export class WebSocketSink implements StreamSink {
  readonly transport = 'websocket';

  constructor(private readonly ws: WebSocket) {
    // Nothing a client sends means anything on a stream; reading it keeps the socket flowing.
    ws.on('message', () => undefined);
    ws.on('error', () => ws.terminate());
  }

  unread(): number {
    return this.ws.bufferedAmount;
  }

  event(type: 'open' | 'message', _id: string | undefined, data: Readonly<Record<string, unknown>>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type, ...data }));
  }

  heartbeat(): void {
    // A ping frame: proxies see traffic, and browsers answer it without any code.
    if (this.ws.readyState === WebSocket.OPEN) this.ws.ping();
  }

  close(reason: CloseReason, message: string): void {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ type: 'close', reason, message }));
      this.ws.close(CLOSE_REASONS[reason].wsCode, reason);
    }
    setTimeout(() => this.ws.terminate(), LINGER_MS).unref();
  }

  onGone(listener: () => void): void {
    this.ws.once('close', listener);
  }
}

/** A minimal WebSocket stream reader for tests (the `ws` package): collects JSON frames as they arrive. */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';

export type WsFrame = Record<string, unknown> & { readonly type: string };

export class WsClient {
  readonly frames: WsFrame[] = [];
  closeCode: number | undefined;
  closeReason = '';

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => this.frames.push(JSON.parse(data.toString('utf8')) as WsFrame));
    socket.on('close', (code: number, reason: Buffer) => {
      this.closeCode = code;
      this.closeReason = reason.toString('utf8');
    });
  }

  /** Connects (http:// URLs are turned into ws://); a refused upgrade resolves with its status and JSON body. */
  static open(url: string, headers: Record<string, string> = {}): Promise<WsClient | { status: number; body: { error: { code: string; message: string } } }> {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), { headers });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new WsClient(socket)));
      socket.once('unexpected-response', (_req, res: IncomingMessage) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { error: { code: string; message: string } } }));
      });
      socket.once('error', reject);
    });
  }

  messages(): WsFrame[] {
    return this.frames.filter((frame) => frame.type === 'message');
  }

  close(): void {
    this.socket.terminate();
  }
}

/** Narrows an open() result to a connected client. */
export function connected(result: Awaited<ReturnType<typeof WsClient.open>>): WsClient {
  if (!(result instanceof WsClient)) throw new Error(`the WebSocket was refused: ${result.status} ${JSON.stringify(result.body)}`);
  return result;
}

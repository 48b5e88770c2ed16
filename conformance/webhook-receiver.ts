/**
 * A webhook endpoint for the egress conformance tests (it ships with them) and busgate's own: it
 * records every POST (path, headers, body, time) and answers what the test's script says for that
 * path (default 200).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedHook {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly at: number;
  /** The status the receiver answered with. */
  readonly status: number;
}

export interface HookAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

export type HookScript = (hook: ReceivedHook, nth: number) => HookAnswer;

export class WebhookReceiver {
  readonly received: ReceivedHook[] = [];
  private readonly scripts = new Map<string, HookScript>();
  private readonly counts = new Map<string, number>();
  private server: http.Server | undefined;
  port = 0;

  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
        const request = { path: req.url ?? '/', headers, body: Buffer.concat(chunks), at: Date.now(), status: 0 };
        const nth = (this.counts.get(request.path) ?? 0) + 1;
        this.counts.set(request.path, nth);
        const answer: HookAnswer = (this.scripts.get(request.path) ?? ((): HookAnswer => ({ status: 200 })))(request, nth);
        const reply = (): void => {
          // Recorded when answered, so that a test waiting for a 2xx sees it settled.
          this.received.push({ ...request, status: answer.status });
          res.writeHead(answer.status, answer.headers ?? {});
          res.end();
        };
        if (answer.delayMs) setTimeout(reply, answer.delayMs);
        else reply();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  script(path: string, script: HookScript): void {
    this.scripts.set(path, script);
  }

  on(path: string): ReceivedHook[] {
    return this.received.filter((hook) => hook.path === path);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = undefined;
  }
}

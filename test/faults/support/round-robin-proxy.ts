/**
 * A tiny load balancer the way a Kubernetes Service with readiness probes behaves: it polls each
 * backend's /ready, sends each request to the next backend that said 200, and stops sending to a
 * backend as soon as a probe fails (a terminating pod leaves the endpoints). One connection per
 * request, so no keep-alive race hides or causes a failure. A backend that fails at the TCP level
 * gives 502 proxy_upstream_error (which the rolling-update test counts as a failure).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Backend {
  readonly url: URL;
  ready: boolean;
}

export class RoundRobinProxy {
  private readonly backends: Backend[] = [];
  private next = 0;
  private server: http.Server | undefined;
  private poller: NodeJS.Timeout | undefined;
  /** Requests sent to each backend, by its URL. */
  readonly sent = new Map<string, number>();

  constructor(private readonly probeEveryMs = 100) {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => this.forward(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.poller = setInterval(() => void this.probe(), this.probeEveryMs);
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  add(url: string): void {
    this.backends.push({ url: new URL(url), ready: false });
  }

  remove(url: string): void {
    const index = this.backends.findIndex((b) => b.url.origin === new URL(url).origin);
    if (index !== -1) this.backends.splice(index, 1);
  }

  isReady(url: string): boolean {
    return this.backends.some((b) => b.url.origin === new URL(url).origin && b.ready);
  }

  async stop(): Promise<void> {
    clearInterval(this.poller);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async probe(): Promise<void> {
    await Promise.all(
      this.backends.map(async (backend) => {
        try {
          const res = await fetch(new URL('/ready', backend.url), { signal: AbortSignal.timeout(this.probeEveryMs * 5) });
          await res.arrayBuffer();
          backend.ready = res.status === 200;
        } catch {
          backend.ready = false;
        }
      }),
    );
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ready = this.backends.filter((b) => b.ready);
    if (ready.length === 0) {
      this.fail(res, 'no ready backend');
      req.resume();
      return;
    }
    const backend = ready[this.next++ % ready.length]!;
    this.sent.set(backend.url.origin, (this.sent.get(backend.url.origin) ?? 0) + 1);
    const upstream = http.request(
      { host: backend.url.hostname, port: backend.url.port, method: req.method, path: req.url, headers: req.headers, agent: false },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => this.fail(res, `${backend.url.origin}: ${error.message}`));
    req.pipe(upstream);
  }

  private fail(res: http.ServerResponse, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = JSON.stringify({ error: { code: 'proxy_upstream_error', message } });
    res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}

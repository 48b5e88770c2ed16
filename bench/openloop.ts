/**
 * Open-loop HTTP load at a fixed rate, with coordinated-omission correction (see lib/loadgen.ts),
 * in a process of its own so that its CPU use is measured apart from the server's.
 *
 *   node dist/bench/openloop.js '{"port":8080,"path":"/x","rates":[2500,4000],"durationMs":5000,...}'
 *
 * HTTP/1.1 over plain keep-alive sockets: one request per connection at a time (no pipelining),
 * the request bytes built once, the response read just far enough to know its status and length.
 * Prints `BENCH_RESULT [json per rate]`.
 */
import net from 'node:net';
import { openLoop, type Slot } from './lib/loadgen.js';
import type { OpenLoopArgs } from './lib/types.js';

const CRLF2 = Buffer.from('\r\n\r\n');
const CHUNKED_END = Buffer.from('0\r\n\r\n');

class Connection implements Slot {
  private socket!: net.Socket;
  private pending: ((ok: boolean) => void) | undefined;
  private buffer: Buffer | undefined;
  private headerEnd = -1;
  private need = 0;
  private status = 0;
  connectErrors = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      this.socket = socket;
      socket.once('connect', () => resolve());
      socket.once('error', (error) => {
        this.connectErrors++;
        reject(error);
      });
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => this.onClose());
    });
  }

  send(done: (ok: boolean) => void): void {
    this.pending = done;
    if (this.socket.destroyed) {
      this.reopenThenFail();
      return;
    }
    this.socket.write(this.request);
  }

  close(): void {
    this.socket.destroy();
  }

  private reopenThenFail(): void {
    const done = this.pending;
    this.pending = undefined;
    this.open().then(
      () => done?.(false),
      () => done?.(false),
    );
  }

  private onClose(): void {
    this.buffer = undefined;
    this.headerEnd = -1;
    const done = this.pending;
    if (done) {
      this.pending = undefined;
      // The server closed mid-request (e.g. Connection: close): a failure; reconnect for the next.
      this.open().then(
        () => done(false),
        () => done(false),
      );
    }
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer === undefined ? chunk : Buffer.concat([this.buffer, chunk]);
    const buffer = this.buffer;
    if (this.headerEnd < 0) {
      const i = buffer.indexOf(CRLF2);
      if (i < 0) return;
      this.headerEnd = i + 4;
      const head = buffer.toString('latin1', 0, i);
      this.status = Number(head.slice(9, 12));
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (length) this.need = this.headerEnd + Number(length[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) this.need = -1;
      else this.need = this.headerEnd;
    }
    let end: number;
    if (this.need === -1) {
      const j = buffer.indexOf(CHUNKED_END, this.headerEnd);
      if (j < 0) return;
      end = j + CHUNKED_END.length;
    } else {
      if (buffer.length < this.need) return;
      end = this.need;
    }
    this.buffer = end < buffer.length ? buffer.subarray(end) : undefined;
    this.headerEnd = -1;
    const done = this.pending;
    this.pending = undefined;
    done?.(this.status >= 200 && this.status < 300);
  }
}

function buildRequest(host: string, port: number, path: string, body: string, headers: Record<string, string>): Buffer {
  const payload = Buffer.from(body);
  const lines = [`POST ${path} HTTP/1.1`, `Host: ${host}:${port}`, `Content-Length: ${payload.length}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), payload]);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as OpenLoopArgs;
  const host = args.host ?? '127.0.0.1';
  const request = buildRequest(host, args.port, args.path, args.body, args.headers);
  const connections = Array.from({ length: args.connections }, () => new Connection(host, args.port, request));
  await Promise.all(connections.map((c) => c.open()));
  const outputs = [];
  // One schedule per rate, back to back on the same connections.
  for (const rate of args.rates) {
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    const result = await openLoop(connections, rate, args.durationMs, args.drainMs ?? 5000);
    const cpu = process.cpuUsage(cpuBefore);
    const wallMs = performance.now() - wallBefore;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    outputs.push({
      ...result,
      generator: { cpuSeconds, cpuShareOfOneCore: Math.round((cpuSeconds / (wallMs / 1000)) * 100) / 100, wallMs: Math.round(wallMs) },
    });
  }
  for (const c of connections) c.close();
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(outputs)}\n`);
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(`openloop: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

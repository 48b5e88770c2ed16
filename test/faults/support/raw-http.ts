/**
 * A deliberately small HTTP/1.1 client for load generation: one keep-alive socket, one request at
 * a time, requests written as prepared bytes, responses parsed only as far as status, the two
 * headers the ledger needs and a Content-Length body (busgate always sends one; anything else
 * fails the request). fetch() costs the load generator so much
 * CPU with thousands of connections on a 2-core machine that its own event loop lags by seconds
 * and the figures measure the client, not the daemon.
 */
import net from 'node:net';

export interface RawAnswer {
  /** Whether this request opened a new connection (its latency includes connecting). */
  readonly newConnection: boolean;
  readonly status: number;
  readonly retryAfter: string | null;
  readonly body: string;
}

export class RawHttpClient {
  private socket: net.Socket | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (answer: RawAnswer) => void; reject: (error: Error) => void; timer: NodeJS.Timeout; newConnection: boolean } | undefined;

  constructor(
    private readonly port: number,
    private readonly host = '127.0.0.1',
  ) {}

  request(path: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<RawAnswer> {
    if (this.pending) return Promise.reject(new Error('one request at a time'));
    const payload = Buffer.from(body);
    let head = `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Length: ${payload.length}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    const reused = this.socket !== undefined && !this.socket.destroyed && this.socket.writable;
    const socket = this.connection();
    return new Promise<RawAnswer>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(Object.assign(new Error('no answer in time'), { name: 'TimeoutError' })), timeoutMs);
      this.pending = { resolve, reject, timer, newConnection: !reused };
      socket.write(Buffer.concat([Buffer.from(`${head}\r\n`), payload]));
    });
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  private connection(): net.Socket {
    if (this.socket && !this.socket.destroyed && this.socket.writable) return this.socket;
    const socket = net.connect({ port: this.port, host: this.host, noDelay: true });
    this.buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    // Only the current socket's end fails the request in flight (an old one may close late).
    socket.on('error', (error: Error) => {
      if (this.socket === socket) this.fail(error);
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.fail(new Error('other side closed'));
    });
    this.socket = socket;
    return socket;
  }

  private parse(): void {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.pending) return;
    const head = this.buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    if (!head.startsWith('HTTP/1.') || !Number.isInteger(status)) {
      this.fail(new Error(`unparsable response: ${head.slice(0, 40)}`));
      return;
    }
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(end + 4 + length);
    const retryAfter = /\r\nretry-after:\s*([^\r]*)/i.exec(head)?.[1] ?? null;
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
    const pending = this.pending;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve({ newConnection: pending.newConnection, status, retryAfter, body });
  }

  private fail(error: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    this.close();
    pending.reject(error);
  }
}

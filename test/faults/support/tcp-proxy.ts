/**
 * A TCP relay between the daemon and a broker, for network faults the broker process itself
 * cannot produce:
 *   pause()  every connection stops forwarding in both directions, new connections are held;
 *            restore() lets everything flow again (a network freeze that heals, nothing lost).
 *   reset()  every connection is torn down with a TCP RST at once; new connections pass.
 *   drop()   every connection goes silent (no forwarding, no FIN, no RST) and new connections are
 *            black-holed (accepted, never answered); restore() answers the silent ones with RST,
 *            as a firewall that lost its connection table does, and new connections pass again.
 */
import net from 'node:net';

type Mode = 'pass' | 'pause' | 'drop';

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
}

export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  /** Accepted while paused: connected upstream on restore. */
  private readonly held = new Set<net.Socket>();
  /** Accepted while dropping, or silenced by drop(): reset on restore. */
  private readonly blackHoled = new Set<net.Socket>();
  private mode: Mode = 'pass';
  private closed = false;
  connections = 0;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
    readonly port: number,
  ) {}

  /** Listens on `port` (0: any free one) and relays to `target`. */
  static async start(target: { host: string; port: number }, port = 0): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = net.createServer((socket) => proxy?.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    proxy = new FaultProxy(server, target, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  get state(): Mode {
    return this.mode;
  }

  pause(): void {
    this.mode = 'pause';
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  reset(): void {
    for (const pair of [...this.pairs]) this.kill(pair);
    for (const socket of [...this.held]) hardClose(socket);
    this.held.clear();
  }

  drop(): void {
    this.mode = 'drop';
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      pair.client.pause();
      pair.upstream.pause();
      pair.client.removeAllListeners('data');
      pair.upstream.removeAllListeners('data');
      this.blackHoled.add(pair.client);
      this.blackHoled.add(pair.upstream);
    }
  }

  restore(): void {
    this.mode = 'pass';
    for (const socket of [...this.blackHoled]) hardClose(socket);
    this.blackHoled.clear();
    for (const { client, upstream } of this.pairs) {
      client.resume();
      upstream.resume();
    }
    for (const socket of [...this.held]) {
      this.held.delete(socket);
      this.relay(socket);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.reset();
    for (const socket of [...this.blackHoled]) hardClose(socket);
    this.blackHoled.clear();
    await closed;
  }

  private accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    this.connections += 1;
    if (this.closed) {
      hardClose(socket);
      return;
    }
    if (this.mode === 'drop') {
      socket.pause();
      this.blackHoled.add(socket);
      socket.once('close', () => this.blackHoled.delete(socket));
      return;
    }
    if (this.mode === 'pause') {
      socket.pause();
      this.held.add(socket);
      socket.once('close', () => this.held.delete(socket));
      return;
    }
    this.relay(socket);
  }

  private relay(client: net.Socket): void {
    const upstream = net.connect(this.target);
    upstream.on('error', () => undefined);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    // Manual forwarding (no pipe()): pause() must stop the flow and nothing may resume it.
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.once('close', end);
    upstream.once('close', end);
    client.once('end', () => upstream.end());
    upstream.once('end', () => client.end());
    if (this.mode === 'pause') {
      client.pause();
      upstream.pause();
    }
  }

  private kill(pair: Pair): void {
    this.pairs.delete(pair);
    hardClose(pair.client);
    hardClose(pair.upstream);
  }
}

/** Tears a socket down with RST (SO_LINGER 0), falling back to destroy() if it is not connected. */
function hardClose(socket: net.Socket): void {
  try {
    if (!socket.destroyed && socket.readyState === 'open') socket.resetAndDestroy();
    else socket.destroy();
  } catch {
    socket.destroy();
  }
}

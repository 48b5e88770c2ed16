/**
 * Broker-backed suites call requireBroker() in a before() hook. When the broker does not answer:
 * in CI (CI=true) or with BUSGATE_REQUIRE_BROKERS=1 the hook fails, so a missing broker fails the
 * run; elsewhere the suite is skipped and the reason is printed once at the end of the run.
 */
import net from 'node:net';

const skipped = new Map<string, string>();

export function brokersRequired(): boolean {
  return process.env.CI === 'true' || process.env.BUSGATE_REQUIRE_BROKERS === '1';
}

export function tcpReachable(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** host:port of the first entry of a URL or a comma-separated broker list. */
export function endpointOf(address: string, defaultPort: number): { host: string; port: number } {
  const first = address.split(',')[0]!.trim();
  const withScheme = first.includes('://') ? first : `tcp://${first}`;
  const url = new URL(withScheme);
  return { host: url.hostname || '127.0.0.1', port: url.port ? Number(url.port) : defaultPort };
}

export async function requireBroker(
  context: Mocha.Context,
  name: string,
  endpoint: { host: string; port: number },
): Promise<void> {
  if (await tcpReachable(endpoint.host, endpoint.port)) return;
  const reason = `${name} is not reachable at ${endpoint.host}:${endpoint.port} (start it with scripts/brokers.sh start)`;
  if (brokersRequired()) throw new Error(`${reason}; CI requires every broker`);
  skipped.set(name, reason);
  context.skip();
}

export const brokerEndpoints = {
  nats: (): { host: string; port: number } => endpointOf(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', 4222),
  kafka: (): { host: string; port: number } => endpointOf(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092', 9092),
  rabbitmq: (): { host: string; port: number } => endpointOf(process.env.AMQP_URL ?? 'amqp://127.0.0.1:5672', 5672),
  redis: (): { host: string; port: number } => endpointOf(redisUrl(), 6379),
};

/** The shared state store the replica suites use (REDIS_URL, default the local one). */
export function redisUrl(): string {
  return process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
}

// Root hook: say plainly which broker suites did not run, so a green local run cannot hide them.
export const mochaHooks = {
  afterAll(): void {
    if (skipped.size === 0) return;
    console.log('\n  Skipped broker suites (broker not running; CI would fail instead):');
    for (const reason of skipped.values()) console.log(`    - ${reason}`);
  },
};

/**
 * Broker-backed suites call requireBroker() in a before() hook. When the broker does not answer:
 * in CI (CI=true) or with BUSGATE_REQUIRE_BROKERS=1 the hook fails, so a missing broker fails the
 * run; elsewhere the suite is skipped and the reason is kept for skippedBrokers(), so a runner can
 * say at the end which suites did not run. Public (busgate/conformance): a plugin kept in another
 * repository gets the same rule as the built-in ones.
 */
import net from 'node:net';

const skipped = new Map<string, string>();

/** The part of a mocha test context this needs (kept structural so the types do not need mocha). */
export interface SkippableContext {
  skip(): void;
}

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

export async function requireBroker(context: SkippableContext, name: string, endpoint: { host: string; port: number }): Promise<void> {
  if (await tcpReachable(endpoint.host, endpoint.port)) return;
  const reason = `${name} is not reachable at ${endpoint.host}:${endpoint.port} (start it with scripts/brokers.sh start)`;
  if (brokersRequired()) throw new Error(`${reason}; CI requires every broker`);
  skipped.set(name, reason);
  context.skip();
}

/** Why each skipped broker suite did not run, one line per broker. */
export function skippedBrokers(): string[] {
  return [...skipped.values()];
}

const notDeclared = new Map<string, string>();

/** Keeps why conformance tests did not run because the plugin declares no such capability. */
export function noteNotDeclared(key: string, reason: string): void {
  notDeclared.set(key, reason);
}

/** Tests skipped because a plugin does not declare what they test (e.g. egress), one line each. */
export function skippedCapabilities(): string[] {
  return [...notDeclared.values()];
}

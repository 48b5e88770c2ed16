/**
 * Opening one MQTT 5 connection. The first attempt either connects or fails (the core then
 * retries with backoff and answers 503 meanwhile); after that the client reconnects by itself.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { unavailable } from './errors.js';
import type { MqttOptions } from './options.js';

export interface SessionOptions {
  readonly clientId: string;
  /** false: resume the broker's session for this client id and keep it for `expirySeconds`. */
  readonly cleanStart: boolean;
  readonly expirySeconds: number;
  /** Acknowledge each QoS 1 message only when this settles (MQTT delivers in order per session). */
  readonly customHandleAcks?: IClientOptions['customHandleAcks'];
}

export function clientOptions(options: MqttOptions, session: SessionOptions): IClientOptions {
  return {
    protocolVersion: 5,
    clientId: session.clientId,
    clean: session.cleanStart,
    properties: { sessionExpiryInterval: session.expirySeconds },
    connectTimeout: options.connectTimeoutMs,
    keepalive: options.keepaliveSeconds,
    reconnectPeriod: options.reconnectPeriodMs,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(session.customHandleAcks === undefined ? {} : { customHandleAcks: session.customHandleAcks }),
  };
}

/** Where the broker is, for logs and /ready: host and port only, never credentials. */
export function endpointOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || (parsed.protocol.startsWith('mqtts') || parsed.protocol === 'ssl:' ? '8883' : '1883')}`;
  } catch {
    return 'the configured MQTT URL';
  }
}

/**
 * Connects, or rejects on the first failure (refused, timed out, not authorised) or on abort and
 * releases the client. `prepare` runs before the connection opens: a resumed session delivers its
 * queued messages right after CONNACK, so handlers must be in place by then.
 */
export function openClient(options: MqttOptions, session: SessionOptions, signal?: AbortSignal, prepare?: (client: MqttClient) => void): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(unavailable('connect was aborted'));
    const client = mqtt.connect(options.url, clientOptions(options, session));
    prepare?.(client);
    const cleanUp = (): void => {
      client.removeListener('connect', onConnect);
      client.removeListener('error', onFailure);
      client.removeListener('close', onClose);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      cleanUp();
      client.end(true);
      reject(error);
    };
    const onConnect = (): void => {
      cleanUp();
      resolve(client);
    };
    const onFailure = (error: Error): void => fail(unavailable(`cannot connect to ${endpointOf(options.url)}: ${error.message}`, error));
    const onClose = (): void => fail(unavailable(`cannot connect to ${endpointOf(options.url)}: the connection closed`));
    const onAbort = (): void => fail(unavailable('connect was aborted'));
    client.once('connect', onConnect);
    client.once('error', onFailure);
    client.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Ends a client: DISCONNECT after in-flight acknowledgements, or a hard close if that stalls. */
export async function endClient(client: MqttClient, graceMs = 2000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => client.end(true, {}, () => resolve()), graceMs);
    timer.unref();
  });
  await Promise.race([graceful, forced]);
  clearTimeout(timer);
}

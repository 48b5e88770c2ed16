/**
 * One Redis connection shared by the idempotency store and the rate limits when they name the
 * same URL. Commands fail fast rather than queue: with the offline queue off, a command while
 * Redis is away rejects at once, and a command Redis does not answer rejects after
 * commandTimeoutMs. The callers decide what a failure means (see core/state/stores.ts).
 *
 * Client: @redis/client (node-redis, maintained by Redis): no runtime dependencies, its own
 * TypeScript types, and both switches this needs (disableOfflineQueue, a per-command timeout).
 */
import { createHash } from 'node:crypto';
import { createClient, type RedisClientType } from '@redis/client';
import type { Logger } from 'winston';
import { maskSecrets } from '../observability/logger.js';

export interface RedisConnectionOptions {
  readonly url: string;
  readonly logger: Logger;
  readonly commandTimeoutMs?: number;
}

export class RedisConnection {
  readonly client: RedisClientType;
  private lastErrorLog = 0;
  private readonly shas = new Map<string, string>();

  constructor(private readonly options: RedisConnectionOptions) {
    this.client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      commandOptions: { timeout: options.commandTimeoutMs ?? 1000 },
      socket: {
        connectTimeout: 2000,
        // Keep trying for as long as the daemon runs; requests meanwhile get the store-down answer.
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2000),
      },
    });
    // Without a listener node-redis would throw on every connection error.
    this.client.on('error', (error: unknown) => this.logError(error));
    this.client.on('ready', () => options.logger.info('shared state store connected', { store: maskSecrets(options.url) }));
  }

  get ready(): boolean {
    return this.client.isReady;
  }

  /** Starts connecting; resolves when connected or after waitMs, whichever is first. Never rejects. */
  async start(waitMs: number): Promise<void> {
    const connecting = this.client.connect().then(
      () => undefined,
      (error: unknown) => this.logError(error),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([connecting, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
    if (!this.client.isReady)
      this.options.logger.warn('shared state store not reachable yet; retrying in the background', { store: maskSecrets(this.options.url) });
  }

  /** Runs a Lua script by its SHA, loading it once per connection when Redis does not know it. */
  async script(source: string, keys: string[], args: string[]): Promise<unknown> {
    let sha = this.shas.get(source);
    if (sha === undefined) {
      sha = createHash('sha1').update(source).digest('hex');
      this.shas.set(source, sha);
    }
    try {
      return await this.client.evalSha(sha, { keys, arguments: args });
    } catch (error) {
      if (!String(error).includes('NOSCRIPT')) throw error;
      return this.client.eval(source, { keys, arguments: args });
    }
  }

  async close(): Promise<void> {
    if (!this.client.isOpen) return;
    await this.client.close().catch(() => this.client.destroy());
  }

  private logError(error: unknown): void {
    // A Redis that is down reports every reconnect attempt; one line every 10 s says enough.
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.options.logger.warn('shared state store error', { store: maskSecrets(this.options.url), error: String(error) });
  }
}

/**
 * POSTs to one subscription's endpoint over a kept-alive undici pool. An attempt ends in an
 * answer (status + Retry-After), a timeout or a connection error; it never throws. Credentials in
 * the configured URL become an Authorization header and never appear in a log line or metric.
 */
import type { Pool } from 'undici';
import { parseRetryAfter, type AttemptOutcome } from './retry-policy.js';

export class WebhookClient {
  /** undici costs about 8 MB of RSS once loaded: a daemon without subscriptions never loads it. */
  private readonly pool: Promise<Pool>;
  private readonly path: string;
  private readonly authorization: string | undefined;
  /** The URL without user info, for logs. */
  readonly displayUrl: string;

  constructor(url: string, connections: number) {
    const parsed = new URL(url);
    this.authorization =
      parsed.username !== '' || parsed.password !== ''
        ? `Basic ${Buffer.from(`${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`).toString('base64')}`
        : undefined;
    parsed.username = '';
    parsed.password = '';
    this.displayUrl = parsed.toString();
    this.path = `${parsed.pathname}${parsed.search}`;
    this.pool = import('undici').then(({ Pool }) => new Pool(parsed.origin, { connections, keepAliveTimeout: 30_000, pipelining: 1 }));
  }

  async post(body: Buffer, headers: Readonly<Record<string, string>>, timeoutMs: number): Promise<AttemptOutcome> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    try {
      const response = await (
        await this.pool
      ).request({
        method: 'POST',
        path: this.path,
        headers: this.authorization === undefined ? headers : Object.assign({}, headers, { authorization: this.authorization }),
        body,
        signal: deadline.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      // The body is not used, but it must be read for the connection to be reused.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
      const retryAfter = response.headers['retry-after'];
      return { kind: 'answered', status: response.statusCode, retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter) };
    } catch (error) {
      if (deadline.signal.aborted || isTimeout(error)) return { kind: 'timeout' };
      return { kind: 'connection-error', detail: error instanceof Error ? ((error as { code?: string }).code ?? error.message) : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await (await this.pool).close().catch(() => undefined);
  }
}

function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

/**
 * API-key authentication. Keys come from the environment or a keys file, never from routes.yaml.
 * A key is presented as `Authorization: Bearer <secret>` or `X-Api-Key: <secret>`. Secrets are
 * compared as SHA-256 digests with timingSafeEqual, against every configured key every time, so
 * neither the content nor which key matched shows in the timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError } from '../errors.js';
import { sendError } from './send-error.js';

const digest = (secret: string): Buffer => createHash('sha256').update(secret, 'utf8').digest();

export class Authenticator {
  private readonly keys: { name: string; digest: Buffer }[];

  constructor(keys: ReadonlyMap<string, string>) {
    this.keys = [...keys].map(([name, secret]) => ({ name, digest: digest(secret) }));
  }

  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The client name the request authenticates as, or undefined. */
  identify(headers: IncomingHttpHeaders): string | undefined {
    const presented = presentedSecret(headers);
    if (presented === undefined) return undefined;
    const candidate = digest(presented);
    let match: string | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(candidate, key.digest) && match === undefined) match = key.name;
    }
    return match;
  }

  /** undefined when the request may go on; otherwise the 401 or 403 to answer. */
  authorize(headers: IncomingHttpHeaders, allowed: readonly string[] | undefined): BusgateError | undefined {
    const outcome = this.admit(headers, allowed);
    return typeof outcome === 'string' ? undefined : outcome;
  }

  /**
   * The name of the client the request may go on as ("" when no keys are configured), or the
   * 401 or 403 to answer. The name scopes what the client stores, such as idempotency answers.
   */
  admit(headers: IncomingHttpHeaders, allowed: readonly string[] | undefined): string | BusgateError {
    if (!this.enabled) return '';
    const client = this.identify(headers);
    if (client === undefined) return new BusgateError('unauthorized', 'a valid API key is required (Authorization: Bearer <key> or X-Api-Key)');
    if (allowed !== undefined && !allowed.includes(client)) return new BusgateError('forbidden', `client "${client}" may not use this route`);
    return client;
  }

  /** express middleware for busgate's own endpoints (tap, console, and optionally /ready, /metrics). */
  guard(allowed: readonly string[] | undefined, logger: Logger): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      const refusal = this.authorize(req.headers, allowed);
      if (refusal === undefined) return next();
      sendError(res, refusal, logger, refusal.code === 'unauthorized' ? CHALLENGE : {});
    };
  }
}

/** Sent with every 401. */
export const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="busgate"' };

function presentedSecret(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}

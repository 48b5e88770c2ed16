/**
 * API-key authentication. Keys come from the environment or a keys file, never from routes.yaml.
 * A key is presented as `Authorization: Bearer <secret>` or `X-Api-Key: <secret>`. Secrets are
 * compared as SHA-256 digests with timingSafeEqual, against every configured key every time, so
 * neither the content nor which key matched shows in the timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
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
  identify(req: Request): string | undefined {
    const presented = presentedSecret(req);
    if (presented === undefined) return undefined;
    const candidate = digest(presented);
    let match: string | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(candidate, key.digest) && match === undefined) match = key.name;
    }
    return match;
  }

  /** Middleware: 401 without a valid key, 403 when `allowed` does not include the client. */
  guard(allowed: readonly string[] | undefined, logger: Logger): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      if (!this.enabled) return next();
      const client = this.identify(req);
      if (client === undefined) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="busgate"');
        return sendError(res, new BusgateError('unauthorized', 'a valid API key is required (Authorization: Bearer <key> or X-Api-Key)'), logger);
      }
      if (allowed !== undefined && !allowed.includes(client)) {
        return sendError(res, new BusgateError('forbidden', `client "${client}" may not use this route`), logger);
      }
      next();
    };
  }
}

function presentedSecret(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1];
  }
  const apiKey = req.headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}

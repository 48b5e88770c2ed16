/**
 * Per-route rate limit: a token bucket refilled continuously at `perSecond`, holding at most
 * `burst` tokens. Per daemon instance; with N instances the route's total is N times the limit.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError } from '../errors.js';
import { sendError } from './send-error.js';

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token, or says how many seconds until one is there. */
  take(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - this.tokens) / this.perSecond)) };
  }
}

export function rateLimit(limit: { perSecond: number; burst: number }, logger: Logger): RequestHandler {
  const bucket = new TokenBucket(limit.perSecond, limit.burst);
  return (_req: Request, res: Response, next: NextFunction) => {
    const taken = bucket.take();
    if (taken.ok) return next();
    sendError(res, new BusgateError('rate_limited', `this route allows ${limit.perSecond} requests per second`, { retryAfterSeconds: taken.retryAfterSeconds }), logger);
  };
}

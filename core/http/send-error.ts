/** Every error leaves as JSON {"error": {"code", "message"}} with the status from the registry. */
import type { Response } from 'express';
import type { Logger } from 'winston';
import { BusgateError, describeError, isBusgateError } from '../errors.js';

export function sendError(res: Response, error: unknown, logger: Logger): void {
  const busgateError = isBusgateError(error) ? error : fromFrameworkError(error, logger);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (busgateError.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(busgateError.retryAfterSeconds));
  res.status(busgateError.status).json(busgateError.toJSON());
}

/** body-parser and express report their own errors with a status and a type; name them ours. */
function fromFrameworkError(error: unknown, logger: Logger): BusgateError {
  const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
  if (type === 'entity.too.large' || status === 413) return new BusgateError('payload_too_large', 'the body is larger than the configured limit');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new BusgateError('bad_request', `the request could not be read: ${describeError(error)}`);
  }
  logger.error('unexpected error while serving a request', { error: describeError(error) });
  return new BusgateError('internal_error', 'an unexpected error occurred; see the daemon log');
}

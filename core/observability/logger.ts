/**
 * winston, one JSON object per line in production; on a terminal the same fields, coloured.
 * Broker URLs and Authorization values are masked by a format, so no call site can leak them.
 */
import winston from 'winston';

export type { Logger } from 'winston';

const CREDENTIALS_IN_URL = /([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]+):([^@/\s]+)@/gi;
const AUTHORIZATION = /\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi;

/** Replaces the secret parts of URLs and auth headers inside any string. */
export function maskSecrets(text: string): string {
  return text.replace(CREDENTIALS_IN_URL, '$1$2:***@').replace(AUTHORIZATION, '$1 ***');
}

const maskFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    const value = info[key];
    if (typeof value === 'string') info[key] = maskSecrets(value);
  }
  if (typeof info.message === 'string') info.message = maskSecrets(info.message);
  return info;
});

/**
 * The log pipe can close under a running daemon (`busgate start | head`, a log shipper that
 * exits). node then emits EPIPE on process.stdout, and an 'error' nobody listens to ends the
 * process, with every request in flight. Serving matters more than logging to a reader that is
 * gone: from the first write error on, log lines are dropped (before they are formatted).
 */
let outputClosed = false;
let watchingOutput = false;

function keepServingWhenOutputCloses(): void {
  if (watchingOutput) return;
  watchingOutput = true;
  process.stdout.on('error', () => {
    outputClosed = true;
  });
  // Nothing busgate logs goes to stderr, but a write there (node's warnings) must not end the daemon either.
  process.stderr.on('error', () => undefined);
}

const unlessOutputClosed = winston.format((info) => (outputClosed ? false : info));

export function createLogger(options: { level: string; format: 'auto' | 'json' | 'pretty'; silent?: boolean }): winston.Logger {
  keepServingWhenOutputCloses();
  const pretty = options.format === 'pretty' || (options.format === 'auto' && process.stdout.isTTY === true);
  const base = [unlessOutputClosed(), maskFormat(), winston.format.timestamp(), winston.format.errors({ stack: false })];
  const format = pretty
    ? winston.format.combine(
        ...base,
        winston.format.colorize(),
        winston.format.printf(({ timestamp, level, message, ...fields }) => {
          const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : '';
          return `${String(timestamp)} ${level} ${String(message)}${rest}`;
        }),
      )
    : winston.format.combine(...base, winston.format.json());
  return winston.createLogger({
    level: options.level,
    format,
    transports: [new winston.transports.Console()],
    silent: options.silent ?? false,
  });
}

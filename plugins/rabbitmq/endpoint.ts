/** The broker URL as amqplib gets it, and as humans may see it (never with its password). */

export function connectionUrl(url: string, heartbeatSeconds: number): string {
  const parsed = new URL(url);
  // An explicit ?heartbeat= in the URL wins: whoever wrote it meant it for this broker.
  if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(heartbeatSeconds));
  return parsed.toString();
}

/** `amqp://host:port/vhost`, for logs, health details and error messages. */
export function describeEndpoint(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port || (parsed.protocol === 'amqps:' ? '5671' : '5672');
    const vhost = parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : '/';
    return `${parsed.protocol}//${parsed.hostname}:${port} vhost ${vhost}`;
  } catch {
    return 'an unparsable AMQP URL';
  }
}

/**
 * Removes the URL's password from a message before it is logged or returned. amqplib's own
 * messages do not carry it today; this keeps that true if a future version starts quoting URLs.
 */
export function scrubSecrets(url: string): (message: string) => string {
  let secrets: string[] = [];
  try {
    const parsed = new URL(url);
    secrets = [parsed.password, decodeURIComponent(parsed.password)].filter((s) => s.length >= 3);
  } catch {
    secrets = [];
  }
  return (message) => secrets.reduce((text, secret) => text.split(secret).join('***'), message);
}

/** The broker URL as amqplib gets it, and as humans may see it (never with its password). */
import type { Options } from 'amqplib';

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
  const secrets: string[] = [];
  for (const one of splitUrls(url)) {
    try {
      const parsed = new URL(one);
      secrets.push(...[parsed.password, decodeURIComponent(parsed.password)].filter((s) => s.length >= 3));
    } catch {
      // an unparsable URL has no password to hide
    }
  }
  return (message) => secrets.reduce((text, secret) => text.split(secret).join('***'), message);
}

/**
 * The url option's nodes: one AMQP URL, or several separated by commas (a cluster's nodes). A
 * comma splits only where the next URL starts, so a comma inside a password stays put.
 */
export function splitUrls(url: string): string[] {
  return url
    .split(/,(?=\s*amqps?:\/\/)/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}

/**
 * Which node of a cluster the next (re)connection goes to. amqplib's recovery reconnects to the
 * one URL it was given, so it gets this object instead: amqplib reads the node's fields at every
 * attempt, and they follow `advance()`, which the plugin calls after a lost connection or a failed
 * attempt: a dead node is never retried while another may answer.
 */
export class NodeRotation {
  private readonly nodes: readonly URL[];
  private index = 0;

  constructor(url: string, heartbeatSeconds: number) {
    this.nodes = splitUrls(url).map((one) => new URL(connectionUrl(one, heartbeatSeconds)));
    if (this.nodes.length === 0) throw new Error('the url option names no AMQP node');
  }

  get size(): number {
    return this.nodes.length;
  }

  advance(): void {
    this.index = (this.index + 1) % this.nodes.length;
  }

  /** The current node, for logs (no password). */
  describe(): string {
    const where = describeEndpoint(this.current.toString());
    return this.nodes.length > 1 ? `${where} (node ${this.index + 1} of ${this.nodes.length})` : where;
  }

  private get current(): URL {
    return this.nodes[this.index]!;
  }

  /** amqplib's object form of a URL, each field read from the current node when amqplib asks. */
  readonly target: Options.Connect = connectTarget(() => this.current);
}

function connectTarget(current: () => URL): Options.Connect {
  const query = (name: string): string | undefined => current().searchParams.get(name) ?? undefined;
  const integer = (name: string): number | undefined => {
    const text = query(name);
    return text === undefined ? undefined : Number.parseInt(text, 10);
  };
  const credentials = (): { username: string; password: string } | undefined => {
    const { username, password } = current();
    // Neither: amqplib's default guest/guest, as for a URL without credentials.
    return username === '' && password === '' ? undefined : { username: decodeURIComponent(username), password: decodeURIComponent(password) };
  };
  return {
    get protocol() {
      return current().protocol.replace(/:$/, '');
    },
    get hostname() {
      return current().hostname.replace(/^\[|\]$/g, '');
    },
    get port() {
      return current().port === '' ? undefined : Number(current().port);
    },
    get username() {
      return credentials()?.username;
    },
    get password() {
      return credentials()?.password;
    },
    get vhost() {
      const path = current().pathname;
      return path.length > 1 ? path.slice(1) : undefined;
    },
    get locale() {
      return query('locale');
    },
    get channelMax() {
      return integer('channelMax');
    },
    get frameMax() {
      return integer('frameMax');
    },
    get heartbeat() {
      return integer('heartbeat');
    },
  };
}

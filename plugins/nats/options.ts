/**
 * The NATS plugin's configuration: one TypeBox schema per options block, from which both the JSON
 * Schema the core validates (and fills defaults from) and the TypeScript type the plugin reads are
 * derived, and the server list with credentials taken out of URLs so that nothing which may be
 * logged or shown on /ready carries a secret.
 */
import { Type, type Static } from '@sinclair/typebox';

// Stream names end up as directory names on the server and as tokens in $JS.API subjects.
const STREAM_NAME = '^[A-Za-z0-9_-]{1,200}$';

export const optionsSchema = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      default: 'nats://127.0.0.1:4222',
      description: 'Server URL, or a comma-separated list of them (env NATS_URL). `nats://a:4222,nats://b:4222`.',
    }),
    name: Type.Optional(Type.String({ minLength: 1, description: 'Client name shown in the server monitoring pages.' })),
    user: Type.Optional(Type.String({ description: 'User name (with pass). Never logged.' })),
    pass: Type.Optional(Type.String({ description: 'Password. Never logged.' })),
    token: Type.Optional(Type.String({ description: 'Authentication token. Never logged.' })),
    createStreams: Type.Boolean({
      default: true,
      description: 'Create a missing work-queue stream on the first point-to-point message to a subject.',
    }),
    maxCreatedStreams: Type.Integer({
      minimum: 0,
      default: 100,
      description:
        'createStreams creates a stream only while fewer streams than this carry streamPrefix on the server, so a templated point-to-point destination cannot make clients create streams without end; past it, 403 destination_limit.',
    }),
    maxStreamSubjects: Type.Integer({
      minimum: 1,
      default: 100,
      description: 'createStreams adds a subject to a named work-queue stream (route option stream) only while it captures fewer subjects than this.',
    }),
    streamPrefix: Type.String({
      pattern: '^[A-Za-z0-9_-]{1,64}$',
      default: 'BUSGATE',
      description: 'Prefix of the work-queue stream names busgate derives from subjects.',
    }),
    streamReplicas: Type.Integer({
      minimum: 1,
      maximum: 5,
      default: 1,
      description:
        'Replicas of the work-queue streams busgate creates (3 on a 3-node cluster: a PubAck then means a quorum stored it). Existing streams are used as they are.',
    }),
    connectTimeoutMs: Type.Integer({ minimum: 100, default: 5000, description: 'How long one connection attempt may take.' }),
    reconnectWaitMs: Type.Integer({ minimum: 10, default: 1000, description: 'Pause between reconnection attempts to the same server.' }),
    jetstreamTimeoutMs: Type.Integer({
      minimum: 100,
      default: 5000,
      description: 'Timeout of JetStream management calls (stream lookup and creation).',
    }),
    maxControlLine: Type.Integer({
      minimum: 512,
      default: 4096,
      description:
        "The server's max_control_line (it is not announced in INFO): subjects that would make a longer protocol line are refused with 400 instead of the server closing the connection.",
    }),
  },
  { additionalProperties: false },
);

export type NatsOptions = Readonly<Static<typeof optionsSchema>>;

export const routeOptionsSchema = Type.Object(
  {
    persistent: Type.Boolean({
      default: false,
      description: 'pubsub only: publish through JetStream and answer after the PubAck.',
    }),
    stream: Type.Optional(Type.String({ pattern: STREAM_NAME, description: 'The JetStream stream for persistent pubsub or point-to-point routes.' })),
  },
  { additionalProperties: false },
);

export type NatsRouteOptions = Readonly<Static<typeof routeOptionsSchema>>;

export interface ServerList {
  /** What the client dials: scheme, host and port only. */
  readonly servers: string[];
  /** The same list for logs and /ready. */
  readonly display: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
}

/**
 * Splits the url option into servers and pulls `user:pass@` or `token@` out of them: the client
 * library does not read credentials from URLs, and a URL without them is safe to print.
 * Explicit user/pass/token options win over credentials found in a URL.
 */
export function parseServers(options: Pick<NatsOptions, 'url' | 'user' | 'pass' | 'token'>): ServerList {
  const servers: string[] = [];
  let fromUrl: { user?: string; pass?: string; token?: string } = {};
  for (const entry of options.url.split(',')) {
    const text = entry.trim();
    if (text.length === 0) continue;
    const url = toUrl(text);
    if (url.username !== '' && fromUrl.user === undefined && fromUrl.token === undefined) {
      const name = decodeURIComponent(url.username);
      fromUrl = url.password !== '' ? { user: name, pass: decodeURIComponent(url.password) } : { token: name };
    }
    servers.push(`${url.protocol}//${url.host}`);
  }
  if (servers.length === 0) throw new Error('the url option lists no NATS server');
  const explicit = options.user !== undefined || options.token !== undefined;
  const credentials = explicit
    ? {
        ...(options.user !== undefined ? { user: options.user } : {}),
        ...(options.pass !== undefined ? { pass: options.pass } : {}),
        ...(options.token !== undefined ? { token: options.token } : {}),
      }
    : fromUrl;
  return { servers, display: servers.join(','), ...credentials };
}

function toUrl(text: string): URL {
  try {
    return new URL(text.includes('://') ? text : `nats://${text}`);
  } catch {
    // Never echo the entry itself: it may hold a password.
    throw new Error('the url option holds an entry that is not a valid server URL');
  }
}

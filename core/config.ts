/**
 * Daemon configuration (convict). Precedence, lowest first: schema defaults, config/default.yaml,
 * config/<NODE_ENV>.yaml, the file named by --config / BUSGATE_CONFIG, environment variables,
 * command-line flags. Unknown keys and bad values stop the daemon before it serves.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import convict from 'convict';
import YAML from 'yaml';
import { parseByteSize } from './byte-size.js';
import { parseDuration } from './duration.js';
import { StartupError } from './errors.js';
import type { StreamLimits } from './streams/model.js';
import { builtInManifests, claimStorePlugin, type BuiltInSetting } from './plugins/built-ins.js';

convict.addParser({ extension: ['yml', 'yaml'], parse: (text: string) => YAML.parse(text) as unknown });

convict.addFormat({
  name: 'duration',
  validate(value: unknown) {
    if (typeof value !== 'string' || parseDuration(value) === undefined) {
      throw new Error('must be a duration such as 500ms, 5s or 1m');
    }
  },
});

convict.addFormat({
  name: 'duration-or-zero',
  validate(value: unknown) {
    if (typeof value !== 'string' || (!/^0(ms|s)?$/.test(value) && parseDuration(value) === undefined)) {
      throw new Error('must be 0 or a duration such as 500ms or 5s');
    }
  },
});

convict.addFormat({
  name: 'workers',
  validate(value: unknown) {
    if (value !== 'auto' && !(typeof value === 'number' && Number.isInteger(value) && value >= 0)) {
      throw new Error('must be auto, 0 (one per CPU) or a number of worker processes');
    }
  },
  coerce: (value: unknown) => (value === 'auto' ? 'auto' : Number(value)),
});

convict.addFormat({
  name: 'auto-or-boolean',
  validate(value: unknown) {
    if (value !== 'auto' && typeof value !== 'boolean') throw new Error('must be auto, true or false');
  },
  coerce: (value: unknown) => (value === 'true' ? true : value === 'false' ? false : value),
});

convict.addFormat({
  name: 'byte-size',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^\d+(b|kb|mb)$/i.test(value)) {
      throw new Error('must be a size such as 512kb or 1mb');
    }
  },
});

convict.addFormat({
  name: 'state-store',
  validate(value: unknown) {
    if (typeof value !== 'string' || (value !== '' && !/^rediss?:\/\/./.test(value))) {
      throw new Error('must be empty (in memory) or a redis:// or rediss:// URL');
    }
  },
});

convict.addFormat({
  name: 'idempotency-store',
  validate(value: unknown) {
    const scheme = typeof value === 'string' ? /^([a-z][a-z0-9+.-]*):\/\/./.exec(value)?.[1] : undefined;
    if (value === '' || scheme === 'redis' || scheme === 'rediss' || (scheme !== undefined && claimStorePlugin(scheme) !== undefined)) return;
    const served = builtInManifests().flatMap((manifest) => manifest.claimStoreSchemes ?? []);
    throw new Error(
      `must be empty (in memory), a redis:// or rediss:// URL, or a URL of a store a built-in plugin serves (${served.map((s) => `${s}://`).join(', ') || 'none'})`,
    );
  },
});

const INSTANCE_NAME = /^[a-z][a-z0-9_-]{0,62}$/;

function brokerInstanceProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return ['must be a map of instance name to { plugin, options }'];
  }
  const problems: string[] = [];
  for (const [name, instance] of Object.entries(value as Record<string, unknown>)) {
    if (!INSTANCE_NAME.test(name)) problems.push(`"${name}": instance names are lower-case words`);
    if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
      problems.push(`"${name}": must be { plugin, options }`);
      continue;
    }
    for (const key of Object.keys(instance)) {
      if (key !== 'plugin' && key !== 'options') problems.push(`"${name}": unknown key "${key}"`);
    }
    const { plugin, options } = instance as { plugin?: unknown; options?: unknown };
    if (typeof plugin !== 'string' || plugin.length === 0) problems.push(`"${name}": plugin must be a name, path or package`);
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      problems.push(`"${name}": options must be a map`);
    }
  }
  return problems;
}

const coreSchema = {
  port: { doc: 'HTTP port of the ingress, metrics and health endpoints.', format: 'port', default: 8080, env: 'PORT', arg: 'port' },
  host: { doc: 'Address to listen on.', format: String, default: '0.0.0.0', env: 'HOST', arg: 'host' },
  routesFile: { doc: 'The routes file.', format: String, default: './routes.yaml', env: 'ROUTES_FILE', arg: 'routes' },
  workers: {
    doc: 'Processes serving the one port (node:cluster): auto = one per CPU, or 1 when the routes file uses a process-local broker (memory); 0 = one per CPU; N = N; 1 = a single process.',
    format: 'workers',
    // Every core by default: the primary keeps idempotency claims and rate-limit buckets for its
    // workers when no shared store is set (core/state/primary-state.ts), so N workers act as one.
    default: 'auto',
    env: 'WORKERS',
    arg: 'workers',
  },
  optimizeForSize: {
    doc: "V8 favours memory over speed (its --optimize-for-size, set at start-up): the heap grows less under load. auto: on unless node's command line sizes the young generation (--max-semi-space-size, as npm start and the image do); false: V8's defaults.",
    format: 'auto-or-boolean',
    default: 'auto',
    env: 'OPTIMIZE_FOR_SIZE',
  },
  watchRoutes: {
    doc: 'Reload the routes file when it changes (SIGHUP always reloads).',
    format: Boolean,
    default: false,
    env: 'ROUTES_WATCH',
  },
  logLevel: {
    doc: 'Log level; debug logs one line per request.',
    format: ['error', 'warn', 'info', 'debug'],
    default: 'info',
    env: 'LOG_LEVEL',
    arg: 'log-level',
  },
  logFormat: {
    doc: 'json: one JSON object per line; pretty: coloured and aligned; auto: pretty on a terminal.',
    format: ['auto', 'json', 'pretty'],
    default: 'auto',
    env: 'LOG_FORMAT',
  },
  bodyLimit: { doc: 'Largest accepted body; larger gets 413.', format: 'byte-size', default: '1mb', env: 'BODY_LIMIT' },
  defaultTimeout: {
    doc: 'Deadline for a broker acknowledgement or reply when the route sets no timeout.',
    format: 'duration',
    default: '5s',
    env: 'DEFAULT_TIMEOUT',
  },
  shutdownTimeout: {
    doc: 'How long SIGTERM waits for in-flight requests before closing anyway.',
    format: 'duration',
    default: '10s',
    env: 'SHUTDOWN_TIMEOUT',
  },
  shutdownDelay: {
    doc: 'On SIGTERM, how long /ready answers 503 while requests are still served, before draining starts (give load balancers time to notice).',
    format: 'duration-or-zero',
    default: '0s',
    env: 'SHUTDOWN_DELAY',
  },
  maxInFlightPerBroker: {
    doc: 'Requests waiting on one broker at once; beyond it requests get 503 overloaded.',
    format: 'nat',
    default: 2000,
    env: 'MAX_IN_FLIGHT_PER_BROKER',
  },
  idempotency: {
    window: {
      doc: 'How long an Idempotency-Key is remembered: a repeat within it returns the first receipt and publishes nothing.',
      format: 'duration',
      default: '10m',
      env: 'IDEMPOTENCY_WINDOW',
    },
    maxKeys: { doc: 'Most keys remembered at once (oldest forgotten first).', format: 'nat', default: 100000, env: 'IDEMPOTENCY_MAX_KEYS' },
    maxBytes: { doc: 'Most bytes the in-memory store keeps (oldest forgotten first).', format: 'byte-size', default: '64mb', env: 'IDEMPOTENCY_MAX_BYTES' },
    maxReplyBytes: {
      doc: 'Largest request-reply body kept for replay; a repeat of a key whose reply was larger gets 409 idempotency_reply_not_kept.',
      format: 'byte-size',
      default: '64kb',
      env: 'IDEMPOTENCY_MAX_REPLY_BYTES',
    },
    store: {
      doc: "Shared store for keys across replicas (redis://host:6379/0, or a scheme a plugin serves); empty: this instance's memory.",
      format: 'idempotency-store',
      default: '',
      env: 'IDEMPOTENCY_STORE',
      sensitive: true,
    },
  },
  rateLimit: {
    store: {
      doc: 'Shared store for route rate limits across replicas (redis://…); empty: a bucket per instance.',
      format: 'state-store',
      default: '',
      env: 'RATE_LIMIT_STORE',
      sensitive: true,
    },
  },
  instanceId: {
    doc: 'Who this replica is, stable across its restarts: plugins name durable broker sessions from it. Empty: the host name.',
    format: String,
    default: '',
    env: 'BUSGATE_INSTANCE_ID',
  },
  stateKeyPrefix: {
    doc: 'Prefix of every key busgate writes to a shared store (separates deployments on one Redis).',
    format: String,
    default: 'busgate:',
    env: 'STATE_KEY_PREFIX',
  },
  auth: {
    keys: {
      doc: 'API keys as name:secret pairs, comma-separated. When any key is configured, every route needs one.',
      format: String,
      default: '',
      env: 'BUSGATE_API_KEYS',
      sensitive: true,
    },
    keysFile: {
      doc: 'A file of API keys, one name:secret per line (# comments allowed); merged with auth.keys.',
      format: String,
      default: '',
      env: 'BUSGATE_API_KEYS_FILE',
    },
    protectOperational: {
      doc: 'Also require a key for /metrics and /ready (/health never needs one).',
      format: Boolean,
      default: false,
      env: 'BUSGATE_PROTECT_OPERATIONAL',
    },
  },
  limits: {
    maxHeaders: { doc: 'Most request headers; more gets 431.', format: 'nat', default: 100, env: 'MAX_HEADERS' },
    maxHeaderBytes: { doc: 'Largest total header size in bytes; more gets 431.', format: 'nat', default: 16384, env: 'MAX_HEADER_BYTES' },
    headersTimeout: { doc: 'Time a client has to send all headers.', format: 'duration', default: '10s', env: 'HEADERS_TIMEOUT' },
    requestTimeout: { doc: 'Time a client has to send the whole request.', format: 'duration', default: '30s', env: 'REQUEST_TIMEOUT' },
  },
  streams: {
    maxStreams: {
      doc: 'Most streams (SSE and WebSocket clients) one instance serves; more get 429 too_many_streams.',
      format: 'nat',
      default: 1000,
      env: 'STREAMS_MAX',
    },
    maxStreamsPerClient: {
      doc: 'Most streams one API key may have open on one instance; more get 429 too_many_streams.',
      format: 'nat',
      default: 20,
      env: 'STREAMS_MAX_PER_CLIENT',
    },
    heartbeat: { doc: 'Interval of SSE heartbeat comments and WebSocket pings on a stream.', format: 'duration', default: '15s', env: 'STREAMS_HEARTBEAT' },
    maxUnread: {
      doc: 'Bytes a stream client may leave unread before it is disconnected with reason slow_client.',
      format: 'byte-size',
      default: '1mb',
      env: 'STREAMS_MAX_UNREAD',
    },
  },
  tracing: {
    endpoint: {
      doc: 'OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); spans are exported only when set. traceparent is propagated either way.',
      format: String,
      default: '',
      env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    },
    serviceName: { doc: 'service.name of exported spans.', format: String, default: 'busgate', env: 'OTEL_SERVICE_NAME' },
  },
  tap: {
    enabled: {
      doc: 'Serve GET /tap/:broker/:destination, a server-sent-events view of a destination (for demos and debugging; it consumes messages).',
      format: Boolean,
      default: false,
      env: 'TAP_ENABLED',
    },
    allowInProduction: {
      doc: 'The tap is a development aid: with NODE_ENV=production the daemon refuses to start with it on unless this is true.',
      format: Boolean,
      default: false,
      env: 'TAP_ALLOW_IN_PRODUCTION',
    },
  },
  console: {
    enabled: { doc: 'Serve the web console at GET / (routes, broker status, rates, test sends).', format: Boolean, default: false, env: 'CONSOLE_ENABLED' },
  },
  brokers: {
    doc: 'Named broker instances: { name: { plugin, options } }. The built-in plugins (package.json busgate.builtInPlugins) each have an implicit instance.',
    // Object makes convict treat the map as one value; its shape is checked by brokerInstanceProblems.
    format: Object,
    default: {},
  },
};

/**
 * The settings built-in plugins declare for their implicit instance (NATS_URL and the like), as
 * convict entries under the key each declares: `nats.url` becomes { nats: { url: {...} } }.
 */
function builtInSchema(settings: readonly BuiltInSetting[]): Record<string, unknown> {
  const tree: Record<string, Record<string, unknown>> = {};
  for (const setting of settings) {
    const [group, leaf, ...rest] = setting.key.split('.');
    if (group === undefined || leaf === undefined || rest.length > 0)
      throw new StartupError('config_invalid', `plugin setting key "${setting.key}" must be "group.name"`);
    (tree[group] ??= {})[leaf] = {
      doc: setting.doc,
      format: setting.list ? Array : String,
      default: setting.list ? [...setting.default] : setting.default,
      env: setting.env,
      ...(setting.sensitive ? { sensitive: true } : {}),
    };
  }
  return tree;
}

function builtInSettings(): BuiltInSetting[] {
  return builtInManifests().flatMap((manifest) => manifest.builtIn?.settings ?? []);
}

export interface BrokerInstanceConfig {
  readonly plugin: string;
  readonly options: Readonly<Record<string, unknown>>;
}

export interface DaemonConfig {
  readonly port: number;
  readonly host: string;
  readonly routesFile: string;
  readonly watchRoutes: boolean;
  /**
   * Worker processes; 0 in the file means one per CPU, resolved here. 'auto' is resolved when the
   * daemon starts, from the routes file (core/workers.ts).
   */
  readonly workers: number | 'auto';
  readonly optimizeForSize: boolean | 'auto';
  readonly logLevel: 'error' | 'warn' | 'info' | 'debug';
  readonly logFormat: 'auto' | 'json' | 'pretty';
  readonly bodyLimit: string;
  readonly defaultTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly shutdownDelayMs: number;
  readonly maxInFlightPerBroker: number;
  readonly tapEnabled: boolean;
  readonly tracing: { readonly endpoint: string; readonly serviceName: string };
  readonly consoleEnabled: boolean;
  readonly idempotency: {
    readonly windowMs: number;
    readonly maxKeys: number;
    readonly maxBytes: number;
    readonly maxReplyBytes: number;
    /** Shared store URL; "" keeps keys in this instance's memory. */
    readonly store: string;
  };
  /** Shared store URL for rate-limit buckets; "" keeps them per instance. */
  readonly rateLimitStore: string;
  readonly stateKeyPrefix: string;
  /** This replica's stable identity, given to plugins (PluginContext.instanceId). */
  readonly instanceId: string;
  /** Client name -> secret. Never logged. */
  readonly apiKeys: ReadonlyMap<string, string>;
  readonly protectOperational: boolean;
  readonly limits: { readonly maxHeaders: number; readonly maxHeaderBytes: number; readonly headersTimeoutMs: number; readonly requestTimeoutMs: number };
  /** Stream limits (config `streams.*`); absent: the defaults in core/streams/model.ts. */
  readonly streams?: StreamLimits;
  /** Every instance a route may name, the implicit built-in ones included. */
  readonly brokers: Readonly<Record<string, BrokerInstanceConfig>>;
  /** Relative plugin paths are resolved from here. */
  readonly configDir: string;
}

export interface ConfigSources {
  readonly args?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

function resolveWorkerCount(setting: number | 'auto'): number | 'auto' {
  return setting === 0 ? os.availableParallelism() : setting;
}

export function loadConfig(sources: ConfigSources = {}): DaemonConfig {
  const env = sources.env ?? process.env;
  const args = [...(sources.args ?? [])];
  const cwd = sources.cwd ?? process.cwd();
  const explicitFile = takeFlag(args, '--config') ?? env.BUSGATE_CONFIG;

  const config = convict({ ...builtInSchema(builtInSettings()), ...coreSchema }, { args, env });
  const files = [path.join(cwd, 'config', 'default.yaml'), path.join(cwd, 'config', `${env.NODE_ENV ?? 'development'}.yaml`)].filter((file) =>
    fs.existsSync(file),
  );
  if (explicitFile !== undefined) {
    const file = path.resolve(cwd, explicitFile);
    if (!fs.existsSync(file)) throw new StartupError('config_invalid', `config file not found: ${file}`);
    files.push(file);
  }
  try {
    for (const file of files) config.loadFile(file);
    config.validate({ allowed: 'strict' });
    if (env.NODE_ENV === 'production' && config.get('tap.enabled') && !config.get('tap.allowInProduction')) {
      throw new Error(
        'tap.enabled: the tap is a development aid (it shows message contents and a point-to-point tap takes messages from real consumers); it is refused with NODE_ENV=production unless tap.allowInProduction is true',
      );
    }
    const problems = brokerInstanceProblems(config.get('brokers'));
    if (problems.length > 0) throw new Error(problems.map((problem) => `brokers: ${problem}`).join('\n'));
  } catch (error) {
    const lines = String(error instanceof Error ? error.message : error)
      .split('\n')
      .filter(Boolean);
    throw new StartupError('config_invalid', 'the daemon configuration is invalid', lines, error);
  }

  const configDir = explicitFile !== undefined ? path.dirname(path.resolve(cwd, explicitFile)) : path.join(cwd, 'config');
  return {
    port: config.get('port'),
    host: config.get('host'),
    routesFile: path.resolve(cwd, config.get('routesFile')),
    watchRoutes: config.get('watchRoutes'),
    workers: resolveWorkerCount(config.get('workers') as number | 'auto'),
    optimizeForSize: config.get('optimizeForSize') as boolean | 'auto',
    logLevel: config.get('logLevel') as DaemonConfig['logLevel'],
    logFormat: config.get('logFormat') as DaemonConfig['logFormat'],
    bodyLimit: config.get('bodyLimit'),
    defaultTimeoutMs: parseDuration(config.get('defaultTimeout'))!,
    shutdownTimeoutMs: parseDuration(config.get('shutdownTimeout'))!,
    shutdownDelayMs: parseDuration(config.get('shutdownDelay')) ?? 0,
    maxInFlightPerBroker: config.get('maxInFlightPerBroker'),
    tapEnabled: config.get('tap.enabled'),
    tracing: { endpoint: config.get('tracing.endpoint'), serviceName: config.get('tracing.serviceName') },
    consoleEnabled: config.get('console.enabled'),
    idempotency: {
      windowMs: parseDuration(config.get('idempotency.window'))!,
      maxKeys: config.get('idempotency.maxKeys'),
      maxBytes: parseByteSize(config.get('idempotency.maxBytes'))!,
      maxReplyBytes: parseByteSize(config.get('idempotency.maxReplyBytes'))!,
      store: config.get('idempotency.store'),
    },
    rateLimitStore: config.get('rateLimit.store'),
    stateKeyPrefix: config.get('stateKeyPrefix'),
    instanceId: config.get('instanceId') || os.hostname(),
    apiKeys: readApiKeys(config.get('auth.keys'), config.get('auth.keysFile'), cwd),
    protectOperational: config.get('auth.protectOperational'),
    limits: {
      maxHeaders: config.get('limits.maxHeaders'),
      maxHeaderBytes: config.get('limits.maxHeaderBytes'),
      headersTimeoutMs: parseDuration(config.get('limits.headersTimeout'))!,
      requestTimeoutMs: parseDuration(config.get('limits.requestTimeout'))!,
    },
    streams: {
      maxStreams: config.get('streams.maxStreams'),
      maxStreamsPerClient: config.get('streams.maxStreamsPerClient'),
      heartbeatMs: parseDuration(config.get('streams.heartbeat'))!,
      maxBufferedBytes: parseByteSize(config.get('streams.maxUnread'))!,
    },
    brokers: withImplicitInstances(
      config.get('brokers'),
      implicitInstances((key) => config.get(key as never)),
    ),
    configDir,
  };
}

/**
 * Each built-in plugin has an instance of its own name that works without any declaration, fed by
 * the settings the plugin declares (NATS_URL, KAFKA_BROKERS, AMQP_URL for the shipped ones).
 */
function implicitInstances(read: (key: string) => unknown): Record<string, BrokerInstanceConfig> {
  const implicit: Record<string, BrokerInstanceConfig> = {};
  for (const manifest of builtInManifests()) {
    if (!manifest.builtIn) continue;
    const options: Record<string, unknown> = {};
    for (const setting of manifest.builtIn.settings) {
      const value = read(setting.key);
      options[setting.option] = setting.list
        ? (value as unknown[])
            .map(String)
            .map((s) => s.trim())
            .filter(Boolean)
        : value;
    }
    implicit[manifest.builtIn.instance] = { plugin: manifest.name, options };
  }
  return implicit;
}

/** A declared instance of a built-in's name wins, but inherits its settings underneath its own options. */
function withImplicitInstances(
  declared: Record<string, Partial<BrokerInstanceConfig>>,
  implicit: Record<string, BrokerInstanceConfig>,
): Record<string, BrokerInstanceConfig> {
  const result: Record<string, BrokerInstanceConfig> = { ...implicit };
  for (const [name, instance] of Object.entries(declared)) {
    const inherited = implicit[name]?.plugin === instance.plugin ? implicit[name]!.options : {};
    result[name] = { plugin: instance.plugin!, options: { ...inherited, ...(instance.options ?? {}) } };
  }
  return result;
}

/** API keys from `name:secret` pairs (env) and a keys file; secrets never go in routes.yaml. */
function readApiKeys(inline: string, file: string, cwd: string): Map<string, string> {
  const lines = inline.split(',');
  if (file) {
    const resolved = path.resolve(cwd, file);
    if (!fs.existsSync(resolved)) throw new StartupError('config_invalid', `API keys file not found: ${resolved}`);
    lines.push(...fs.readFileSync(resolved, 'utf8').split('\n'));
  }
  const keys = new Map<string, string>();
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const separator = line.indexOf(':');
    const name = line.slice(0, separator).trim();
    const secret = line.slice(separator + 1).trim();
    if (separator <= 0 || !INSTANCE_NAME.test(name) || secret.length < 16) {
      throw new StartupError(
        'config_invalid',
        `an API key entry is not "name:secret" with a lower-case name and a secret of 16+ characters (entry for "${name || '?'}")`,
      );
    }
    if (keys.has(name)) throw new StartupError('config_invalid', `API key name "${name}" appears twice`);
    keys.set(name, secret);
  }
  return keys;
}

function takeFlag(args: string[], flag: string): string | undefined {
  const index = args.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`));
  if (index === -1) return undefined;
  const arg = args[index]!;
  if (arg.includes('=')) {
    args.splice(index, 1);
    return arg.slice(flag.length + 1);
  }
  const value = args[index + 1];
  args.splice(index, 2);
  return value;
}

/** Every environment variable the daemon reads (deployment manifests are checked against it). */
export function configEnvNames(): string[] {
  const names = ['BUSGATE_CONFIG', 'NODE_ENV'];
  const walk = (node: object): void => {
    for (const value of Object.values(node) as unknown[]) {
      if (typeof value !== 'object' || value === null) continue;
      const env = (value as { env?: unknown }).env;
      if (typeof env === 'string') names.push(env);
      else walk(value);
    }
  };
  walk({ ...builtInSchema(builtInSettings()), ...coreSchema });
  return names;
}

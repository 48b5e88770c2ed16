/**
 * The plugin contract: everything a broker plugin and the core agree on. A plugin only speaks its
 * broker's protocol; deadlines, in-flight bounds, reconnect scheduling of the first connection,
 * metrics and logging labels belong to the core (see core/brokers/instance.ts).
 */
export const PLUGIN_API_VERSION = 1 as const;

/** Structured fields of a log line (the core adds broker and plugin labels itself). */
export type LogFields = Readonly<Record<string, unknown>>;

/**
 * The logger a plugin is given. Deliberately small, so a plugin's types depend on no logging
 * library: the daemon passes winston's logger, which satisfies it; a test may pass console-like
 * stubs. Lines should be one sentence; put values in `fields`, never credentials.
 */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  /** Optional: lets a plugin skip producing debug lines nobody keeps (a client library's tracing). */
  isDebugEnabled?(): boolean;
}

export const MODES = ['pubsub', 'point-to-point', 'request-reply'] as const;
export type Mode = (typeof MODES)[number];

export function isMode(value: unknown): value is Mode {
  return typeof value === 'string' && (MODES as readonly string[]).includes(value);
}

/** A message on its way to the broker. Header names are lower case. */
export interface OutboundMessage {
  /**
   * busgate's id for this message: a random UUID, or one derived from client, route and the
   * client's Idempotency-Key (core/dedupe-id.ts), so one client's retry keeps its id and another
   * client's identical key never shares it.
   */
  readonly id: string;
  /**
   * The id to hand a broker that drops repeated ids (JetStream Nats-Msg-Id). The core sets it to
   * `id`; it stays a separate field so that a plugin can tell the core's scoped id from a message
   * the core did not make (such as a reply), where it is absent: use `id` then.
   */
  readonly dedupeId?: string;
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType?: string;
  /** Partition key (Kafka) or routing key (RabbitMQ), when the route renders one. */
  readonly key?: string;
}

/** A message as a consumer or responder sees it. */
export interface InboundMessage {
  readonly destination: string;
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType?: string;
  readonly key?: string;
  /** Where the message came from, for consumers that need it (egress); absent on replies. */
  readonly delivery?: DeliveryInfo;
}

/**
 * What a consumer may learn about one delivery. Each field is filled where the broker has it:
 * egress puts the id in `webhook-id`, the position in `busgate-position`, and counts redeliveries.
 */
export interface DeliveryInfo {
  /** A stable id for the message, the same on every redelivery (busgate-id, or a broker id). */
  readonly messageId?: string;
  /** The source position as name=value pairs: Kafka `partition`/`offset`, JetStream `stream`/`seq`. */
  readonly position?: Readonly<Record<string, string>>;
  /** How many times the broker delivered this message before (0 = first delivery), if it knows. */
  readonly redeliveries?: number;
  /**
   * History subscriptions only (SubscribeOptions.from): the token that, passed back as `from`,
   * continues with the message right after this one. Opaque to the core; it encodes the whole
   * read position (every Kafka partition), so resuming from it neither skips nor repeats.
   */
  readonly resumeToken?: string;
}

/** What the broker said when it accepted a message: the id plus broker details (partition, seq...). */
export interface Receipt {
  readonly id: string;
  readonly [detail: string]: unknown;
}

export interface Reply {
  readonly payload: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly contentType?: string;
}

export interface SendContext {
  /** Aborted when the core's deadline passes or the daemon shuts down: stop waiting then. */
  readonly signal: AbortSignal;
  /** The route's deadline in milliseconds (how long a request-reply waits for its reply). */
  readonly timeoutMs: number;
  /** The route's `options:` block, already validated against the plugin's routeOptionsSchema. */
  readonly options: Readonly<Record<string, unknown>>;
}

export interface SubscribeOptions {
  /**
   * pubsub: this subscriber gets every message published after the returned promise resolves.
   * point-to-point: it competes with every other consumer of the destination; each message goes
   * to exactly one of them.
   */
  readonly mode: 'pubsub' | 'point-to-point';
  /** Route-style options (the same shape as a route's `options:`), e.g. an exchange type. */
  readonly options?: Readonly<Record<string, unknown>>;
  /**
   * A durable, named consumer (egress): the Kafka group, the JetStream durable, the RabbitMQ
   * queue bound to a pubsub exchange. Subscribers with the same group share its messages, across
   * daemons; it keeps its place while nobody is subscribed. Only for plugins declaring
   * `egress.durableGroups`; absent: the plugin's own default (a private pubsub subscriber).
   */
  readonly group?: string;
  /**
   * Most handler calls left unsettled at once (default 1). Plugins declaring
   * `egress.concurrentHandlers` call the handler for the next message while earlier ones are
   * still pending, in delivery order, and never exceed this bound (RabbitMQ prefetch, JetStream
   * pull size, Kafka in-flight window); others call it one at a time.
   */
  readonly maxInFlight?: number;
  /**
   * Read the source's history instead of only what arrives while subscribed. Only for plugins
   * declaring `egress.history`, pubsub without a group, on a source whose options match
   * `history.when`. 'now': start at the end, as a live subscriber would, but hand out resume
   * tokens; `{ token }`: continue right after the message that carried this resumeToken (or
   * where the subscription that reported it as `start` began).
   */
  readonly from?: 'now' | { readonly token: string };
}

export interface Subscription {
  close(): Promise<void>;
  /** History subscriptions (SubscribeOptions.from): the token of the position it started at. */
  readonly start?: string;
  /**
   * Resumed from a token the broker no longer holds (retention, a purge): reading starts at the
   * oldest message still kept, and what lay in between is lost. Absent or false: no gap.
   */
  readonly gap?: boolean;
  /**
   * Messages waiting in the broker for this subscriber and not handed to it yet (Kafka consumer
   * lag, JetStream pending, queue depth), for egress metrics. Absent or undefined: unknown.
   */
  backlog?(): Promise<number | undefined>;
}

export interface PreflightResult {
  readonly ok: boolean;
  /** One line: what was found ("stream ORDERS, workqueue") or why the route cannot work. */
  readonly detail: string;
}

/**
 * One place a route sends to on a broker instance, as routes.yaml writes it. A plugin that sets up
 * topology for its routes (exchanges, queues, streams) learns them from this (see prepare()).
 */
export interface RouteTarget {
  /** The route's name, for log lines. */
  readonly route: string;
  readonly mode: Mode;
  /** The destination template's source text; the destination itself when isStatic. */
  readonly destination: string;
  /** False when the destination has placeholders: its real names are only known per request. */
  readonly isStatic: boolean;
  /** The route's `options:` block, validated against routeOptionsSchema. */
  readonly options: Readonly<Record<string, unknown>>;
}

export interface BrokerHealth {
  readonly up: boolean;
  /** One short line for /ready; never credentials. */
  readonly detail?: string;
  /**
   * What the plugin refuses before sending because its broker would close the connection or
   * channel over it (bytes; some read from the broker at connect time). /ready shows them.
   * A plugin refuses such a message with `exceeds_broker_limit` (400) or `message_too_large`
   * (413), never by letting the broker drop a connection every other client shares.
   */
  readonly limits?: Readonly<Record<string, number>>;
}

export interface BrokerPlugin {
  /**
   * Resolves once the broker is reachable and ready for sends. Rejects when it is not; the core
   * then retries with backoff in the background and answers this broker's routes with 503.
   * After the first success the plugin keeps itself connected (reconnects by itself).
   */
  connect(signal: AbortSignal): Promise<void>;

  /** pubsub: every subscriber gets the message. Resolves only after the broker accepted it. */
  publish(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt>;
  /** point-to-point: exactly one consumer gets the message. Resolves after the broker stored it. */
  enqueue(destination: string, message: OutboundMessage, context: SendContext): Promise<Receipt>;
  /** request-reply: resolves with the responder's reply. */
  request(destination: string, message: OutboundMessage, context: SendContext): Promise<Reply>;

  /**
   * Consume a destination. The handler's promise settling is the acknowledgement: resolve to ack,
   * reject to hand the message back for redelivery where the broker can. Resolves when the
   * subscription is live (a message published afterwards will reach it).
   *
   * While a handler's promise is pending the plugin holds the message for it, however long that
   * takes (egress retries with backoff inside the handler): it keeps the broker from redelivering
   * it elsewhere (JetStream in-progress acks, Kafka heartbeats, an unacked AMQP delivery) and
   * takes no more than `maxInFlight` messages.
   */
  subscribe(destination: string, options: SubscribeOptions, onMessage: (message: InboundMessage) => Promise<void>): Promise<Subscription>;

  /** Answer request-reply traffic on a destination (used by tests, demos and the tap). */
  respond(destination: string, onRequest: (message: InboundMessage) => Promise<Reply>): Promise<Subscription>;

  health(): BrokerHealth;

  /**
   * Optional. The targets of every route served on this broker instance. The core calls it after
   * connect() resolved and before any of those routes is served, and again with the new list when
   * the routes are reloaded, before the new routes are served. A plugin that creates topology
   * does it here (and again on each reconnect, before it reports itself up), never on the send
   * path: a definition created moments before messages depend on it is the first thing a crash
   * can take. Rejecting keeps the broker's routes unserved (503); the core retries with backoff.
   */
  prepare?(targets: readonly RouteTarget[], signal: AbortSignal): Promise<void>;

  /**
   * For `busgate check --live`: can a route of this mode reach this destination right now (the
   * stream, exchange, queue or topic exists; a request queue has consumers)? Read-only: it
   * declares nothing and sends nothing. Absent: only connectivity is checked.
   */
  preflight?(mode: Mode, destination: string, options: Readonly<Record<string, unknown>>): Promise<PreflightResult>;

  /** Idempotent. Finishes or fails what is in flight, then releases every connection. */
  close(): Promise<void>;
}

/**
 * What a plugin can do for egress (broker -> HTTP), declared as data: the core lints
 * subscriptions against it and never asks which plugin it is talking to.
 */
export interface EgressCapabilities {
  /** `group` names a durable consumer shared across daemons (see SubscribeOptions.group). */
  readonly durableGroups: boolean;
  /** The handler is called concurrently, up to `maxInFlight` (see SubscribeOptions.maxInFlight). */
  readonly concurrentHandlers: boolean;
  /** What fills InboundMessage.key, the ordering key of `ordering: key` (one line, for docs/lint). */
  readonly orderingKey: string;
  /** Whether a pending handler holds its message for as long as it takes (else: a bound, in ms). */
  readonly holdLimitMs?: number;
  /**
   * Route options under which `preflight(mode, source)` checks what a subscription of that mode
   * reads, when that differs from a plain route (NATS: a pubsub subscription reads a stream, as a
   * persistent route writes one).
   */
  readonly sourceCheckOptions?: Partial<Record<'pubsub' | 'point-to-point', Readonly<Record<string, unknown>>>>;
  /** Optional: the broker keeps history a pubsub subscriber can resume from (SubscribeOptions.from). */
  readonly history?: HistoryCapability;
}

/** Resume from history, declared as data so the core decides before subscribing (streams). */
export interface HistoryCapability {
  /** Route options a source needs for history (NATS: `persistent: true`, a JetStream stream); {} = every source. */
  readonly when: Readonly<Record<string, unknown>>;
  /** What a resume token encodes, one line for the docs. */
  readonly position: string;
  /** A problem with a client-supplied token (malformed), or undefined; checked before subscribing. */
  checkToken(token: string): string | undefined;
}

/** JSON Schema, as ajv takes it. Kept loose on purpose: plugins may use any draft-07 keyword. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** The plugin declarations the contract features (core/contracts/) read. */
export type ContractDeclarations = Pick<PluginFactory, 'cloudEvents' | 'receiptSchema' | 'asyncApi'>;

export interface AsyncApiBindings {
  readonly channel?: Readonly<Record<string, unknown>>;
  readonly operation?: Readonly<Record<string, unknown>>;
  readonly message?: Readonly<Record<string, unknown>>;
}

export interface AsyncApiDeclaration {
  readonly protocol: string;
  bindings?(mode: Mode, destination: string, options: Readonly<Record<string, unknown>>, hasKey: boolean): AsyncApiBindings;
  /** How a responder finds where to answer a request-reply route (the document's `reply`). */
  readonly reply?: AsyncApiReply;
}

/**
 * Where a request names its reply address and its correlation. The locations are AsyncAPI runtime
 * expressions and only fit where the broker carries them as message headers
 * (`$message.header#/reply-to`); a protocol field (a NATS reply subject, an AMQP property) has
 * none, so the description says where it is.
 */
export interface AsyncApiReply {
  readonly description: string;
  readonly addressLocation?: string;
  readonly correlationLocation?: string;
}

export interface PluginContext {
  /** The broker instance name from the config (e.g. `kafka` or `kafka-eu`); use it in logs. */
  readonly name: string;
  /**
   * This busgate deployment member, stable across its restarts (config `instanceId`, env
   * BUSGATE_INSTANCE_ID; default: the host name, which is the pod name in a StatefulSet). Name
   * durable broker sessions from it (MQTT client ids, Kafka static membership): the same after a
   * restart, different for each replica. Not unique per broker instance; add `name` for that.
   */
  readonly instanceId: string;
  readonly logger: Logger;
}

export interface PluginFactory<Options = Record<string, unknown>> {
  readonly apiVersion: typeof PLUGIN_API_VERSION;
  readonly name: string;
  readonly description?: string;
  /** What this broker can do; routes are linted against it without connecting. */
  readonly modes: readonly Mode[];
  /** Connection options of a broker instance; defaults in it are applied before create(). */
  readonly optionsSchema: JsonSchema;
  /** A route's `options:` block; routes are linted against it. Absent means no options allowed. */
  readonly routeOptionsSchema?: JsonSchema;
  /**
   * Whether one value rendered into a destination or key is a single safe token for this broker
   * (no separators, wildcards or reserved prefixes). Absent: the core's conservative default.
   */
  isSafeToken?(value: string, field: 'destination' | 'key'): boolean;
  /** Egress support; absent: the plugin cannot be the source of a subscription. */
  readonly egress?: EgressCapabilities;
  /** A whole destination check, e.g. Kafka's topic charset and length. Returns a problem or undefined. */
  checkDestination?(destination: string): string | undefined;
  /**
   * A whole key check (partition key, routing key): length, forbidden characters. Returns a problem
   * or undefined. Applied to fixed keys when the routes load; per-value safety is isSafeToken's.
   */
  checkKey?(key: string): string | undefined;
  /**
   * How CloudEvents attributes travel on this broker (its CloudEvents protocol binding, binary
   * mode): each attribute becomes a header named prefix + attribute, e.g. `ce_id` on Kafka.
   * Absent: `ce-`, percent-encoded, as over HTTP. The data content type is the message's content type.
   */
  readonly cloudEvents?: { readonly attributePrefix: string; readonly percentEncoded?: boolean };
  /** The broker details a receipt adds to id/broker/mode/destination (for the OpenAPI document). */
  readonly receiptSchema?: JsonSchema;
  /**
   * How this broker appears in the AsyncAPI document: its protocol name (`kafka`, `amqp`,
   * `nats`...) and, where AsyncAPI 3 has bindings for it, the binding objects of a route's
   * channel, send operation and message. Absent: the channels carry no bindings.
   */
  readonly asyncApi?: AsyncApiDeclaration;
  /**
   * Destinations only the plugin itself may use with these instance options (Kafka: the shared
   * reply topic, which carries every client's replies). A route whose destination template could
   * render one is refused by the linter, and the tap never reads one.
   */
  reservedDestinations?(options: Options): readonly string[];
  /**
   * Header names a route may not forward to this broker because the plugin or the broker gives
   * them meaning (lower case; an entry ending in `*` is a prefix, e.g. `nats-*`). The core adds its
   * own (credentials, busgate-*, content-type...) for every broker.
   */
  readonly reservedHeaders?: readonly string[];
  /**
   * Optional: this broker as the shared idempotency store of several replicas
   * (IDEMPOTENCY_STORE=<scheme>://…, the schemes listed as `claimStoreSchemes` in plugin.json).
   * The core has Redis built in; see core/state/shared-idempotency.ts for the protocol.
   */
  readonly claimStore?: ClaimStoreProvider;
  create(options: Options, context: PluginContext): BrokerPlugin;
}

/**
 * Idempotency claims shared by replicas. A value is either a claim (see claimLeaseEnd in the
 * public entry point) or a kept answer; each method rejects when the store cannot be reached.
 */
export interface ClaimStore {
  /** Stores `claim` under `key` if nothing (or an expired claim) is there; true when it did. */
  claim(key: string, claim: string, leaseMs: number): Promise<boolean>;
  /** The value under `key`, or null. */
  read(key: string): Promise<string | null>;
  /** Replaces `claim` by `value` (kept for windowMs), or deletes it when value is ""; only while the claim is still there. */
  settle(key: string, claim: string, value: string, windowMs: number): Promise<void>;
}

export interface ClaimStoreProvider {
  /** Opens the store; keys are any strings (the store encodes them as its names require). */
  open(
    url: string,
    settings: { readonly keyPrefix: string; readonly windowMs: number },
    context: { readonly logger: Logger },
  ): Promise<ClaimStore & { close(): Promise<void> }>;
}

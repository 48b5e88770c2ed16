/**
 * The state a request may share with other replicas: idempotency keys and rate-limit buckets.
 * Each lives in this instance's memory unless its setting names a shared store
 * (IDEMPOTENCY_STORE, RATE_LIMIT_STORE); both on one URL share one connection. A worker of a
 * daemon with WORKERS > 1 and no shared store keeps them in the primary process instead, so the
 * daemon behaves as one (core/state/primary-state.ts). See the README section "Running several
 * replicas" for what is shared and what is not.
 */
import { Counter, Gauge } from 'prom-client';
import type { Logger } from 'winston';
import type { DaemonConfig } from '../config.js';
import { StartupError } from '../errors.js';
import { claimStorePlugin } from '../plugins/built-ins.js';
import { loadPlugin } from '../plugins/load-plugin.js';
import { MemoryIdempotencyStore, type IdempotencyScope, type IdempotencyStore } from '../http/idempotency.js';
import { localRateLimits, type RateLimits } from '../http/rate-limit.js';
import type { Metrics } from '../observability/metrics.js';
import type { RedisConnection } from './redis-connection.js';
import { redisClaims } from './redis-claims.js';
import { SharedIdempotencyStore } from './shared-idempotency.js';
import type { ClaimStore } from '../plugins/contract.js';
import { redisRateLimits } from './redis-rate-limit.js';
import { primaryClaims, primaryRateLimits, type AskPrimary } from './primary-state.js';

export interface StateStores {
  readonly idempotency: IdempotencyStore;
  readonly rateLimits: RateLimits;
  close(): Promise<void>;
}

export async function createStateStores(
  config: Pick<DaemonConfig, 'idempotency' | 'rateLimitStore' | 'stateKeyPrefix' | 'configDir'>,
  deps: {
    metrics: Metrics;
    logger: Logger;
    connectWaitMs: number;
    /** Set in a worker of WORKERS > 1: what no shared store holds is kept by the primary. */
    askPrimary?: AskPrimary | undefined;
  },
): Promise<StateStores> {
  const errors = new Counter({
    name: 'busgate_state_store_errors_total',
    help: 'Failed calls to a shared state store, by store (idempotency, rate_limit) and operation.',
    labelNames: ['store', 'operation'] as const,
    registers: [deps.metrics.registry],
  });
  // @redis/client costs about 10 MB of RSS once loaded: only a daemon whose stores use Redis loads it.
  const usesRedis = (config.idempotency.store !== '' && /^rediss?:/.test(config.idempotency.store)) || config.rateLimitStore !== '';
  const redis = usesRedis ? await import('./redis-connection.js') : undefined;
  const connections = new Map<string, RedisConnection>();
  const connect = (url: string): RedisConnection => {
    let connection = connections.get(url);
    if (!connection) connections.set(url, (connection = new redis!.RedisConnection({ url, logger: deps.logger })));
    return connection;
  };

  const closers: (() => Promise<void>)[] = [];
  let idempotency: IdempotencyStore;
  if (config.idempotency.store) {
    const url = config.idempotency.store;
    let claims: ClaimStore;
    let keyOf: (scope: IdempotencyScope) => string;
    if (/^rediss?:/.test(url)) {
      claims = redisClaims(connect(url));
      keyOf = (scope) => `${config.stateKeyPrefix}idem:${encodeURIComponent(scope.route)}:${scope.client}:${scope.key}`;
    } else {
      // Another scheme is served by the built-in plugin that declares it (config checked that one does).
      const scheme = url.slice(0, url.indexOf(':'));
      const plugin = await loadPlugin(claimStorePlugin(scheme)!, config.configDir);
      if (!plugin.claimStore) throw new StartupError('config_invalid', `plugin "${plugin.name}" declares ${scheme}:// stores but has no claimStore`);
      const opened = await plugin.claimStore.open(url, { keyPrefix: config.stateKeyPrefix, windowMs: config.idempotency.windowMs }, { logger: deps.logger });
      closers.push(() => opened.close());
      claims = opened;
      // Route and client names hold no NUL: the parts cannot run into each other.
      keyOf = (scope) => `${scope.route}\u0000${scope.client}\u0000${scope.key}`;
    }
    idempotency = new SharedIdempotencyStore(claims, {
      windowMs: config.idempotency.windowMs,
      maxReplyBytes: config.idempotency.maxReplyBytes,
      keyOf,
      logger: deps.logger,
      onError: (operation) => errors.inc({ store: 'idempotency', operation }),
    });
  } else if (deps.askPrimary) {
    idempotency = new SharedIdempotencyStore(primaryClaims(deps.askPrimary), {
      windowMs: config.idempotency.windowMs,
      maxReplyBytes: config.idempotency.maxReplyBytes,
      // Route and client names hold no NUL: the parts cannot run into each other.
      keyOf: (scope) => `${scope.route}\u0000${scope.client}\u0000${scope.key}`,
      logger: deps.logger,
      onError: (operation) => errors.inc({ store: 'idempotency', operation }),
    });
  } else {
    const memory = new MemoryIdempotencyStore(config.idempotency);
    new Gauge({
      name: 'busgate_idempotency_memory_bytes',
      help: 'Bytes the in-memory idempotency store keeps (estimated; bounded by idempotency.maxBytes).',
      registers: [deps.metrics.registry],
      collect() {
        this.set(memory.bytes);
      },
    });
    idempotency = memory;
  }

  const rateLimits = config.rateLimitStore
    ? redisRateLimits(connect(config.rateLimitStore), {
        keyPrefix: config.stateKeyPrefix,
        onError: () => errors.inc({ store: 'rate_limit', operation: 'take' }),
      })
    : deps.askPrimary
      ? primaryRateLimits(deps.askPrimary, () => errors.inc({ store: 'rate_limit', operation: 'take' }))
      : localRateLimits;

  await Promise.all([...connections.values()].map((connection) => connection.start(deps.connectWaitMs)));
  return {
    idempotency,
    rateLimits,
    close: async () => {
      await Promise.all([...[...connections.values()].map((connection) => connection.close()), ...closers.map((close) => close())]);
    },
  };
}

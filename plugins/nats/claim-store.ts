/**
 * Idempotency claims in a JetStream KV bucket, for deployments that run NATS and no Redis
 * (IDEMPOTENCY_STORE=nats://…). The bucket's TTL is the window; `create` only succeeds when the
 * key is absent or deleted (the claim), and `update` / `delete` with the claim's revision are
 * compare-and-set, so an answer only ever replaces our own claim. KV has no per-key TTL that
 * fits a lease, so a claim carries its lease end, and an expired one is taken over with a
 * compare-and-set on its revision.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { Logger } from '../../core/plugins/contract.js';
import type { ClaimStore, ClaimStoreProvider } from '../../core/plugins/contract.js';
import { maskSecrets } from '../../core/observability/logger.js';
import { claimLeaseEnd } from '../../core/state/shared-idempotency.js';

const OPERATION_TIMEOUT_MS = 1000;

/** The create failed because the key holds a value: not a store failure. */
function isTaken(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function live(entry: KvEntry | null): entry is KvEntry {
  return entry !== null && entry.operation === 'PUT';
}

export interface NatsKvClaims extends ClaimStore {
  close(): Promise<void>;
}

/** KV keys allow [-/_=.A-Za-z0-9]: the key is base64url-encoded (never empty: keys are scoped). */
function kvKey(key: string): string {
  return Buffer.from(key).toString('base64url');
}

/** IDEMPOTENCY_STORE=nats://…: the bucket is named after the key prefix ("busgate:" -> busgate_idempotency). */
export const claimStore: ClaimStoreProvider = {
  open: (url, settings, context) => natsKvClaims(url, `${settings.keyPrefix.replace(/[^A-Za-z0-9_-]/g, '_')}idempotency`, settings.windowMs, context.logger),
};

export async function natsKvClaims(url: string, bucket: string, windowMs: number, logger: Logger): Promise<NatsKvClaims> {
  let connection: NatsConnection | undefined;
  let kv: KV | undefined;
  let opening: Promise<KV> | undefined;
  const open = (): Promise<KV> =>
    (opening ??= (async () => {
      const servers = url.split(',').map((s) => s.trim());
      connection = await connect({ servers, reconnect: true, maxReconnectAttempts: -1, timeout: 2000 });
      const created = await new Kvm(connection).create(bucket, { ttl: windowMs, history: 1, timeout: OPERATION_TIMEOUT_MS });
      logger.info('shared state store connected', { store: maskSecrets(url), bucket });
      return (kv = created);
    })().catch((error: unknown) => {
      // The next request tries again; until then keyed requests are refused.
      opening = undefined;
      void connection?.close().catch(() => undefined);
      throw error;
    }));
  // While NATS is away, operations fail after OPERATION_TIMEOUT_MS (the client holds them meanwhile).
  const bucketOf = (): Promise<KV> => (kv ? Promise.resolve(kv) : open());
  // Start connecting now; a failure is logged, and the first keyed request tries again.
  await open().catch((error: unknown) => logger.warn('shared state store not reachable yet', { store: maskSecrets(url), error: String(error) }));

  // The revision each of our live claims was written at, so settling needs no read first.
  const revisions = new Map<string, number>();
  const own = (claim: string, revision: number): true => {
    revisions.set(claim, revision);
    return true;
  };
  return {
    async claim(rawKey, claim) {
      const key = kvKey(rawKey);
      const store = await bucketOf();
      try {
        return own(claim, await store.create(key, claim));
      } catch (error) {
        if (!isTaken(error)) throw error;
      }
      const entry = await store.get(key);
      // Deleted since: whoever creates it first wins.
      if (!live(entry))
        return store.create(key, claim).then(
          (revision) => own(claim, revision),
          () => false,
        );
      const leaseEnd = claimLeaseEnd(entry.string());
      if (leaseEnd === undefined || leaseEnd > Date.now()) return false;
      // The owner never settled (it died): take its expired claim over, unless someone was first.
      return store.update(key, claim, entry.revision).then(
        (revision) => own(claim, revision),
        () => false,
      );
    },
    async read(rawKey) {
      const entry = await (await bucketOf()).get(kvKey(rawKey));
      return live(entry) ? entry.string() : null;
    },
    async settle(rawKey, claim, value) {
      const key = kvKey(rawKey);
      const revision = revisions.get(claim);
      revisions.delete(claim);
      if (revision === undefined) return; // not a claim of this instance
      const store = await bucketOf();
      // Compare-and-set on the claim's revision: fails harmlessly when it was taken over.
      if (value === '') await store.delete(key, { previousSeq: revision });
      else await store.update(key, value, revision);
    },
    async close() {
      await connection?.drain().catch(() => undefined);
    },
  };
}

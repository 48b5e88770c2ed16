/**
 * Settling a lease held by another instance. Only the holder can settle: the message is a
 * pending handler promise in its process, on its broker connection (an AMQP delivery tag, a
 * JetStream reply subject, a Kafka offset of its group member). So an ack or nack for a lease
 * another instance issued is forwarded to that instance, over the pull path's own broker, as a
 * request-reply on the holder's control destination. Each instance answers on its own
 * destination from its first pull on that broker.
 *
 * Why the broker and not HTTP between replicas: the replicas need no address of each other, no
 * extra port, and no membership list; whatever lets them consume the source lets them reach each
 * other, and a request-reply answers whether the lease was settled, so the client learns the
 * outcome rather than a hope.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'winston';
import type { BrokerInstance } from '../brokers/instance.js';
import { describeError } from '../errors.js';
import type { InboundMessage, Reply, Subscription } from '../plugins/contract.js';
import type { SettleOutcome, Settlement } from './pull-source.js';

/** What one forwarded ack or nack asks of the holder. */
export interface SettleRequest {
  readonly path: string;
  readonly tokens: readonly string[];
  readonly settlement: Settlement;
}

const OUTCOMES: readonly SettleOutcome[] = ['settled', 'unknown', 'unreachable'];

/**
 * The holder's control destination: one token on every broker (letters, digits, `-`, `_`), stable
 * for an instance id, distinct for distinct ids (the hash) even where the readable part is cut.
 */
export function controlDestination(instanceId: string): string {
  const readable = instanceId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  const hash = createHash('sha256').update(instanceId).digest('hex').slice(0, 12);
  return `busgate-pulls-${readable}-${hash}`;
}

export class PullControl {
  private readonly responders = new Map<BrokerInstance, Promise<Subscription>>();

  constructor(
    private readonly instanceId: string,
    /** Settles leases this instance holds. */
    private readonly settleHere: (request: SettleRequest) => SettleOutcome[],
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Answers forwarded settlements on this broker from now on (before the first lease is issued on it). */
  async listen(broker: BrokerInstance): Promise<void> {
    let responder = this.responders.get(broker);
    if (responder === undefined) {
      responder = broker.respond(controlDestination(this.instanceId), (message) => Promise.resolve(this.answer(message)));
      this.responders.set(broker, responder);
      // A failed start is tried again at the next pull.
      responder.catch(() => this.responders.delete(broker));
    }
    await responder;
  }

  /** Asks `holder` to settle; every token is `unreachable` when it does not answer in time. */
  async forward(broker: BrokerInstance, holder: string, request: SettleRequest): Promise<SettleOutcome[]> {
    const unreachable = request.tokens.map((): SettleOutcome => 'unreachable');
    try {
      const result = await broker.send({
        mode: 'request-reply',
        destination: controlDestination(holder),
        message: { id: randomUUID(), payload: Buffer.from(JSON.stringify(request)), headers: {}, contentType: 'application/json' },
        timeoutMs: this.timeoutMs,
        options: {},
      });
      if (result.kind !== 'reply') return unreachable;
      const outcomes = (JSON.parse(result.reply.payload.toString('utf8')) as { outcomes?: unknown }).outcomes;
      if (!Array.isArray(outcomes) || outcomes.length !== request.tokens.length || !outcomes.every((o) => OUTCOMES.includes(o as SettleOutcome))) {
        this.logger.warn('a pull holder answered a forwarded settlement with something else', { holder });
        return unreachable;
      }
      return outcomes as SettleOutcome[];
    } catch (error) {
      this.logger.warn('a forwarded pull settlement got no answer; its leases run out at the holder', { holder, error: describeError(error) });
      return unreachable;
    }
  }

  async stop(): Promise<void> {
    const responders = [...this.responders.values()];
    this.responders.clear();
    await Promise.allSettled(responders.map(async (responder) => (await responder).close()));
  }

  private answer(message: InboundMessage): Reply {
    const request = parseRequest(message.payload);
    const outcomes = request === undefined ? [] : this.settleHere(request);
    return { payload: Buffer.from(JSON.stringify({ outcomes })), headers: {}, contentType: 'application/json' };
  }
}

/** A forwarded request, checked field by field: it came over a broker other clients may write to. */
function parseRequest(payload: Buffer): SettleRequest | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const { path, tokens, settlement } = (value ?? {}) as Record<string, unknown>;
  if (typeof path !== 'string' || !Array.isArray(tokens) || !tokens.every((token) => typeof token === 'string')) return undefined;
  const parsed = parseSettlement(settlement);
  return parsed === undefined ? undefined : { path, tokens: tokens, settlement: parsed };
}

function parseSettlement(value: unknown): Settlement | undefined {
  const { kind, requeue, delayMs } = (value ?? {}) as Record<string, unknown>;
  if (kind === 'ack') return { kind };
  if (kind !== 'nack') return undefined;
  if (requeue === false) return { kind, requeue };
  return requeue === true && typeof delayMs === 'number' && Number.isFinite(delayMs) && delayMs >= 0 ? { kind, requeue, delayMs } : undefined;
}

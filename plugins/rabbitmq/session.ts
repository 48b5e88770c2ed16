/**
 * What one AMQP connection carries: the publishing confirm channel, the request-reply channel and
 * the exchange/queue cache. A session dies with its connection; the next connection gets a fresh
 * one, so nothing from a dead connection (a channel, a cached check) is ever used again.
 */
import type { ChannelModel } from 'amqplib';
import type { Logger } from '../../core/plugins/contract.js';
import { ConfirmPublisher } from './confirm-publisher.js';
import { errorText, nothingSent } from './errors.js';
import { RpcClient } from './rpc-client.js';
import { Topology } from './topology.js';

/** A channel-backed resource that is reopened on the next use after its channel closed. */
class Reopening<T extends { readonly isOpen: boolean; close(): Promise<void> }> {
  private value: T | undefined;
  private opening: Promise<T> | undefined;

  constructor(
    private readonly what: string,
    private readonly open: () => Promise<T>,
    private readonly lost: () => boolean,
  ) {}

  get(): Promise<T> {
    if (this.value?.isOpen === true) return Promise.resolve(this.value);
    if (this.lost()) return Promise.reject(nothingSent('the connection was lost'));
    this.opening ??= this.open().then(
      (value) => {
        this.opening = undefined;
        this.value = value;
        return value;
      },
      (error: unknown) => {
        this.opening = undefined;
        throw nothingSent(`cannot open the ${this.what} channel: ${errorText(error)}`, error);
      },
    );
    return this.opening;
  }

  async close(): Promise<void> {
    await this.opening?.catch(() => undefined);
    await this.value?.close();
  }
}

export class Session {
  readonly topology: Topology;
  private readonly publisher: Reopening<ConfirmPublisher>;
  private readonly rpc: Reopening<RpcClient>;
  private lost = false;

  private constructor(
    readonly model: ChannelModel,
    logger: Logger,
  ) {
    this.topology = new Topology(model);
    const onListenerError = (error: Error, event: string): void => {
      logger.error(`rabbitmq: a ${event} listener threw: ${error.message}`);
    };
    const channelClosed = (what: string) => (): void => {
      // amqplib closes the channels just before reporting a lost connection; a microtask later we
      // know which it was, and a lost connection is logged (once) by the reconnect logic instead.
      queueMicrotask(() => {
        if (!this.lost) logger.warn(`rabbitmq: the ${what} channel closed; it is reopened on the next send`);
      });
    };
    this.publisher = new Reopening(
      'publishing',
      async () =>
        new ConfirmPublisher(await model.createConfirmChannel(), {
          onClosed: channelClosed('publishing'),
          onMissingExchange: (exchange) => this.topology.forgetExchange(exchange),
          onListenerError,
        }),
      () => this.lost,
    );
    this.rpc = new Reopening(
      'request-reply',
      () =>
        RpcClient.open(model, {
          onClosed: channelClosed('request-reply'),
          onListenerError,
          onStrayReply: (correlationId) => logger.debug(`rabbitmq: dropped a reply nobody waits for (correlation id ${correlationId})`),
        }),
      () => this.lost,
    );
  }

  /** Opens both channels up front, so a connection only counts as up when it can carry traffic. */
  static async open(model: ChannelModel, logger: Logger): Promise<Session> {
    const session = new Session(model, logger);
    await session.publisher.get();
    await session.rpc.get();
    return session;
  }

  confirmPublisher(): Promise<ConfirmPublisher> {
    return this.publisher.get();
  }

  rpcClient(): Promise<RpcClient> {
    return this.rpc.get();
  }

  markLost(): void {
    this.lost = true;
  }

  async close(): Promise<void> {
    this.lost = true;
    await Promise.all([this.publisher.close(), this.rpc.close()]);
  }
}

/**
 * Whether the NATS connection is usable right now. nats.js reconnects by itself and, meanwhile,
 * buffers publishes (and drops that buffer when it dials again), so busgate must know the state
 * to refuse work at once instead of answering 202 for bytes that never left the process.
 */
import { setMaxListeners } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../core/plugins/contract.js';

export class ConnectionState {
  private isUp = false;
  private text = 'not connected yet';
  private lost = lossController();

  get up(): boolean {
    return this.isUp;
  }

  /** One line for /ready: a server address at most, never credentials. */
  get detail(): string {
    return this.text;
  }

  /**
   * Aborted when the current connection drops. Anything still waiting for an answer (a PONG, a
   * PubAck, a reply) will never get it on that connection: its outcome is unknown from then on.
   */
  get lostSignal(): AbortSignal {
    return this.lost.signal;
  }

  markUp(server: string): void {
    this.isUp = true;
    this.text = `connected to ${server}`;
    if (this.lost.signal.aborted) this.lost = lossController();
  }

  markDown(text: string): void {
    this.isUp = false;
    this.text = text;
    this.lost.abort();
  }
}

/** Every request in flight listens on this one signal: hundreds of listeners are expected. */
function lossController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** Feeds the client's status events into the state until the connection closes. */
export async function followStatus(nc: NatsConnection, state: ConnectionState, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    switch (status.type) {
      case 'disconnect':
        state.markDown(`disconnected from ${status.server}; reconnecting`);
        logger.warn('NATS connection lost; reconnecting', { server: status.server });
        break;
      case 'reconnect':
        state.markUp(status.server);
        logger.info('NATS connection restored', { server: status.server });
        break;
      case 'ldm':
        logger.warn('NATS server entered lame duck mode; the client will move to another server', {
          server: status.server,
        });
        break;
      case 'staleConnection':
        logger.warn('NATS connection went stale (no PONG); reconnecting');
        break;
      case 'slowConsumer':
        logger.warn('a NATS subscription is falling behind', { subject: status.sub.getSubject(), pending: status.pending });
        break;
      case 'error':
        logger.warn('NATS reported an error', { error: status.error.message });
        break;
      case 'close':
        state.markDown('connection closed');
        break;
      default:
        break;
    }
  }
}

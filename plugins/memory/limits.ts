/**
 * The embedded broker closes no connection, but it keeps every queued message in the daemon's own
 * memory, so it bounds what one message may cost, and it declares those bounds like the network
 * brokers do (/ready shows them). A refusal is the sender's 4xx, as on every other broker.
 */
import { BusgateError } from '../../core/errors.js';
import type { OutboundMessage } from '../../core/plugins/contract.js';

/** Destinations and keys are map keys here; longer than this is a client's mistake or an attack. */
export const MAX_NAME_BYTES = 1024;
/** Held in this process: 16 MiB is far above the default bodyLimit, and still a bound. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface MemoryLimits {
  readonly maxDestinationBytes: number;
  readonly maxKeyBytes: number;
  /** Payload plus headers. */
  readonly maxMessageBytes: number;
}

export function memoryLimits(maxMessageBytes: number): MemoryLimits {
  return { maxDestinationBytes: MAX_NAME_BYTES, maxKeyBytes: MAX_NAME_BYTES, maxMessageBytes };
}

export function checkOutbound(destination: string, message: OutboundMessage, limits: MemoryLimits): void {
  const destinationBytes = Buffer.byteLength(destination);
  if (destinationBytes > limits.maxDestinationBytes) {
    throw new BusgateError(
      'exceeds_broker_limit',
      `the destination is ${destinationBytes} bytes; the embedded broker accepts at most ${limits.maxDestinationBytes}`,
    );
  }
  const keyBytes = message.key === undefined ? 0 : Buffer.byteLength(message.key);
  if (keyBytes > limits.maxKeyBytes) {
    throw new BusgateError('exceeds_broker_limit', `the key is ${keyBytes} bytes; the embedded broker accepts at most ${limits.maxKeyBytes}`);
  }
  let size = message.payload.length + (message.contentType === undefined ? 0 : Buffer.byteLength(message.contentType));
  for (const [name, value] of Object.entries(message.headers)) size += Buffer.byteLength(name) + Buffer.byteLength(value);
  if (size > limits.maxMessageBytes) {
    throw new BusgateError('message_too_large', `the message is ${size} bytes with its headers; the embedded broker accepts at most ${limits.maxMessageBytes}`);
  }
}

/**
 * The embedded broker's options: a plain JSON Schema and the type it describes. Not TypeBox, as the
 * network plugins use: the embedded broker is what the shipped config runs, and loading TypeBox's
 * few hundred modules costs about 13 MB of RSS for four options (README, Performance: memory).
 */
import { DEFAULT_MAX_MESSAGE_BYTES } from './limits.js';

export const optionsSchema = {
  type: 'object',
  properties: {
    queueLimit: { type: 'integer', minimum: 1, default: 10000, description: 'Most messages one point-to-point queue keeps while no consumer takes them.' },
    maxQueuedBytes: {
      type: 'integer',
      minimum: 1,
      default: 64 * 1024 * 1024,
      description:
        'Most bytes all queues together keep while no consumer takes them (payload, content type and headers): clients may send to as many destinations as a templated route lets them, and each queue lives in this process. Past it, 503 overloaded.',
    },
    echoResponders: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [],
      description: 'Destinations answered by a built-in responder that echoes the request (for demos).',
    },
    unavailable: { type: 'boolean', default: false, description: "Makes connect() fail, to exercise the daemon's broker-down paths without a real outage." },
    maxMessageBytes: {
      type: 'integer',
      minimum: 1,
      default: DEFAULT_MAX_MESSAGE_BYTES,
      description: 'Largest message (payload plus headers) one send may hand over; it is held in this process.',
    },
  },
  additionalProperties: false,
} as const;

/** The options once the core validated them and filled the defaults in. */
export interface MemoryOptions {
  readonly queueLimit: number;
  readonly maxQueuedBytes: number;
  readonly echoResponders: readonly string[];
  readonly unavailable: boolean;
  readonly maxMessageBytes?: number;
}

/** The embedded broker's options: one TypeBox schema, from which the JSON Schema and the type derive. */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_MAX_MESSAGE_BYTES } from './limits.js';

export const optionsSchema = Type.Object(
  {
    /** Most messages one point-to-point queue keeps while no consumer takes them. */
    queueLimit: Type.Integer({ minimum: 1, default: 10000 }),
    /**
     * Most bytes all queues together keep while no consumer takes them (payload, content type and
     * headers): clients may send to as many destinations as a templated route lets them, and each
     * queue lives in this process. Past it, 503 overloaded.
     */
    maxQueuedBytes: Type.Integer({ minimum: 1, default: 64 * 1024 * 1024 }),
    /** Destinations answered by a built-in responder that echoes the request (for demos). */
    echoResponders: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /** Makes connect() fail, to exercise the daemon's broker-down paths without a real outage. */
    unavailable: Type.Boolean({ default: false }),
    /** Largest message (payload plus headers) one send may hand over; it is held in this process. */
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1, default: DEFAULT_MAX_MESSAGE_BYTES })),
  },
  { additionalProperties: false },
);

export type MemoryOptions = Readonly<Static<typeof optionsSchema>>;

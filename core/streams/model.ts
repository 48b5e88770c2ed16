/** A stream after linting: GET on `path` serves the broker's messages from `source`. */
export interface StreamSpec {
  readonly path: string;
  readonly broker: string;
  readonly source: string;
  /** Client names (API keys) allowed; undefined = any authenticated client. */
  readonly clients: readonly string[] | undefined;
  /** Source options in the broker's route-options shape (e.g. an exchange type). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly line: number;
}

/** Default limits (config `streams.*`, documented in the README "Streams" section). */
export const STREAM_LIMITS = {
  /** Bytes a client may leave unread (socket buffer + WebSocket send queue) before it is disconnected. */
  maxBufferedBytes: 1024 * 1024,
  heartbeatMs: 15_000,
  maxStreams: 1000,
  maxStreamsPerClient: 20,
} as const;

export type StreamLimits = { -readonly [K in keyof typeof STREAM_LIMITS]: number };

/**
 * Why busgate ended a stream: the SSE `event: close` data, the WebSocket close frame's reason,
 * and the `reason` label of busgate_stream_disconnects_total (which also counts `client_left`).
 */
export const CLOSE_REASONS = {
  slow_client: { wsCode: 4008, summary: 'the client left more than the unread limit in its buffers' },
  shutting_down: { wsCode: 1001, summary: 'the daemon is shutting down; reconnect to another instance' },
  subscribe_failed: { wsCode: 1011, summary: 'the broker refused the subscription (the message says why)' },
} as const;

export type CloseReason = keyof typeof CLOSE_REASONS;
export type DisconnectReason = CloseReason | 'client_left';

export type StreamTransport = 'sse' | 'websocket';

/** A stream after linting: GET on `path` serves the broker's live messages from `source`. */
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

/** Fixed limits of this first slice (documented in the README "Streams" section). */
export const STREAM_LIMITS = {
  /** Bytes a client may leave unread in its socket buffer before it is disconnected. */
  maxBufferedBytes: 1024 * 1024,
  heartbeatMs: 15_000,
  maxStreams: 1000,
  maxStreamsPerClient: 20,
} as const;

export type StreamLimits = { -readonly [K in keyof typeof STREAM_LIMITS]: number };

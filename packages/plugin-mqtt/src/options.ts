/** The connection options of an MQTT broker instance, and their JSON Schema (defaults filled by the core). */

export interface MqttOptions {
  /** mqtt://host:port or mqtts://host:port; credentials may be given here or below. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /**
   * The stem of every client id this instance uses. Point-to-point consumer sessions are named
   * from it and must be the same after a restart (the broker keeps their messages), and different
   * for each replica (two live sessions with one id take each other over). Default: busgate-<the
   * busgate instance id> (BUSGATE_INSTANCE_ID, else the host name), which is both.
   */
  readonly clientId?: string;
  /** The MQTT 5 shared-subscription group that point-to-point consumers and responders join. */
  readonly shareGroup: string;
  /** How long the broker keeps an offline point-to-point session, and so its queued messages. */
  readonly queueSessionExpirySeconds: number;
  readonly connectTimeoutMs: number;
  readonly keepaliveSeconds: number;
  /** Pause between reconnect attempts after the first connection. */
  readonly reconnectPeriodMs: number;
}

/** One MQTT topic level without wildcards or separators: group names must be one. */
const LEVEL = '^[A-Za-z0-9_-]+$';

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', pattern: '^(mqtt|mqtts|tcp|ssl)://', default: 'mqtt://127.0.0.1:1883' },
    username: { type: 'string' },
    password: { type: 'string' },
    clientId: { type: 'string', pattern: LEVEL, maxLength: 100 },
    shareGroup: { type: 'string', pattern: LEVEL, default: 'busgate' },
    queueSessionExpirySeconds: { type: 'integer', minimum: 1, maximum: 4294967294, default: 86400 },
    connectTimeoutMs: { type: 'integer', minimum: 100, default: 5000 },
    keepaliveSeconds: { type: 'integer', minimum: 1, maximum: 65535, default: 10 },
    reconnectPeriodMs: { type: 'integer', minimum: 100, default: 1000 },
  },
} as const;

/** Without `clientId`: busgate's instance id, in the characters and length `clientId` itself allows. */
export function clientIdStem(options: MqttOptions, instanceId: string): string {
  return options.clientId ?? `busgate-${instanceId.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 100);
}

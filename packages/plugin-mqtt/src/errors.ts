/** MQTT client errors and reason codes as busgate's typed errors (the kit's where it has one). */
import { BusgateError, isBusgateError, outcomeUnknown } from 'busgate';

/** PUBACK reason 0x10: accepted, but no subscription matched, so the broker kept nothing. */
export const NO_MATCHING_SUBSCRIBERS = 0x10;

export function unavailable(reason: string, cause?: unknown): BusgateError {
  return new BusgateError('broker_unavailable', `MQTT broker unavailable: ${reason}`, { cause, retryAfterSeconds: 1 });
}

/** An error from a QoS 1 publish: a PUBACK reason code of 0x80 or more is a refusal, the rest a lost link. */
export function publishError(error: unknown, topic: string): BusgateError {
  if (isBusgateError(error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 0x80) {
    return new BusgateError('broker_rejected', `the MQTT broker refused the message on "${topic}": ${describe(error)} (reason 0x${code.toString(16)})`, {
      cause: error,
    });
  }
  return outcomeUnknown('MQTT', `the connection failed while publishing to "${topic}" (${describe(error)})`, error);
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

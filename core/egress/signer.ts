/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * `${webhook-id}.${webhook-timestamp}.${body}` with the secret's base64-decoded bytes, sent as
 * `webhook-signature: v1,<base64>`. Receivers verify with any Standard Webhooks library and reject
 * stale timestamps; the id lets them drop duplicates.
 */
import { createHmac } from 'node:crypto';

export class WebhookSigner {
  private readonly key: Buffer;

  /** `secret` is `whsec_<base64>` (the prefix is optional), as the specification writes it. */
  constructor(secret: string) {
    this.key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  }

  sign(id: string, timestampSeconds: number, body: Buffer): string {
    const mac = createHmac('sha256', this.key).update(`${id}.${timestampSeconds}.`).update(body).digest('base64');
    return `v1,${mac}`;
  }
}

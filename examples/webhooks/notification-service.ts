/**
 * The receiving side of busgate egress: a notification service that takes order events as
 * webhooks. It needs no broker client and no busgate code, only HTTP and a Standard Webhooks
 * library:
 *
 *   - verify `webhook-signature` over the raw body (the library also refuses a timestamp more
 *     than 5 minutes old or ahead): answer 401 to a forgery, which busgate dead-letters at once;
 *   - dedupe on `webhook-id`: busgate delivers at least once, so after a crash or a lost answer
 *     the same message can come again with the same id;
 *   - answer 2xx only once the event is handled: busgate acknowledges the broker message then.
 *     503 with Retry-After asks busgate to come back later.
 *
 * Run it:  ORDERS_WEBHOOK_SECRET=whsec_... node dist/examples/webhooks/notification-service.js [port]
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

export interface OrderEvent {
  readonly orderId: number;
  readonly customer: string;
}

export interface NotificationService {
  readonly url: string;
  /** Events handled, once each, in arrival order. */
  readonly notified: OrderEvent[];
  /** Deliveries refused because the signature did not verify. */
  readonly forged: number;
  close(): Promise<void>;
}

export async function startNotificationService(options: { secret: string; port?: number; log?: (line: string) => void }): Promise<NotificationService> {
  const log = options.log ?? console.log;
  const webhook = new Webhook(options.secret);
  // In production a store with a TTL (Redis, the database); the ids only need to outlive retries.
  const seen = new Set<string>();
  const notified: OrderEvent[] = [];
  let forged = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let event: OrderEvent;
      try {
        event = webhook.verify(body, req.headers as Record<string, string>) as OrderEvent;
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        forged += 1;
        res.writeHead(401).end();
        return;
      }
      const id = String(req.headers['webhook-id']);
      if (!seen.has(id)) {
        seen.add(id);
        notified.push(event);
        log(`notify customer ${event.customer}: order ${event.orderId} received (${id}, attempt ${String(req.headers['busgate-attempt'])})`);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/orders`,
    notified,
    get forged() {
      return forged;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const secret = process.env.ORDERS_WEBHOOK_SECRET;
  if (!secret) {
    console.error('set ORDERS_WEBHOOK_SECRET (whsec_<base64>) to the secret busgate signs with');
    process.exit(2);
  }
  const service = await startNotificationService({ secret, port: Number(process.argv[2] ?? 9000) });
  console.log(`notification service: webhooks at ${service.url}`);
}

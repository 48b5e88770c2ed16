/**
 * The sending side: an order service that publishes order events by POSTing them to busgate.
 * No broker client either; the 202 means the broker stored the event. The Idempotency-Key makes
 * a retried POST one event, and fixes its webhook-id (derived from client, route and key), which
 * the notification service dedupes on.
 *
 * Run it:  node dist/examples/webhooks/order-service.js [busgate-url] [count]
 */
import { pathToFileURL } from 'node:url';

export async function placeOrders(busgateUrl: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let orderId = 1; orderId <= count; orderId += 1) {
    const res = await fetch(`${busgateUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `order-${orderId}`, 'x-customer': `customer-${orderId % 3}` },
      body: JSON.stringify({ orderId, customer: `customer-${orderId % 3}` }),
    });
    if (res.status !== 202) throw new Error(`busgate answered ${res.status}: ${await res.text()}`);
    ids.push(((await res.json()) as { id: string }).id);
  }
  return ids;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const ids = await placeOrders(process.argv[2] ?? 'http://127.0.0.1:8080', Number(process.argv[3] ?? 5));
  console.log(`placed ${ids.length} orders: ${ids.join(', ')}`);
}

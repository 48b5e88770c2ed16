/**
 * examples/webhooks end to end: the order service POSTs to busgate, busgate delivers signed
 * webhooks to the notification service, which verifies each with the standardwebhooks package
 * and refuses a forgery.
 */
import fs from 'node:fs';
import { expect } from 'chai';
import { placeOrders } from '../../examples/webhooks/order-service.js';
import { startNotificationService, type NotificationService } from '../../examples/webhooks/notification-service.js';
import { eventually, startTestDaemon, type TestDaemon } from '../support/daemon.js';

const SECRET = `whsec_${Buffer.from('example-secret-example-secret-32b').toString('base64')}`;

describe('examples/webhooks', function () {
  this.timeout(20_000);
  let service: NotificationService;
  let daemon: TestDaemon;

  before(async () => {
    process.env.ORDERS_WEBHOOK_SECRET = SECRET;
    service = await startNotificationService({ secret: SECRET, log: () => undefined });
    const routes = fs
      .readFileSync(new URL('../../../examples/webhooks/routes.yaml', import.meta.url), 'utf8')
      .replace('http://127.0.0.1:9000/hooks/orders', service.url);
    daemon = await startTestDaemon({ brokers: { memory: { plugin: 'memory', options: {} } }, routes });
  });

  after(async () => {
    await daemon?.shutdown('test done');
    await service?.close();
    delete process.env.ORDERS_WEBHOOK_SECRET;
  });

  it('delivers every order to the notification service, signed, in order per customer', async () => {
    await placeOrders(daemon.url, 12);
    await eventually(() => service.notified.length >= 12, 10_000, 'twelve notifications');
    expect(service.forged).to.equal(0);
    for (const customer of ['customer-0', 'customer-1', 'customer-2']) {
      const ids = service.notified.filter((event) => event.customer === customer).map((event) => event.orderId);
      expect(ids).to.deep.equal([...ids].sort((a, b) => a - b));
    }
  });

  it('the notification service refuses a delivery it cannot verify', async () => {
    const res = await fetch(service.url, {
      method: 'POST',
      body: '{"orderId":99,"customer":"mallory"}',
      headers: {
        'content-type': 'application/json',
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        'webhook-signature': 'v1,Zm9yZ2Vk',
      },
    });
    expect(res.status).to.equal(401);
    expect(service.notified.some((event) => event.customer === 'mallory')).to.equal(false);
  });
});

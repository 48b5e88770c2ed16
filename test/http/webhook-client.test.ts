/** The webhook client: credentials in the URL become Basic auth and never show; answers are classified. */
import { expect } from 'chai';
import { WebhookClient } from '../../core/egress/webhook-client.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

describe('webhook client', () => {
  const receiver = new WebhookReceiver();
  before(() => receiver.start());
  after(() => receiver.stop());

  it('sends URL credentials as Authorization and keeps them out of displayUrl', async () => {
    const client = new WebhookClient(`http://hook%20user:s3cr%40t@127.0.0.1:${receiver.port}/creds?x=1`, 2);
    try {
      expect(client.displayUrl).to.equal(`http://127.0.0.1:${receiver.port}/creds?x=1`);
      const outcome = await client.post(Buffer.from('{}'), { 'content-type': 'application/json' }, 2000);
      expect(outcome).to.deep.equal({ kind: 'answered', status: 200, retryAfterMs: undefined });
      const [hook] = receiver.on('/creds?x=1');
      expect(hook!.headers.authorization).to.equal(`Basic ${Buffer.from('hook user:s3cr@t').toString('base64')}`);
    } finally {
      await client.close();
    }
  });

  it('reports Retry-After, timeouts and refused connections without throwing', async () => {
    receiver.script('/busy', () => ({ status: 503, headers: { 'retry-after': '7' } }));
    receiver.script('/slow', () => ({ status: 200, delayMs: 500 }));
    const client = new WebhookClient(`http://127.0.0.1:${receiver.port}/busy`, 2);
    const slow = new WebhookClient(`http://127.0.0.1:${receiver.port}/slow`, 2);
    const nowhere = new WebhookClient('http://127.0.0.1:1/none', 1);
    try {
      expect(await client.post(Buffer.alloc(0), {}, 2000)).to.deep.equal({ kind: 'answered', status: 503, retryAfterMs: 7000 });
      expect(await slow.post(Buffer.alloc(0), {}, 100)).to.deep.equal({ kind: 'timeout' });
      expect((await nowhere.post(Buffer.alloc(0), {}, 2000)).kind).to.equal('connection-error');
    } finally {
      await Promise.all([client.close(), slow.close(), nowhere.close()]);
    }
  });
});

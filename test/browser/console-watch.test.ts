/**
 * The console's receiving side in a real browser (playwright-core + Debian's chromium): the page
 * lists the streams, watches one over SSE with the API key the user gave, shows the messages as
 * they are published, and gives the stream back when stopped; and it lists the pull paths with
 * what this instance holds, which follows a pull and its ack.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { openPage, requireChromium, type BrowserSession } from '../support/chromium.js';
import { eventually, startTestDaemon, type TestDaemon } from '../support/daemon.js';

const KEY = 'watch-test-secret-0123456789';
const ROUTES = `routes:
  - name: news
    path: /news
    broker: memory
    mode: pubsub
    destination: news.watch
  - name: jobs
    path: /jobs
    broker: memory
    mode: point-to-point
    destination: console.jobs
streams:
  - path: /streams/news
    broker: memory
    source: news.watch
pulls:
  - path: /pull/jobs
    broker: memory
    source: console.jobs
    lease: 90s
    maxHeld: 8
    deadLetter: console.jobs.dead
`;

describe('web console: watch a stream (chromium)', function () {
  this.timeout(60_000);
  let daemon: TestDaemon;
  let session: BrowserSession | undefined;
  let page: Page;

  before(async function () {
    requireChromium(this);
    daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: { memory: { plugin: 'memory', options: {} } },
      overrides: { consoleEnabled: true, apiKeys: new Map([['ops', KEY]]) },
    });
    session = await openPage(`${daemon.url}/?refresh=500`);
    page = session.page;
    await page.fill('#key-input', KEY);
    await page.click('#key-form button[type="submit"]');
  });
  after(async () => {
    await session?.close();
    await daemon?.shutdown('done');
  });

  it('lists the stream as live only, watches it with the API key and shows each message as it arrives', async () => {
    const row = page.locator('#streams-body tr[data-stream="/streams/news"]');
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).to.equal('memory news.watch');
    expect(await row.locator('.pill').textContent()).to.equal('live only');
    await page.click('button[data-watch="/streams/news"]');
    await page.waitForFunction(() => document.getElementById('watch-state')!.textContent === 'watching');
    await eventually(() => daemon.streams.openStreams === 1, 5000, 'the page connected');
    await page.waitForFunction(() => document.querySelector('#streams-body tr[data-stream="/streams/news"] td.num')?.textContent === '1');

    const text = await daemon.post('/news', '<b>not markup</b>', { 'x-api-key': KEY, 'content-type': 'text/plain' });
    const binary = await daemon.post('/news', Buffer.from([0xff, 0x00, 0x01]), { 'x-api-key': KEY, 'content-type': 'application/octet-stream' });
    const ids = [await text.json(), await binary.json()].map((receipt) => (receipt as { id: string }).id);
    await page.waitForFunction(() => document.querySelectorAll('#watch-events li').length === 2);
    const items = page.locator('#watch-events li');
    expect(await items.nth(0).getAttribute('data-message-id')).to.equal(ids[0]);
    // The body is shown as text: the page never turns a message into markup.
    expect(await items.nth(0).textContent()).to.contain('<b>not markup</b>');
    expect(await page.locator('#watch-events b').count()).to.equal(0);
    expect(await items.nth(1).textContent()).to.contain('(base64)');
    expect(await items.nth(1).textContent()).to.contain(Buffer.from([0xff, 0x00, 0x01]).toString('base64'));
    expect(await page.locator('#watch-count').textContent()).to.equal('2 messages');

    await page.click('#watch-stop');
    await eventually(() => daemon.streams.openStreams === 0, 5000, 'the stream given back');
    expect(await page.locator('#watch-state').textContent()).to.equal('stopped');
    expect(session!.errors).to.deep.equal([]);
  });

  it('lists each pull path with its source, lease and dead letter, and the messages this instance holds', async () => {
    const row = page.locator('#pulls-body tr[data-pull="/pull/jobs"]');
    await row.waitFor();
    const cells = async (): Promise<string[]> => (await row.locator('td').allTextContents()).map((text) => text.trim());
    expect(await cells()).to.deep.equal(['/pull/jobs', 'memory console.jobs (point-to-point)', '–', '90 s', 'console.jobs.dead', '0 / 8']);
    const json = { 'x-api-key': KEY, 'content-type': 'application/json' };

    expect((await daemon.post('/jobs', '{"job":1}', json)).status).to.equal(202);
    const pulled = (await (await daemon.post('/pull/jobs?wait=2s', '', { 'x-api-key': KEY })).json()) as { messages: Array<{ lease: string }> };
    expect(pulled.messages).to.have.lengthOf(1);
    await page.waitForFunction(() => document.querySelector('#pulls-body tr[data-pull="/pull/jobs"] td:last-child')?.textContent === '1 / 8');

    expect((await daemon.post('/pull/jobs/ack', JSON.stringify({ leases: [pulled.messages[0]!.lease] }), json)).status).to.equal(200);
    await page.waitForFunction(() => document.querySelector('#pulls-body tr[data-pull="/pull/jobs"] td:last-child')?.textContent === '0 / 8');
    expect(session!.errors).to.deep.equal([]);
  });
});

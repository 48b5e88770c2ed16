/**
 * The console's watch view in a real browser (playwright-core + Debian's chromium): the page
 * lists the streams, watches one over SSE with the API key the user gave, shows the messages as
 * they are published, and gives the stream back when stopped.
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
streams:
  - path: /streams/news
    broker: memory
    source: news.watch
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
});

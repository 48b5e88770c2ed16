/**
 * The web console in a real browser: playwright-core drives Debian's chromium against a daemon on
 * the embedded broker, sends a message on each mode through the page and reads what it shows.
 *
 * Without /usr/bin/chromium the browser suites are skipped with the reason printed, unless CI=true,
 * where they fail. The screenshot for the README goes to docs/console.png when that file is
 * missing or BUSGATE_SCREENSHOT=1 (so that ordinary runs leave the tree clean), else to a temp file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { sleep } from '../support/net.js';
import { launch, requireChromium, watchErrors } from '../support/chromium.js';

/** <outDir>/test/browser/ -> the package root, whichever output folder the tests were built into. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const API_KEY = 'console-test-secret-0123456789';

const ROUTES = `routes:
  - name: events
    path: /events/:topic
    broker: memory
    mode: pubsub
    destination: events.{topic}
    headers: [x-source]
  - name: jobs
    path: /jobs/:queue
    broker: memory
    mode: point-to-point
    destination: jobs.{queue}
  - name: echo
    path: /echo
    broker: memory
    mode: request-reply
    destination: demo.echo
    timeout: 2s
  - name: orders
    path: /orders
    broker: memory
    mode: pubsub
    destination: orders
    schema:
      type: object
      required: [sku, qty]
      properties: { sku: { type: string }, qty: { type: integer, minimum: 2 }, note: { type: string } }
  - name: send
    path: /send/:destination
    broker: memory
    mode: "{header.x-busgate-mode}"
    modes: [pubsub, point-to-point, request-reply]
    destination: "{destination}"
`;

const MEMORY = { memory: { plugin: 'memory', options: { echoResponders: ['demo.echo'] } } };

async function sendFromPage(page: Page, expectedStatus: string): Promise<{ kind: string; body: string }> {
  const before = await page.locator('#result-meta').textContent();
  await page.click('#send-button');
  // The meta line carries the timing, so it changes on every answer, even an identical one.
  await page.waitForFunction(
    ([previous]) => !document.getElementById('result')!.hidden && document.getElementById('result-meta')!.textContent !== previous,
    [before],
  );
  expect(await page.locator('#result-status').textContent()).to.equal(expectedStatus);
  return { kind: (await page.locator('#result-kind').textContent()) ?? '', body: (await page.locator('#result-body').textContent()) ?? '' };
}

describe('web console (chromium)', function () {
  this.timeout(60_000);
  let daemon: TestDaemon;
  let browser: { context: BrowserContext; close: () => Promise<void> } | undefined;
  let page: Page;
  let errors: string[];

  before(async function () {
    requireChromium(this);
    daemon = await startTestDaemon({ routes: ROUTES, brokers: MEMORY, overrides: { consoleEnabled: true } });
    browser = await launch();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
    errors = watchErrors(page);
    // Poll faster than the default 2 s: quicker tests, and more points on the sparklines.
    await page.goto(`${daemon.url}/?refresh=500`);
  });
  after(async () => {
    await browser?.close();
    await daemon?.shutdown('done');
  });

  it('lists the routes with broker, mode and destination, and the broker as connected', async () => {
    await page.waitForSelector('#routes-body tr[data-route="send"]');
    expect(await page.locator('#routes-body tr[data-route]').count()).to.equal(5);
    const events = page.locator('#routes-body tr[data-route="events"]');
    expect(await events.locator('td').nth(1).textContent()).to.equal('memory');
    expect(await events.locator('.mode').textContent()).to.equal('pubsub');
    expect(await events.locator('.dest').textContent()).to.equal('events.{topic}');
    expect(await page.locator('#routes-body tr[data-route="jobs"] .mode').textContent()).to.equal('point-to-point');
    expect(await page.locator('#routes-body tr[data-route="echo"] .mode').textContent()).to.equal('request-reply');
    expect(await page.locator('#routes-body tr[data-route="send"] .mode').textContent()).to.equal('header x-busgate-mode');
    expect(await page.locator('#brokers [data-broker="memory"] .broker-state').textContent()).to.equal('connected');
    expect(await page.locator('#status').textContent()).to.equal('ready');
  });

  it('pubsub: fills the path parameter, sends, and shows the receipt', async () => {
    await page.click('#routes-body tr[data-route="events"]');
    expect(await page.locator('#route-select').inputValue()).to.equal('events');
    await page.fill('#param-topic', 'orders');
    await page.fill('#body-input', '{"id":1}');
    expect(await page.locator('#request-line').textContent()).to.equal('POST /events/orders');
    const result = await sendFromPage(page, '202 Accepted');
    expect(result.kind).to.equal('receipt');
    expect(JSON.parse(result.body)).to.include({ broker: 'memory', mode: 'pubsub', destination: 'events.orders' });
  });

  it('point-to-point: the receipt names the queue and its depth', async () => {
    await page.selectOption('#route-select', 'jobs');
    await page.fill('#param-queue', 'resize');
    await page.fill('#body-input', 'photo-1.png');
    const result = await sendFromPage(page, '202 Accepted');
    expect(result.kind).to.equal('receipt');
    expect(JSON.parse(result.body)).to.include({ mode: 'point-to-point', destination: 'jobs.resize', queue: 'jobs.resize', depth: 1 });
  });

  it('request-reply: shows the reply body as text, never as markup', async () => {
    await page.selectOption('#route-select', 'echo');
    const body = '<b id="bold">hello</b> & <img src=x onerror="window.__xss=1"> console';
    await page.fill('#body-input', body);
    const result = await sendFromPage(page, '200 OK');
    expect(result.kind).to.equal('reply');
    expect(result.body).to.equal(body);
    expect(await page.locator('#bold').count()).to.equal(0);
    expect(await page.locator('#result-body img').count()).to.equal(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).to.equal(undefined);
  });

  it('a mode chosen by header: the form offers the allowed values', async () => {
    await page.selectOption('#route-select', 'send');
    await page.fill('#param-destination', 'greetings');
    const modeField = page.locator('#headers select.header-value[data-name="x-busgate-mode"]');
    expect(await modeField.locator('option').allTextContents()).to.deep.equal(['pubsub', 'point-to-point', 'request-reply']);
    await modeField.selectOption('point-to-point');
    const result = await sendFromPage(page, '202 Accepted');
    expect(JSON.parse(result.body)).to.include({ mode: 'point-to-point', destination: 'greetings' });
  });

  it('a route with a schema: content types and an example body come from /openapi.json', async () => {
    await page.selectOption('#route-select', 'orders');
    const typeField = page.locator('#headers select.header-value[data-name="content-type"]');
    expect(await typeField.locator('option').allTextContents()).to.deep.equal(['application/json', 'application/cloudevents+json']);
    expect(JSON.parse(await page.locator('#body-input').inputValue())).to.deep.equal({ sku: 'xxxx', qty: 2 });
    expect(JSON.parse((await sendFromPage(page, '202 Accepted')).body)).to.include({ destination: 'orders' });
    await typeField.selectOption('application/cloudevents+json');
    const event = JSON.parse(await page.locator('#body-input').inputValue()) as { specversion: string; data: unknown };
    expect(event).to.include({ specversion: '1.0' });
    expect(event.data).to.deep.equal({ sku: 'xxxx', qty: 2 });
    expect(JSON.parse((await sendFromPage(page, '202 Accepted')).body)).to.include({ destination: 'orders' });
  });

  it('an error answer is shown with its code; a missing parameter is caught before sending', async () => {
    await page.selectOption('#route-select', 'events');
    await page.fill('#param-topic', 'a.b');
    const result = await sendFromPage(page, '400 Bad Request');
    expect(result.kind).to.equal('error');
    expect(JSON.parse(result.body)).to.have.nested.property('error.code', 'invalid_token');

    await page.fill('#param-topic', '');
    await page.click('#send-button');
    expect(await page.locator('#send-error').textContent()).to.equal('fill in :topic');
  });

  it('shows live counters and rates from the metrics, and takes the README screenshot', async () => {
    // Traffic from outside the page while it polls, so that the rates move: a varying mix of
    // routes, mostly 2xx, some 4xx. It keeps running until the screenshot is taken.
    let running = true;
    let tick = 0;
    let eventsSent = 0;
    const traffic = (async () => {
      while (running) {
        const wave = 2 + Math.round(2 * Math.sin(tick / 4));
        const calls: Promise<Response>[] = [];
        for (let i = 0; i < wave; i += 1) calls.push(daemon.post('/events/orders', '{"id":2}', { 'content-type': 'application/json' }));
        eventsSent += wave;
        if (tick % 2 === 0) calls.push(daemon.post('/jobs/thumbnails', 'photo.png'));
        if (tick % 3 === 0) calls.push(daemon.post('/echo', 'ping'));
        if (tick % 4 === 0) calls.push(daemon.post('/send/greetings', 'hi', { 'x-busgate-mode': 'pubsub' }));
        if (tick % 9 === 0) calls.push(daemon.post('/events/bad.topic', 'x'));
        await Promise.all(calls);
        tick += 1;
        await sleep(50);
      }
    })();
    try {
      await sleep(6000);
      const least = eventsSent;
      await page.waitForFunction(
        ([count]) => {
          const row = document.querySelector('#routes-body tr[data-route="events"]');
          const total = Number(row?.querySelector('.route-total')?.textContent?.replace(/,/g, ''));
          return total >= count! && Number(row?.querySelector('.rate-value')?.textContent) > 0;
        },
        [least],
        { timeout: 10_000 },
      );
      expect(Number(await page.locator('#stat-rate').textContent())).to.be.greaterThan(0);
      expect(Number(await page.locator('#routes-body tr[data-route="events"] .errors-bad').textContent())).to.be.at.least(1);
      expect(await page.locator('#messages-body tr').count()).to.be.at.least(3);

      // The screenshot: a pubsub receipt on screen, routes and rates live.
      await page.selectOption('#route-select', 'events');
      await page.fill('#param-topic', 'orders');
      await page.fill('#body-input', '{"id":42,"customer":"c-17","total":99.5}');
      await sendFromPage(page, '202 Accepted');
      await sleep(1200);
      const target = path.join(ROOT, 'docs', 'console.png');
      const refresh = process.env.BUSGATE_SCREENSHOT === '1' || !fs.existsSync(target);
      const file = refresh ? target : path.join(os.tmpdir(), 'busgate-console.png');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      await page.screenshot({ path: file, fullPage: false });
      expect(fs.statSync(file).size).to.be.greaterThan(10_000);
      if (refresh) console.log(`    screenshot written to ${path.relative(process.cwd(), file)}`);
    } finally {
      running = false;
      await traffic;
    }
  });

  it('loads without script errors or CSP violations', () => {
    expect(errors).to.deep.equal([]);
  });
});

describe('web console with API keys (chromium)', function () {
  this.timeout(60_000);
  let daemon: TestDaemon;
  let browser: { context: BrowserContext; close: () => Promise<void> } | undefined;

  before(async function () {
    requireChromium(this);
    daemon = await startTestDaemon({
      routes: ROUTES,
      brokers: MEMORY,
      overrides: { consoleEnabled: true, apiKeys: new Map([['ops', API_KEY]]) },
    });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await daemon?.shutdown('done');
  });

  it('the state endpoint needs a key like the routes do', async () => {
    expect((await fetch(`${daemon.url}/console/api/state`)).status).to.equal(401);
    expect((await fetch(`${daemon.url}/console/api/state`, { headers: { 'x-api-key': 'wrong-wrong-wrong-wrong' } })).status).to.equal(401);
    const state = (await (await fetch(`${daemon.url}/console/api/state`, { headers: { 'x-api-key': API_KEY } })).json()) as {
      auth: boolean;
      routes: unknown[];
    };
    expect(state.auth).to.equal(true);
    expect(state.routes).to.have.length(5);
  });

  it('asks for a key, refuses a wrong one, then sends with X-Api-Key', async () => {
    const page = await browser!.context.newPage();
    await page.goto(`${daemon.url}/`);
    await page.waitForSelector('#keygate:not([hidden])');
    expect(await page.locator('#main').isHidden()).to.equal(true);

    await page.fill('#key-input', 'not-the-right-key-at-all');
    await page.click('#key-submit');
    await page.waitForFunction(() => document.getElementById('key-error')!.textContent === 'that key was not accepted');

    await page.fill('#key-input', API_KEY);
    await page.click('#key-submit');
    await page.waitForSelector('#routes-body tr[data-route="echo"]');
    expect(await page.locator('#keygate').isHidden()).to.equal(true);
    expect(await page.locator('#key-state').textContent()).to.equal('API key in use');

    const sentHeaders: Record<string, string>[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/echo')) sentHeaders.push(request.headers());
    });
    await page.selectOption('#route-select', 'echo');
    await page.fill('#body-input', 'with a key');
    const result = await sendFromPage(page, '200 OK');
    expect(result.body).to.equal('with a key');
    expect(sentHeaders[0]?.['x-api-key']).to.equal(API_KEY);

    await page.click('#key-forget');
    await page.waitForSelector('#keygate:not([hidden])');
    await page.close();
  });
});

describe('web console over HTTP', function () {
  this.timeout(20_000);

  it('serves the page with a strict Content-Security-Policy, and its assets', async () => {
    const daemon = await startTestDaemon({ routes: ROUTES, brokers: MEMORY, overrides: { consoleEnabled: true } });
    try {
      const page = await fetch(`${daemon.url}/`);
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      expect(page.headers.get('content-security-policy')).to.include("script-src 'self'").and.not.include('unsafe-inline');
      expect(await page.text()).to.include('<script type="module" src="/console/app.js">');
      const script = await fetch(`${daemon.url}/console/app.js`);
      expect(script.headers.get('content-type')).to.match(/^text\/javascript/);
      const text = await script.text();
      expect(text).to.include('/console/api/state').and.not.include('sourceMappingURL');
      expect((await fetch(`${daemon.url}/console/app.css`)).headers.get('content-type')).to.match(/^text\/css/);
      const state = (await (await fetch(`${daemon.url}/console/api/state`)).json()) as {
        status: string;
        auth: boolean;
        routes: { name: string; pathParts: unknown[] }[];
      };
      expect(state).to.include({ status: 'ready', auth: false });
      expect(state.routes.find((route) => route.name === 'events')?.pathParts).to.deep.equal([
        { kind: 'text', value: '/events/' },
        { kind: 'param', name: 'topic' },
      ]);
    } finally {
      await daemon.shutdown('done');
    }
  });

  it('is absent when console.enabled is false', async () => {
    const daemon = await startTestDaemon({ routes: ROUTES, brokers: MEMORY });
    try {
      for (const pathname of ['/', '/console/', '/console/api/state']) {
        const res = await fetch(`${daemon.url}${pathname}`);
        expect(res.status, pathname).to.equal(404);
        expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('not_found');
      }
    } finally {
      await daemon.shutdown('done');
    }
  });
});

/**
 * Reloading subscriptions: a removed subscription finishes the POST on the wire and leaves every
 * other message in the broker; adding it back delivers them; a changed one runs with its new
 * settings; an invalid file keeps the running subscriptions. On the memory broker (its queues
 * keep messages while nobody consumes).
 */
import fs from 'node:fs';
import { expect } from 'chai';
import { eventually, sleep, startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

describe('egress reload', function () {
  this.timeout(20_000);
  const receiver = new WebhookReceiver();
  let daemon: TestDaemon;
  const routes = 'routes:\n  - path: /jobs\n    broker: memory\n    mode: point-to-point\n    destination: reload.jobs\n';
  const subscription = (path: string, concurrency = 1): string =>
    `subscriptions:\n  - name: jobs\n    broker: memory\n    source: reload.jobs\n    mode: point-to-point\n    deliver: { url: "${receiver.url(path)}", concurrency: ${concurrency} }\n    deadLetter: reload.dlq\n`;

  before(async () => {
    await receiver.start();
    daemon = await startTestDaemon({
      brokers: { memory: { plugin: 'memory', options: {} } },
      routes: routes + subscription('/first'),
      overrides: { consoleEnabled: true },
    });
  });

  after(async () => {
    await daemon?.shutdown('test done');
    await receiver.stop();
  });

  it('removes, re-adds and changes a subscription without losing a message', async () => {
    // A slow endpoint: the first POST is on the wire when the subscription is removed.
    receiver.script('/first', () => ({ status: 200, delayMs: 400 }));
    for (let i = 0; i < 5; i += 1) expect((await daemon.post('/jobs', `job-${i}`)).status).to.equal(202);
    await sleep(100);
    fs.writeFileSync(daemon.routesFile, routes);
    const removed = await daemon.reload('test removes the subscription');
    expect(removed.outcome).to.equal('ok');
    expect(daemon.egress.names).to.deep.equal([]);
    // The POST that was on the wire finished and was acknowledged; nothing else was sent.
    expect(receiver.on('/first').map((hook) => hook.body.toString())).to.deep.equal(['job-0']);

    fs.writeFileSync(daemon.routesFile, routes + subscription('/second', 4));
    expect((await daemon.reload('test adds it back, changed')).outcome).to.equal('ok');
    await eventually(() => receiver.on('/second').length >= 4, 5000, 'the messages left in the broker');
    expect(
      receiver
        .on('/second')
        .map((hook) => hook.body.toString())
        .sort(),
    ).to.deep.equal(['job-1', 'job-2', 'job-3', 'job-4']);

    fs.writeFileSync(daemon.routesFile, routes + subscription('/second', 4).replace('deadLetter: reload.dlq\n', 'deadLetter: reload.dlq\n    colour: red\n'));
    const invalid = await daemon.reload('test breaks the file');
    expect(invalid.outcome).to.equal('invalid');
    expect(invalid.problems[0]).to.match(/:\d+:\d+ unknown_key unknown key "colour"/);
    expect(daemon.egress.names).to.deep.equal(['jobs']);
    expect((await daemon.post('/jobs', 'job-5')).status).to.equal(202);
    await eventually(() => receiver.on('/second').length >= 5, 5000, 'delivery after a refused reload');
  });

  it('lists the subscription in /ready and in the console state', async () => {
    const ready = (await (await fetch(`${daemon.url}/ready`)).json()) as { subscriptions: Record<string, unknown> };
    expect(ready.subscriptions.jobs).to.deep.include({ broker: 'memory', source: 'reload.jobs', up: true, endpoint: 'closed', held: 0 });
    const state = (await (await fetch(`${daemon.url}/console/api/state`)).json()) as {
      subscriptions: { name: string; delivered: number; deadLettered: number; backlog: number | null }[];
    };
    expect(state.subscriptions).to.have.length(1);
    expect(state.subscriptions[0]).to.deep.include({ name: 'jobs', deadLettered: 0, backlog: 0 });
    expect(state.subscriptions[0]!.delivered).to.be.at.least(5);
  });
});

/**
 * What the RabbitMQ plugin's `declare: true` is for, and what it cannot promise, with numbers
 * (plugins/rabbitmq/README.md, "declare: true"). On a private node behind a FaultProxy:
 *
 * 1. declare: true declares a route's fixed queue when busgate connects, before the route is
 *    served; a kill -9 about a second later loses nothing acknowledged.
 * 2. The caveat: it cannot tell a queue the broker lost from one that never existed. When the node
 *    comes back without its data (disk lost, node replaced, definitions not restored), busgate
 *    declares a new, empty queue and answers 202 again; every message acknowledged before is gone
 *    and no client is told. With declare: false the same loss is loud: 502 "no queue" until an
 *    operator restores the definitions. The loss itself comes from the broker's data, so both
 *    variants lose the same messages; the rows are marked as expected losses in the report.
 */
import { expect } from 'chai';
import type { Subscription } from '../../core/plugins/contract.js';
import { startTestDaemon, type TestDaemon } from '../support/daemon.js';
import { Collector, drained, type LedgerResult } from './ledger.js';
import { LONG } from './support/scenario.js';
import { PrivateRabbitMq, requirePrivateBroker } from './support/private-brokers.js';
import { declareQueues, queueDepth } from './support/rabbitmq-admin.js';
import { SuiteResults } from './support/results.js';
import { runScenario, type FaultPlan, type ScenarioOutcome } from './support/scenario.js';
import { FaultProxy } from './support/tcp-proxy.js';

const ROUTE_TIMEOUT_MS = 1000;

describe('faults: rabbitmq declare: true caveat (private broker, point-to-point)', function () {
  this.timeout(240_000);
  const results = new SuiteResults('faults: rabbitmq declare: true caveat');
  let broker: PrivateRabbitMq | undefined;
  let proxy: FaultProxy | undefined;
  let daemon: TestDaemon | undefined;
  let failed = false;

  before(async function () {
    results.begin();
    requirePrivateBroker(this, 'rabbitmq');
    broker = await PrivateRabbitMq.create();
    await broker.start();
    proxy = await FaultProxy.start({ host: '127.0.0.1', port: broker.port });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') failed = true;
    await daemon?.shutdown('caveat test done').catch(() => undefined);
    daemon = undefined;
  });

  after(async () => {
    results.write();
    await proxy?.close().catch(() => undefined);
    await broker?.dispose(failed && process.env.CI !== 'true');
  });

  async function startDaemon(declare: boolean, queue: string): Promise<TestDaemon> {
    daemon = await startTestDaemon({
      // Reconnect attempts at most 1 s apart: the verdicts below need the daemon back on the node
      // soon after it serves again, also on a loaded machine.
      brokers: { rabbit: { plugin: 'rabbitmq', options: { url: `amqp://guest:guest@127.0.0.1:${proxy!.port}`, declare, reconnect: { maxDelayMs: 1000 } } } },
      routes: `routes:\n  - name: caveat\n    path: /caveat\n    broker: rabbit\n    mode: point-to-point\n    destination: ${queue}\n    timeout: ${ROUTE_TIMEOUT_MS}ms\n`,
      connectWaitMs: 20_000,
    });
    expect(daemon.brokers.get('rabbit')!.isConnected, 'the daemon connects to the private broker').to.equal(true);
    return daemon;
  }

  /** Streams requests through the fault, then drains the queue with the daemon's own consumer. */
  async function run(
    d: TestDaemon,
    queue: string,
    fault: FaultPlan,
    recoveryBoundMs: number,
    drainMs: number,
    beforeDrain?: () => Promise<void>,
  ): Promise<{ outcome: ScenarioOutcome; result: LedgerResult; held: string }> {
    const outcome = await runScenario({ baseUrl: d.url, path: '/caveat', fault, recoveryBoundMs });
    // The drain's consumer declares the queue it reads (when missing): look before it does.
    await beforeDrain?.();
    const depth = await queueDepth(broker!.url, queue);
    const held = depth === undefined ? `queue ${queue} does not exist` : `queue ${queue} holds ${depth} messages`;
    const collector = new Collector();
    let subscription: Subscription | undefined;
    try {
      subscription = await d.brokers.get('rabbit')!.subscribe(queue, { mode: 'point-to-point' }, collector.handler);
      await drained(outcome.ledger, collector, drainMs, 500);
    } finally {
      await subscription?.close().catch(() => undefined);
    }
    return { outcome, result: outcome.ledger.compare(collector, true), held };
  }

  it('declare: true declares the queue before the route is served; a kill -9 about a second later loses no acknowledged message', async () => {
    const queue = 'caveat-declared-at-connect';
    expect(await queueDepth(broker!.url, queue), 'no queue before busgate starts').to.equal(undefined);
    const d = await startDaemon(true, queue);
    const declaredBy = Date.now();
    expect(await queueDepth(broker!.url, queue), 'the queue exists before the first request').to.equal(0);
    const b = broker!;
    const { outcome, result, held } = await run(
      d,
      queue,
      { name: 'kill', inject: () => b.kill(), holdMs: LONG ? 5000 : 1000, recover: () => b.restart() },
      20_000,
      30_000,
    );
    const ageMs = outcome.faultStartedAt - declaredBy;
    const title = `declare: true, queue declared at connect, kill -9 ${ageMs} ms later + restart`;
    results.add(row(title, result, outcome, false, `declared at most ${ageMs} ms before the kill`));
    console.log(`      answers ${JSON.stringify(result.answers)}; queue declared at most ${ageMs} ms before the kill; ${held} before the drain`);
    expect(result.lostAcknowledged, `acknowledged but not delivered: ${result.examples.lost.join(', ')} (${held})`).to.equal(0);
    expect(outcome.first2xxAfter, '2xx again after the restart').to.not.equal(undefined);
    results.markPassed(title);
  });

  for (const declare of [true, false]) {
    it(`declare: ${declare}: the node comes back without its data: every earlier 202 is lost, and ${declare ? 'busgate answers 202 again on a new, empty queue' : 'busgate answers 502 "no queue" until the queue is restored'}`, async () => {
      const queue = `caveat-data-lost-${declare ? 'declare' : 'operator'}`;
      if (!declare) await declareQueues(broker!.url, [queue], 'classic');
      const d = await startDaemon(declare, queue);
      const b = broker!;
      const fault: FaultPlan = { name: 'kill', inject: () => b.kill(), holdMs: 1000, recover: () => b.restartWithoutData() };
      // declare: false never answers 2xx again by itself: it streams for the whole bound.
      let answer: { status: number; code: string; message: string } | undefined;
      const { outcome, result, held } = await run(d, queue, fault, declare ? 20_000 : 12_000, 5000, async () => {
        // However slow the reconnect (and the circuit breaker after the outage), once busgate
        // answers from the new node again, declare: false says 502 "no queue", not 202.
        if (!declare) answer = await firstAnswerNot503(d);
      });
      const ackedBefore = outcome.ledger.entries.filter((e) => e.outcome === 'acknowledged' && e.startedAt < outcome.faultStartedAt).length;
      const afterBack = outcome.ledger.entries.filter((e) => e.startedAt >= outcome.brokerBackAt);
      const afterAnswers = [...new Set(afterBack.map((e) => `${e.status} ${e.code ?? ''}`.trim()))].sort();
      const noQueue = afterBack.filter((e) => e.status === 502 && /no queue/.test(e.message ?? '')).length;
      const title = `declare: ${declare}, kill -9 + restart without the node's data`;
      const note = declare
        ? `expected loss: ${result.lostAcknowledged} acknowledged before the kill lost; busgate re-declared the queue and answered 202 again ${outcome.recoveryMs ?? '–'} ms after the node was back`
        : `expected loss: ${result.lostAcknowledged} acknowledged before the kill lost; after the node was back busgate never answered 202 (${noQueue} answers 502 "no queue" in the stream, then ${answer?.status ?? '–'} ${answer?.code ?? ''})`;
      results.add(row(title, result, outcome, true, note));
      console.log(`      answers ${JSON.stringify(result.answers)}; ${note}; ${held} before the drain`);

      expect(ackedBefore, 'some requests were acknowledged before the kill').to.be.greaterThan(0);
      expect(result.lostAcknowledged, 'exactly the messages acknowledged before the data was lost are gone').to.equal(ackedBefore);
      expect(result.refusedButDelivered, 'no refused message delivered').to.equal(0);
      if (declare) {
        expect(outcome.first2xxAfter, 'declare: true answers 202 again, on a new queue').to.not.equal(undefined);
      } else {
        expect(outcome.first2xxAfter, 'declare: false answers no 202 while the queue is missing').to.equal(undefined);
        expect(`${answer?.status} ${answer?.code}`, `once reconnected: ${answer?.message}`).to.equal('502 broker_rejected');
        expect(answer?.message).to.match(/no queue/);
        // 503 while reconnecting (and while the circuit breaker still counts the outage), else 502.
        expect(
          afterAnswers.filter((a) => a !== '502 broker_rejected' && a !== '503 broker_unavailable'),
          'declare: false answers only 502 or 503 after the node is back',
        ).to.deep.equal([]);
      }
      results.markPassed(title);
    });
  }

  /** POSTs until the answer is not a 503 (still reconnecting, or the circuit still open), for up to 30 s. */
  async function firstAnswerNot503(d: TestDaemon): Promise<{ status: number; code: string; message: string }> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const response = await d.post('/caveat', JSON.stringify({ key: `probe-${Date.now()}` }), { 'content-type': 'application/json' });
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      const answer = { status: response.status, code: body.error?.code ?? '', message: body.error?.message ?? '' };
      if (answer.status !== 503 || Date.now() > deadline) return answer;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  function row(scenario: string, result: LedgerResult, outcome: ScenarioOutcome, expectedLoss: boolean, notes: string): Parameters<SuiteResults['add']>[0] {
    return {
      broker: 'rabbitmq',
      mode: 'point-to-point',
      scenario,
      sent: result.sent,
      faultsInjected: 1,
      acknowledged: result.acknowledged,
      lostAcknowledged: result.lostAcknowledged,
      unknownOutcome: result.unknownOutcome,
      refused: result.refused,
      duplicates: result.duplicates,
      maxFaultLatencyMs: outcome.maxFaultLatencyMs,
      ...(outcome.recoveryMs !== undefined ? { recoveryMs: outcome.recoveryMs } : {}),
      passed: false,
      expectedLoss,
      notes,
    };
  }
});

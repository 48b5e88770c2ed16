/**
 * The state a daemon's primary keeps for its workers (core/state/primary-state.ts): claims with
 * the ClaimStore semantics and bounds, buckets per route and limit; and WORKERS=auto's choice.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { MemoryClaims, PrimaryState, primaryClaims, primaryRateLimits, type StateCall } from '../../core/state/primary-state.js';
import { chooseWorkers } from '../../core/workers.js';
import { loadConfig } from '../../core/config.js';

describe('primary state: claims', () => {
  it('claims once, reads the claim, and settles only the claim that is there', async () => {
    const claims = new MemoryClaims({ maxKeys: 10, maxBytes: 1 << 20 });
    expect(await claims.claim('k', 'P:a:1', 1000)).to.equal(true);
    expect(await claims.claim('k', 'P:b:1', 1000)).to.equal(false);
    expect(await claims.read('k')).to.equal('P:a:1');
    await claims.settle('k', 'P:b:1', 'answer-b', 1000);
    expect(await claims.read('k'), "another's settle changes nothing").to.equal('P:a:1');
    await claims.settle('k', 'P:a:1', 'answer-a', 1000);
    expect(await claims.read('k')).to.equal('answer-a');
    expect(await claims.claim('k', 'P:c:1', 1000), 'an answer is kept for the window').to.equal(false);
  });

  it('deletes a released claim, and lets an expired one be claimed again', async () => {
    let now = 0;
    const claims = new MemoryClaims({ maxKeys: 10, maxBytes: 1 << 20 }, () => now);
    expect(await claims.claim('k', 'P:a', 100)).to.equal(true);
    await claims.settle('k', 'P:a', '', 0);
    expect(await claims.read('k')).to.equal(null);
    expect(await claims.claim('k', 'P:b', 100)).to.equal(true);
    now = 101;
    expect(await claims.read('k'), 'the lease ended').to.equal(null);
    expect(await claims.claim('k', 'P:c', 100)).to.equal(true);
  });

  it('forgets the oldest entries past its key and byte bounds', async () => {
    const byKeys = new MemoryClaims({ maxKeys: 3, maxBytes: 1 << 20 });
    for (const key of ['a', 'b', 'c', 'd']) await byKeys.claim(key, 'P:x', 60_000);
    expect(byKeys.size).to.equal(3);
    expect(await byKeys.read('a')).to.equal(null);
    expect(await byKeys.read('d')).to.equal('P:x');

    const byBytes = new MemoryClaims({ maxKeys: 1000, maxBytes: 4096 });
    for (let i = 0; i < 100; i++) await byBytes.claim(`key-${i}`, `P:${'v'.repeat(200)}`, 60_000);
    expect(byBytes.bytes).to.be.at.most(4096);
    expect(byBytes.size).to.be.greaterThan(0).and.lessThan(100);
    expect(await byBytes.read('key-99')).to.not.equal(null);
  });
});

describe('primary state: what a worker asks', () => {
  const direct = (state: PrimaryState) => (call: StateCall) => state.answer(call);

  it('answers claims through the same calls a worker sends', async () => {
    const state = new PrimaryState({ maxKeys: 10, maxBytes: 1 << 20 });
    const worker1 = primaryClaims(direct(state));
    const worker2 = primaryClaims(direct(state));
    expect(await worker1.claim('k', 'P:1', 1000)).to.equal(true);
    expect(await worker2.claim('k', 'P:2', 1000)).to.equal(false);
    await worker1.settle('k', 'P:1', 'done', 1000);
    expect(await worker2.read('k')).to.equal('done');
    expect(await worker2.read('other')).to.equal(null);
  });

  it("shares one route's buckets among workers, per client", async () => {
    const state = new PrimaryState({ maxKeys: 10, maxBytes: 1 << 20 });
    const limit = { perSecond: 0.001, burst: 2 };
    const a = primaryRateLimits(direct(state), () => undefined).forRoute('r', limit);
    const b = primaryRateLimits(direct(state), () => undefined).forRoute('r', limit);
    expect((await a.take('alice')).ok).to.equal(true);
    expect((await b.take('alice')).ok).to.equal(true);
    expect((await a.take('alice')).ok, 'the burst of 2 is spent across both workers').to.equal(false);
    expect((await b.take('bob')).ok, 'another client has its own bucket').to.equal(true);
  });

  it('falls back to the worker’s own bucket, and counts it, when the primary does not answer', async () => {
    let errors = 0;
    const limiter = primaryRateLimits(
      () => Promise.reject(new Error('no answer')),
      () => (errors += 1),
    ).forRoute('r', { perSecond: 0.001, burst: 1 });
    expect((await limiter.take('c')).ok).to.equal(true);
    expect((await limiter.take('c')).ok).to.equal(false);
    expect(errors).to.equal(2);
  });
});

describe('WORKERS=auto', () => {
  const routesFile = (text: string): string => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-workers-')), 'routes.yaml');
    fs.writeFileSync(file, text);
    return file;
  };
  const config = (file: string, workers?: string) => loadConfig({ args: ['--routes', file], env: workers === undefined ? {} : { WORKERS: workers } });

  it('is the default, and runs one worker per CPU for a file on network brokers', () => {
    const file = routesFile('routes:\n  - { name: a, path: /a, broker: nats, mode: pubsub, destination: a }\n');
    expect(config(file).workers).to.equal('auto');
    expect(chooseWorkers(config(file), 4)).to.deep.equal({ count: 4 });
    expect(chooseWorkers(config(file), 1)).to.deep.equal({ count: 1 });
  });

  it('runs one process, and says why, for a file that uses the in-process broker anywhere', () => {
    const inRoute = routesFile('routes:\n  - { name: a, path: /a, broker: memory, mode: pubsub, destination: a }\n');
    const choice = chooseWorkers(config(inRoute), 4);
    expect(choice.count).to.equal(1);
    expect(choice.reason).to.include('"memory"');
    const allowed = routesFile('routes:\n  - { name: a, path: /a, broker: "{broker}", brokers: [nats, memory], mode: pubsub, destination: a }\n');
    expect(chooseWorkers(config(allowed), 4).count, 'a broker the client may pick').to.equal(1);
  });

  it('keeps an explicit WORKERS, and 0 is one per CPU', () => {
    const file = routesFile('routes:\n  - { name: a, path: /a, broker: memory, mode: pubsub, destination: a }\n');
    expect(chooseWorkers(config(file, '3'), 4)).to.deep.equal({ count: 3 });
    expect(config(file, '0').workers).to.equal(os.availableParallelism());
    expect(() => config(file, 'many')).to.throw();
  });
});

/** Send deadlines shared per slot (core/brokers/deadlines.ts). */
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DeadlineSlots } from '../../core/brokers/deadlines.js';
import { isBusgateError } from '../../core/errors.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('deadline slots', () => {
  it('shares one signal among the sends ending in the same slot, and ends each with its own callback first', async () => {
    // A clock that stands still: on the real one, a slot boundary can fall between two enter()s.
    const slots = new DeadlineSlots(new AbortController().signal, 50, () => 0);
    const order: string[] = [];
    const a = slots.enter('ack', 20, () => order.push(`a expired, signal aborted: ${a.signal.aborted}`));
    const b = slots.enter('ack', 20, () => order.push(`b expired, signal aborted: ${b.signal.aborted}`));
    expect(a.signal).to.equal(b.signal);
    const reply = slots.enter('reply', 20, () => order.push('reply expired'));
    expect(reply.signal, 'another kind has its own slot').to.not.equal(a.signal);
    await sleep(120);
    expect(order).to.have.members(['a expired, signal aborted: false', 'b expired, signal aborted: false', 'reply expired']);
    expect(a.signal.aborted).to.equal(true);
    expect(isBusgateError(a.signal.reason) && a.signal.reason.code).to.equal('broker_timeout');
    expect(isBusgateError(reply.signal.reason) && reply.signal.reason.code).to.equal('reply_timeout');
  });

  it('never ends a send early', async () => {
    const slots = new DeadlineSlots(new AbortController().signal, 10);
    const started = performance.now();
    const ended = await new Promise<number>((resolve) => slots.enter('ack', 35, () => resolve(performance.now())));
    expect(ended - started).to.be.at.least(35);
  });

  it('calls no callback of a send that left, and aborts no signal when every send left in time', async () => {
    const slots = new DeadlineSlots(new AbortController().signal, 10);
    let called = 0;
    const a = slots.enter('ack', 20, () => (called += 1));
    const b = slots.enter('ack', 20, () => (called += 1));
    a.leave();
    await sleep(60);
    expect(called, 'b was still waiting').to.equal(1);
    expect(b.signal.aborted).to.equal(true);

    const c = slots.enter('ack', 20, () => (called += 1));
    c.leave();
    await sleep(60);
    expect(called).to.equal(1);
    expect(c.signal.aborted, 'nobody waited on it').to.equal(false);
    expect(slots.size).to.equal(0);
  });

  it('ends every waiting send at once when the instance closes', () => {
    const lifetime = new AbortController();
    const slots = new DeadlineSlots(lifetime.signal, 10);
    let called = 0;
    const a = slots.enter('ack', 60_000, () => (called += 1));
    slots.enter('reply', 30_000, () => (called += 1));
    lifetime.abort();
    expect(called).to.equal(2);
    expect(a.signal.aborted).to.equal(true);
    expect(slots.size).to.equal(0);
  });

  it('keeps nothing of a send that left alive while its slot stays open', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const slots = new DeadlineSlots(new AbortController().signal, 10);
    // The first send of a slot: its callback holds what the send holds (in the core, the request
    // and its reply, whose payload can pin a broker client's whole read buffer).
    const held = (): WeakRef<object> => {
      const reply = { payload: Buffer.alloc(65_536) };
      slots.enter('reply', 60_000, () => reply.payload.fill(0)).leave();
      return new WeakRef(reply);
    };
    const reply = held();
    await sleep(0); // a WeakRef keeps its target until the end of the job that made it
    collect();
    expect(slots.size, 'the slot is still open').to.equal(1);
    expect(reply.deref(), 'the slot kept the send that left').to.equal(undefined);
  });
});

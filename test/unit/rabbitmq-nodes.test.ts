import { expect } from 'chai';
import { NodeRotation, scrubSecrets, splitUrls } from '../../plugins/rabbitmq/endpoint.js';

describe("rabbitmq plugin: a cluster's nodes in the url option", () => {
  it('splits only where the next URL starts, so a comma in a password stays', () => {
    expect(splitUrls('amqp://u:p,w@a:5672, amqps://b:5671/v')).to.deep.equal(['amqp://u:p,w@a:5672', 'amqps://b:5671/v']);
    expect(splitUrls('amqp://a')).to.deep.equal(['amqp://a']);
  });

  it("gives amqplib the current node's fields and moves on with advance()", () => {
    const nodes = new NodeRotation('amqp://user:p%40ss@10.0.0.1:5672/v%2Fh?frameMax=8192,amqp://10.0.0.2:5673', 15);
    expect(nodes.size).to.equal(2);
    const t = nodes.target;
    expect([t.protocol, t.hostname, t.port, t.username, t.password, t.vhost, t.heartbeat, t.frameMax]).to.deep.equal([
      'amqp',
      '10.0.0.1',
      5672,
      'user',
      'p@ss',
      'v%2Fh',
      15,
      8192,
    ]);
    expect(nodes.describe()).to.equal('amqp://10.0.0.1:5672 vhost v/h (node 1 of 2)');
    nodes.advance();
    // No credentials: both undefined, so amqplib applies guest/guest as it does for a bare URL.
    expect([t.hostname, t.port, t.username, t.password, t.vhost]).to.deep.equal(['10.0.0.2', 5673, undefined, undefined, undefined]);
    nodes.advance();
    expect(t.hostname).to.equal('10.0.0.1');
  });

  it("hides every node's password", () => {
    const scrub = scrubSecrets('amqp://u:first-secret@a,amqp://u:second-secret@b');
    expect(scrub('first-secret and second-secret')).to.equal('*** and ***');
  });
});

/** Resume tokens of the plugins that keep history, and the stream limits from the config. */
import { expect } from 'chai';
import { loadConfig } from '../../core/config.js';
import { formatToken, kafkaHistory, parseToken } from '../../plugins/kafka/history.js';
import { natsHistory } from '../../plugins/nats/history.js';

describe('stream resume tokens and limits', () => {
  it('Kafka: one next offset per partition, in partition order, round-tripping', () => {
    const cursor = parseToken('1:42,0:18');
    expect([...cursor!]).to.deep.equal([
      [1, '42'],
      [0, '18'],
    ]);
    expect(formatToken(cursor!)).to.equal('0:18,1:42');
    expect(parseToken('0:00018')!.get(0)).to.equal('18');
    for (const bad of ['', '0', '0:', ':1', '0:1,0:2', '0:1;1:2', 'a:1', '0:-1', '0:1,', '1234567:1']) {
      expect(parseToken(bad), bad).to.equal(undefined);
      expect(kafkaHistory.checkToken(bad), bad).to.be.a('string');
    }
    expect(kafkaHistory.checkToken('0:18,1:42')).to.equal(undefined);
    expect(kafkaHistory.when).to.deep.equal({});
  });

  it('NATS: the decimal stream sequence of the next message, only for persistent sources', () => {
    expect(natsHistory.checkToken('1043')).to.equal(undefined);
    for (const bad of ['', '0', '-1', '01', '1.5', 'abc', '1'.repeat(17)]) expect(natsHistory.checkToken(bad), bad).to.be.a('string');
    expect(natsHistory.when).to.deep.equal({ persistent: true });
  });

  it('reads the stream limits from the config and the environment', () => {
    const defaults = loadConfig({ env: {}, args: [], cwd: '/nonexistent' }).streams;
    expect(defaults).to.deep.equal({ maxStreams: 1000, maxStreamsPerClient: 20, heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024 });
    const env = { STREAMS_MAX: '50', STREAMS_MAX_PER_CLIENT: '5', STREAMS_HEARTBEAT: '2s', STREAMS_MAX_UNREAD: '64kb' };
    expect(loadConfig({ env, args: [], cwd: '/nonexistent' }).streams).to.deep.equal({
      maxStreams: 50,
      maxStreamsPerClient: 5,
      heartbeatMs: 2000,
      maxBufferedBytes: 64 * 1024,
    });
  });
});

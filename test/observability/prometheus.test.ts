/**
 * The Grafana dashboard and the alert rules against a real Prometheus (Debian's `prometheus`
 * package): runs scripts/prometheus-check (see its header), which starts busgate and Prometheus,
 * drives traffic and queries every expression. Skipped with the reason printed when prometheus
 * or promtool is missing, unless CI=true, where that fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { withoutThreshold } from '../../scripts/prometheus-check.js';
import { brokersRequired } from '../support/require-broker.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/prometheus-check.js', import.meta.url));

function requirePrometheus(context: Mocha.Context): void {
  const missing = ['prometheus', 'promtool'].filter((binary) => spawnSync(binary, ['--version'], { stdio: 'ignore' }).status !== 0);
  if (missing.length === 0) return;
  const reason = `${missing.join(' and ')} not installed (apt-get install -y --no-install-recommends prometheus)`;
  if (brokersRequired()) throw new Error(`${reason}; CI requires it`);
  console.log(`    skipping the Prometheus suite: ${reason}`);
  context.skip();
}

function runCheck(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(new Error(`prometheus-check ran longer than ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('dashboard and alert queries on a real Prometheus', function () {
  this.timeout(90_000);

  before(function () {
    requirePrometheus(this);
  });

  it('every dashboard query and alert expression returns data; promtool accepts rules, config and /metrics', async () => {
    const { code, output } = await runCheck({}, 60_000);
    const lines = output.split('\n');
    const failures = lines.filter((line) => /^(EMPTY|ERROR|FAIL)\b/.test(line));
    expect(failures, output).to.deep.equal([]);
    expect(code, output).to.equal(0);

    const dashboard = JSON.parse(
      fs.readFileSync(fileURLToPath(new URL('../../../deploy/grafana/dashboards/busgate.json', import.meta.url)), 'utf8'),
    ) as unknown;
    const exprs = JSON.stringify(dashboard).match(/"expr":/g)?.length ?? 0;
    expect(
      lines.filter((line) => /^ok +busgate\.json panel /.test(line)),
      output,
    ).to.have.length(exprs);
    for (const check of [
      'promtool check rules',
      'promtool check config deploy/prometheus/prometheus.yml',
      'promtool check metrics',
      'alert BusgateBrokerDown',
    ]) {
      expect(
        lines.some((line) => line.startsWith('ok') && line.includes(check)),
        `${check}\n${output}`,
      ).to.equal(true);
    }
  });

  it('reports a query that errors and one that returns nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-broken-dashboard-'));
    try {
      fs.mkdirSync(path.join(dir, 'dashboards'));
      fs.writeFileSync(
        path.join(dir, 'dashboards', 'broken.json'),
        JSON.stringify({
          panels: [
            { title: 'fine', targets: [{ refId: 'A', expr: 'sum(rate(busgate_http_requests_total{instance=~"$instance"}[$__rate_interval]))' }] },
            { title: 'typo', targets: [{ refId: 'A', expr: 'sum(rate(busgate_http_request_total[$__rate_interval]))' }] },
            { title: 'syntax', targets: [{ refId: 'A', expr: 'sum(rate(busgate_http_requests_total[5m])' }] },
          ],
        }),
      );
      fs.writeFileSync(path.join(dir, 'alerts.yml'), 'groups:\n  - name: t\n    rules:\n      - alert: Never\n        expr: busgate_no_such_metric > 1\n');
      const { code, output } = await runCheck(
        { BUSGATE_DASHBOARDS: path.join(dir, 'dashboards'), BUSGATE_ALERTS: path.join(dir, 'alerts.yml'), MIN_SCRAPES: '3' },
        60_000,
      );
      expect(code, output).to.equal(1);
      expect(output).to.match(/^ok +broken\.json panel "fine" A/m);
      expect(output).to.match(/^EMPTY +broken\.json panel "typo" A/m);
      expect(output).to.match(/^ERROR +broken\.json panel "syntax" A/m);
      expect(output).to.match(/^EMPTY +rule Never without its threshold/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('withoutThreshold (alert expression minus its final comparison)', () => {
  it('takes off a trailing comparison with a number, and only at the top level', () => {
    expect(withoutThreshold('up{job="busgate"} == 0')).to.equal('up{job="busgate"}');
    expect(withoutThreshold('(\n  a\n/\n  b\n) > 0.05\n')).to.equal('(\n  a\n/\n  b\n)');
    expect(withoutThreshold('histogram_quantile(0.99, x) > 1')).to.equal('histogram_quantile(0.99, x)');
    expect(withoutThreshold('rate(x[5m]) >= 1e3')).to.equal('rate(x[5m])');
    expect(withoutThreshold('sum(rate(x[5m]))')).to.equal(undefined);
    expect(withoutThreshold('a > b')).to.equal(undefined);
  });
});

/**
 * Verifies deploy/ against a real Prometheus: every query of the Grafana dashboard and every alert
 * rule must return data from a busgate under traffic.
 *
 *   bash scripts/prometheus-check.sh          (installs Debian's prometheus if missing, builds, runs this)
 *   node dist/scripts/prometheus-check.js     (after npm run build:all)
 *
 * What it does, all on 127.0.0.1 and free ports, in a temp folder it removes afterwards:
 *  1. starts the busgate of this build (../core/cli.js) with routes on the embedded broker and one
 *     on a broker instance configured `unavailable: true` (so busgate_broker_connected has a 0),
 *     and a subscription delivering to a local webhook receiver that refuses some messages (so
 *     the egress metrics, dead letters included, have data);
 *  2. drives traffic at it the whole time: 2xx on each mode, 400, 404 and 503;
 *  3. `promtool check metrics` on a /metrics scrape, `promtool check rules` on the alert rules,
 *     `promtool check config` on deploy/prometheus/prometheus.yml and on the temp config;
 *  4. starts Prometheus scraping busgate every second and evaluating deploy/prometheus/alerts.yml,
 *     waits for MIN_SCRAPES scrapes and one evaluation of every rule;
 *  5. queries /api/v1/query for every `expr` of deploy/grafana/dashboards/*.json (Grafana's
 *     variables replaced: $instance by the "All" value .*, $__rate_interval by 10s) and for the
 *     dashboard variables' label_values() queries;
 *  6. for every alert rule: its expression as written; when that returns nothing (a healthy
 *     system is below the threshold) the same expression without its final comparison
 *     (`... > 0.05` -> `...`), which must return data. The rule is also checked in
 *     /api/v1/rules (health ok, no evaluation error), and BusgateBrokerDown must be pending or
 *     firing for the unavailable broker.
 *
 * Prints one line per check: ok / EMPTY / ERROR / FAIL, then a summary. Exit 0 when every check
 * is ok, 1 when one is not, 2 when prometheus or promtool is missing.
 * Environment: PROMETHEUS, PROMTOOL (binaries; default from PATH), MIN_SCRAPES (default 8);
 * BUSGATE_DASHBOARDS (a folder of dashboard JSON) and BUSGATE_ALERTS (a rules file) check other
 * files than deploy/'s, which is how the test proves that a broken query is caught.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { eventually, freePort, sleep } from '../test/support/net.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../core/cli.js', import.meta.url));
const PROMETHEUS = process.env.PROMETHEUS ?? 'prometheus';
const PROMTOOL = process.env.PROMTOOL ?? 'promtool';
const MIN_SCRAPES = Number(process.env.MIN_SCRAPES ?? 8);
const DASHBOARDS = process.env.BUSGATE_DASHBOARDS ?? path.join(ROOT, 'deploy', 'grafana', 'dashboards');
const ALERTS = process.env.BUSGATE_ALERTS ?? path.join(ROOT, 'deploy', 'prometheus', 'alerts.yml');
const PROMETHEUS_CONFIG = path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml');
/** What Grafana would put in for the dashboard's variables ("All" instances, a short rate window). */
const GRAFANA_VARIABLES: Record<string, string> = {
  instance: '.*',
  __rate_interval: '10s',
  __interval: '2s',
  __range: '1m',
};

const ROUTES = `routes:
  - name: events
    path: /events/:topic
    broker: memory
    mode: pubsub
    destination: events.{topic}
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
  - name: lost
    path: /lost
    broker: down
    mode: pubsub
    destination: lost
subscriptions:
  - name: notify
    broker: memory
    source: jobs.hooks
    mode: point-to-point
    deliver: { url: "WEBHOOK_URL" }
    deadLetter: jobs.dlq
`;

const CONFIG = `brokers:
  memory:
    plugin: memory
    options: { echoResponders: [demo.echo] }
  down:
    plugin: memory
    options: { unavailable: true }
`;

type Outcome = 'ok' | 'EMPTY' | 'ERROR' | 'FAIL';
const results: { outcome: Outcome; what: string; note: string }[] = [];

function report(outcome: Outcome, what: string, note = ''): void {
  results.push({ outcome, what, note });
  console.log(`${outcome.padEnd(5)} ${what}${note ? `  (${note})` : ''}`);
}

function hasCommand(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Polls until `check` answers true; a failed request means "not yet". */
function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  return eventually(() => check().catch(() => false), timeoutMs, what, 250);
}

function startProcess(command: string, args: string[], options: { cwd: string; log: string; env?: NodeJS.ProcessEnv }): ChildProcess {
  const log = fs.openSync(options.log, 'a');
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
  if (!killed) {
    child.kill('SIGKILL');
    await exited;
  }
}

/**
 * `promtool check metrics` findings that come from prom-client's default Node.js metrics, not from
 * busgate: these gauges end in _total, and prom-client gives no way to rename them. Any other
 * finding fails the check.
 */
const KNOWN_METRIC_FINDINGS = [/^busgate_nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/];

function promtool(args: string[], what: string, input?: string): void {
  const run = spawnSync(PROMTOOL, args, { input, encoding: 'utf8' });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.status === 0) return report('ok', what);
  if (args[1] === 'metrics' && run.status !== null && output) {
    const findings = output
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean);
    const unknown = findings.filter((line) => !KNOWN_METRIC_FINDINGS.some((known) => known.test(line)));
    if (unknown.length === 0) return report('ok', what, `${findings.length} known prom-client naming findings ignored`);
    return report('FAIL', what, unknown.slice(0, 6).join(' | '));
  }
  report('FAIL', what, output.split('\n').slice(0, 6).join(' | ') || `exit ${run.status}`);
}

// -------------------------------------------------------------------------------- traffic

interface Traffic {
  readonly statuses: Map<number, number>;
  stop(): Promise<void>;
}

function driveTraffic(base: string): Traffic {
  const statuses = new Map<number, number>();
  let running = true;
  const requests: [string, string, Record<string, string>][] = [
    ['/events/orders', '{"id":1}', { 'content-type': 'application/json' }],
    ['/events/payments', '{"id":2}', { 'content-type': 'application/json' }],
    ['/jobs/resize', 'photo.png', {}],
    ['/jobs/hooks', 'order', {}], // delivered to the webhook receiver
    ['/jobs/hooks', 'reject', {}], // answered 422 by the receiver: a dead letter
    ['/echo', 'ping', {}],
    ['/events/not.one.token', 'x', {}], // 400 invalid_token
    ['/lost', 'x', {}], // 503 broker_unavailable
    ['/nowhere', 'x', {}], // 404
  ];
  const loop = (async () => {
    while (running) {
      await Promise.all(
        requests.map(async ([pathname, body, headers]) => {
          try {
            const res = await fetch(`${base}${pathname}`, { method: 'POST', body, headers, signal: AbortSignal.timeout(3000) });
            await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          } catch {
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
          }
        }),
      );
      await sleep(50);
    }
  })();
  return {
    statuses,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

// ------------------------------------------------------------------------------ Prometheus

interface QueryAnswer {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value?: [number, string] }[] };
}

async function query(prometheus: string, expr: string): Promise<QueryAnswer> {
  const res = await fetch(`${prometheus}/api/v1/query?${new URLSearchParams({ query: expr })}`, { signal: AbortSignal.timeout(10_000) });
  return (await res.json()) as QueryAnswer;
}

/** ok when the query returns at least one series with a number; EMPTY when none; ERROR when it fails. */
async function checkQuery(prometheus: string, what: string, expr: string): Promise<Outcome> {
  const answer = await query(prometheus, expr).catch((error: unknown): QueryAnswer => ({ status: 'error', error: String(error) }));
  if (answer.status !== 'success') {
    report('ERROR', what, answer.error ?? 'query failed');
    return 'ERROR';
  }
  const series = answer.data?.result ?? [];
  const numbers = series.filter((s) => s.value !== undefined && !Number.isNaN(Number(s.value[1])));
  if (series.length === 0 || numbers.length === 0) {
    report('EMPTY', what, series.length === 0 ? 'no series' : `${series.length} series, all NaN`);
    return 'EMPTY';
  }
  report('ok', what, `${numbers.length} series`);
  return 'ok';
}

/** Grafana's $var, ${var} and [[var]] forms, replaced by what the dashboard would send. */
function substituteVariables(expr: string): { expr: string; unknown: string[] } {
  const unknown: string[] = [];
  const replaced = expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (whole, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    if (name in GRAFANA_VARIABLES) return GRAFANA_VARIABLES[name]!;
    unknown.push(name);
    return whole;
  });
  return { expr: replaced, unknown };
}

interface Panel {
  title?: string;
  type?: string;
  panels?: Panel[];
  targets?: { expr?: string; refId?: string; hide?: boolean }[];
}

function dashboardQueries(file: string): { what: string; expr: string }[] {
  const dashboard = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    title?: string;
    panels?: Panel[];
    templating?: { list?: { name: string; query?: unknown; definition?: string }[] };
  };
  const queries: { what: string; expr: string }[] = [];
  const walk = (panels: Panel[] = []): void => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        if (target.expr && !target.hide) queries.push({ what: `panel "${panel.title ?? '?'}" ${target.refId ?? ''}`.trim(), expr: target.expr });
      }
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    const source = typeof variable.query === 'string' ? variable.query : ((variable.query as { query?: string } | undefined)?.query ?? variable.definition);
    if (source) queries.push({ what: `variable $${variable.name}`, expr: source });
  }
  return queries;
}

/** A dashboard variable's label_values(metric, label) as the query Grafana runs for it. */
function variableQuery(expr: string): string {
  const match = /^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$/.exec(expr);
  return match ? `count by (${match[2]}) (${match[1]})` : expr;
}

/**
 * The expression without its final top-level comparison against a number: `a / b > 0.05` ->
 * `a / b`. Undefined when the expression does not end in one.
 */
export function withoutThreshold(expr: string): string | undefined {
  const text = expr.trim();
  const match = /^([\s\S]*?)\s*(==|!=|>=|<=|>|<)\s*(?:bool\s+)?-?[0-9.]+(?:e[+-]?\d+)?\s*$/i.exec(text);
  if (!match) return undefined;
  const left = match[1]!;
  let depth = 0;
  for (const char of left) {
    if (char === '(' || char === '[' || char === '{') depth += 1;
    if (char === ')' || char === ']' || char === '}') depth -= 1;
  }
  return depth === 0 && left.length > 0 ? left : undefined;
}

interface RuleGroup {
  name: string;
  rules: { alert?: string; record?: string; expr: string }[];
}

async function checkAlertRules(prometheus: string): Promise<void> {
  const { groups } = YAML.parse(fs.readFileSync(ALERTS, 'utf8')) as { groups: RuleGroup[] };
  for (const group of groups) {
    for (const rule of group.rules) {
      const name = rule.alert ?? rule.record ?? '?';
      const answer = await query(prometheus, rule.expr).catch((error: unknown): QueryAnswer => ({ status: 'error', error: String(error) }));
      if (answer.status !== 'success') {
        report('ERROR', `rule ${name}`, answer.error ?? 'query failed');
        continue;
      }
      if ((answer.data?.result.length ?? 0) > 0) {
        report('ok', `rule ${name}`, `condition true now: ${answer.data!.result.length} series`);
        continue;
      }
      const underlying = rule.alert ? withoutThreshold(rule.expr) : undefined;
      if (underlying === undefined) {
        report('EMPTY', `rule ${name}`, 'no series, and no threshold to take off');
        continue;
      }
      await checkQuery(prometheus, `rule ${name} without its threshold`, underlying);
    }
  }

  // Prometheus itself evaluated every rule without an error.
  const rulesAnswer = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as {
    data: { groups: { rules: { name: string; health: string; lastError?: string; type: string }[] }[] };
  };
  for (const rule of rulesAnswer.data.groups.flatMap((g) => g.rules)) {
    if (rule.health === 'ok') report('ok', `rule ${rule.name} evaluates`, 'health ok');
    else report('FAIL', `rule ${rule.name} evaluates`, `health ${rule.health}${rule.lastError ? `: ${rule.lastError}` : ''}`);
  }

  if (!groups.some((group) => group.rules.some((rule) => rule.alert === 'BusgateBrokerDown'))) return;
  const alertsAnswer = (await (await fetch(`${prometheus}/api/v1/alerts`)).json()) as {
    data: { alerts: { labels: Record<string, string>; state: string }[] };
  };
  const brokerDown = alertsAnswer.data.alerts.find((alert) => alert.labels.alertname === 'BusgateBrokerDown' && alert.labels.broker === 'down');
  if (brokerDown) report('ok', 'alert BusgateBrokerDown for broker "down"', brokerDown.state);
  else report('FAIL', 'alert BusgateBrokerDown for broker "down"', 'not pending or firing');
}

// ------------------------------------------------------------------------------------ main

async function main(): Promise<number> {
  for (const binary of [PROMETHEUS, PROMTOOL]) {
    if (!hasCommand(binary)) {
      console.error(`${binary} is not installed (apt-get install -y --no-install-recommends prometheus)`);
      return 2;
    }
  }
  if (!fs.existsSync(CLI)) {
    console.error(`${CLI} is missing: build first (npm run build:all)`);
    return 2;
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-prometheus-'));
  let daemon: ChildProcess | undefined;
  let prometheusProcess: ChildProcess | undefined;
  let traffic: Traffic | undefined;
  let stopReceiver: (() => Promise<void>) | undefined;
  const daemonLog = path.join(dir, 'busgate.log');
  const prometheusLog = path.join(dir, 'prometheus.log');
  try {
    // 1. busgate
    // A webhook receiver: 204, or 422 for a body saying "reject" (which busgate dead-letters).
    const receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => res.writeHead(Buffer.concat(chunks).toString() === 'reject' ? 422 : 204).end());
    });
    const receiverPort = await freePort();
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    stopReceiver = () => new Promise<void>((resolve) => receiver.close(() => resolve()));
    fs.writeFileSync(path.join(dir, 'routes.yaml'), ROUTES.replace('WEBHOOK_URL', `http://127.0.0.1:${receiverPort}/hooks`));
    fs.writeFileSync(path.join(dir, 'busgate.yaml'), CONFIG);
    const busgatePort = await freePort();
    const busgate = `http://127.0.0.1:${busgatePort}`;
    daemon = startProcess(
      process.execPath,
      [CLI, 'start', '--config', 'busgate.yaml', '--routes', 'routes.yaml', '--port', String(busgatePort), '--host', '127.0.0.1', '--log-level', 'warn'],
      { cwd: dir, log: daemonLog, env: { ...process.env, LOG_FORMAT: 'json', NODE_ENV: 'production' } },
    );
    await waitFor('busgate /health', 20_000, async () => (await fetch(`${busgate}/health`)).ok);
    console.log(`busgate ${busgate} (pid ${daemon.pid})`);

    // 2. traffic, for the whole run
    traffic = driveTraffic(busgate);

    // 3. promtool on what is written and on what is served
    promtool(['check', 'rules', ALERTS], `promtool check rules ${path.relative(ROOT, ALERTS)}`);
    promtool(['check', 'config', PROMETHEUS_CONFIG], 'promtool check config deploy/prometheus/prometheus.yml');
    await sleep(500);
    const exposition = await (await fetch(`${busgate}/metrics`)).text();
    promtool(['check', 'metrics'], 'promtool check metrics (a /metrics scrape)', exposition);

    // 4. Prometheus
    const prometheusPort = await freePort();
    const prometheus = `http://127.0.0.1:${prometheusPort}`;
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [ALERTS],
      scrape_configs: [{ job_name: 'busgate', scrape_interval: '1s', static_configs: [{ targets: [`127.0.0.1:${busgatePort}`] }] }],
    };
    const configFile = path.join(dir, 'prometheus.yml');
    fs.writeFileSync(configFile, YAML.stringify(config));
    promtool(['check', 'config', configFile], 'promtool check config (the temp config of this run)');
    prometheusProcess = startProcess(
      PROMETHEUS,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`, '--log.level=warn'],
      { cwd: dir, log: prometheusLog },
    );
    await waitFor('prometheus /-/ready', 20_000, async () => (await fetch(`${prometheus}/-/ready`)).ok);
    console.log(`prometheus ${prometheus} (pid ${prometheusProcess.pid}), waiting for ${MIN_SCRAPES} scrapes`);
    await waitFor(`${MIN_SCRAPES} scrapes`, 30_000, async () => {
      const answer = await query(prometheus, 'count_over_time(up{job="busgate"}[5m])');
      return Number(answer.data?.result[0]?.value?.[1] ?? 0) >= MIN_SCRAPES;
    });
    await waitFor('a first evaluation of every rule', 10_000, async () => {
      const answer = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as { data: { groups: { rules: { lastEvaluation: string }[] }[] } };
      return answer.data.groups.flatMap((g) => g.rules).every((rule) => !rule.lastEvaluation.startsWith('0001-'));
    });
    const up = await query(prometheus, 'up{job="busgate"}');
    if (up.data?.result[0]?.value?.[1] !== '1') report('FAIL', 'scrape target busgate is up', JSON.stringify(up.data?.result ?? up.error));
    else report('ok', 'scrape target busgate is up');

    // 5. the dashboards
    for (const file of fs.readdirSync(DASHBOARDS).filter((name) => name.endsWith('.json'))) {
      for (const { what, expr } of dashboardQueries(path.join(DASHBOARDS, file))) {
        const { expr: concrete, unknown } = substituteVariables(expr);
        if (unknown.length > 0) {
          report('ERROR', `${file} ${what}`, `unknown variable(s) ${unknown.map((name) => `$${name}`).join(', ')}`);
          continue;
        }
        await checkQuery(prometheus, `${file} ${what}`, what.startsWith('variable') ? variableQuery(concrete) : concrete);
      }
    }

    // 6. the alert rules
    await checkAlertRules(prometheus);

    // The traffic did what it was meant to.
    const statuses = [...traffic.statuses].sort(([a], [b]) => a - b);
    const seen = (status: number): boolean => (traffic?.statuses.get(status) ?? 0) > 0;
    const line = statuses.map(([status, count]) => `${status}: ${count}`).join(', ');
    if ([200, 202, 400, 404, 503].every(seen)) report('ok', 'traffic reached every status class', line);
    else report('FAIL', 'traffic reached every status class', line);
  } catch (error) {
    report('FAIL', 'run', error instanceof Error ? error.message : String(error));
  } finally {
    await traffic?.stop();
    await stopProcess(prometheusProcess);
    await stopProcess(daemon);
    await stopReceiver?.();
  }

  const failed = results.filter((result) => result.outcome !== 'ok');
  console.log(`\n${results.length - failed.length} ok, ${failed.length} not ok`);
  if (failed.length > 0) {
    for (const [name, file] of [
      ['busgate', daemonLog],
      ['prometheus', prometheusLog],
    ] as const) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
      if (text) console.log(`\n--- ${name} log (last lines) ---\n${text.split('\n').slice(-15).join('\n')}`);
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return failed.length === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

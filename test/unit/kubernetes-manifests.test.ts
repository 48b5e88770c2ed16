/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument --
   each manifest is validated against its Kubernetes schema first; the assertions then read the few fields they check. */
/**
 * deploy/kubernetes, checked without a cluster: every object against the Kubernetes (and
 * Prometheus operator) JSON schemas bundled in kubernetes-models, then what the schemas cannot
 * see: the objects point at each other correctly, every environment variable is one busgate
 * reads and the resulting configuration loads, the ConfigMap's routes lint clean, and the
 * shutdown timings fit in the grace period.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import YAML from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { configEnvNames, loadConfig } from '../../core/config.js';
import { parseDuration } from '../../core/duration.js';
import { checkRoutesFile } from '../../core/routes/check-file.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIR = path.join(ROOT, 'deploy', 'kubernetes');

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // Shapes are the schemas' job (validated above); the assertions read the fields they need.
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  const kustomization = YAML.parse(fs.readFileSync(path.join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const manifests: Manifest[] = kustomization.resources.flatMap((file) =>
    YAML.parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8')).map((doc) => doc.toJS() as Manifest),
  );
  const one = (kind: string): Manifest => {
    const found = manifests.filter((m) => m.kind === kind);
    expect(found, kind).to.have.length(1);
    return found[0]!;
  };
  const deployment = (): Manifest => one('Deployment');
  const container = () =>
    deployment().spec.template.spec.containers[0] as {
      env: { name: string; value: string }[];
      envFrom: { secretRef?: { name: string } }[];
      ports: { name: string; containerPort: number }[];
      volumeMounts: { name: string; mountPath: string; subPath?: string }[];
      livenessProbe: { httpGet: { path: string; port: string } };
      readinessProbe: { httpGet: { path: string; port: string } };
      lifecycle: { preStop: { exec: { command: string[] } } };
      resources: { requests: Record<string, string>; limits: Record<string, string> };
    };
  const env = (): Record<string, string> => Object.fromEntries(container().env.map((e) => [e.name, e.value]));

  it('kustomization.yaml lists every manifest in the folder', () => {
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).to.deep.equal(files.sort());
  });

  it('every object is valid against its Kubernetes JSON schema', () => {
    for (const manifest of manifests) {
      const model = MODELS[`${manifest.apiVersion}/${manifest.kind}`];
      expect(model, `a schema for ${manifest.apiVersion} ${manifest.kind}`).to.not.equal(undefined);
      expect(() => new model!(manifest as never).validate(), `${manifest.kind} ${manifest.metadata.name}`).to.not.throw();
    }
  });

  it('the schema check is real: a wrong type or quantity is refused', () => {
    const broken = structuredClone(deployment());
    broken.spec.template.spec.containers[0].resources.limits.memory = 'lots';
    expect(() => new Deployment(broken).validate()).to.throw(/quantity/);
    broken.spec.template.spec.containers[0].resources.limits.memory = '512Mi';
    broken.spec.replicas = 'two';
    expect(() => new Deployment(broken).validate()).to.throw(/replicas/);
  });

  it('probes: liveness on /health, readiness on /ready, on the named http port', () => {
    const c = container();
    expect(c.livenessProbe.httpGet).to.deep.equal({ path: '/health', port: 'http' });
    expect(c.readinessProbe.httpGet).to.deep.equal({ path: '/ready', port: 'http' });
    expect(c.ports.map((p) => p.name)).to.include('http');
    expect(c.ports.find((p) => p.name === 'http')!.containerPort).to.equal(8080);
  });

  it('rolling updates drop nothing: surge before stopping, and preStop + SHUTDOWN_DELAY + SHUTDOWN_TIMEOUT fit in the grace period', () => {
    const spec = deployment().spec;
    expect(spec.strategy.rollingUpdate).to.deep.equal({ maxSurge: 1, maxUnavailable: 0 });
    const command = container().lifecycle.preStop.exec.command;
    expect(command[0]).to.equal('sleep');
    const preStopMs = Number(command[1]) * 1000;
    const delayMs = parseDuration(env().SHUTDOWN_DELAY!)!;
    const drainMs = parseDuration(env().SHUTDOWN_TIMEOUT!)!;
    expect(preStopMs).to.be.above(0);
    expect(delayMs).to.be.above(0);
    expect(preStopMs + delayMs + drainMs).to.be.below(spec.template.spec.terminationGracePeriodSeconds * 1000);
  });

  it('sets memory requests and limits, and a heap bound below the limit', () => {
    const { requests, limits } = container().resources;
    const mib = (quantity: string): number => Number(/^(\d+)Mi$/.exec(quantity)![1]);
    expect(mib(requests.memory!)).to.be.at.most(mib(limits.memory!));
    expect(requests.cpu, 'a CPU request (the HPA measures utilisation against it)').to.be.a('string');
    const heap = Number(/--max-old-space-size=(\d+)/.exec(env().NODE_OPTIONS ?? '')?.[1]);
    expect(heap).to.be.below(mib(limits.memory!));
  });

  it('every environment variable is one busgate reads, and the configuration loads', async () => {
    const secret = one('Secret');
    expect(container().envFrom.map((e) => e.secretRef?.name)).to.include(secret.metadata.name);
    const known = new Set([...configEnvNames(), 'NODE_OPTIONS']);
    const names = [...Object.keys(env()), ...Object.keys(secret.stringData ?? {})];
    expect(
      names.filter((name) => !known.has(name)),
      'unknown environment variables',
    ).to.deep.equal([]);

    // As in the image (NODE_ENV=production, working directory with config/default.yaml).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'busgate-k8s-'));
    const routesFile = path.join(dir, 'routes.yaml');
    fs.writeFileSync(routesFile, one('ConfigMap').data!['routes.yaml']!);
    const config = loadConfig({ env: { NODE_ENV: 'production', ...secret.stringData, ...env(), ROUTES_FILE: routesFile }, cwd: ROOT });
    expect(config.watchRoutes).to.equal(true);
    expect(config.tapEnabled).to.equal(false);
    expect(config.consoleEnabled).to.equal(false);
    expect(config.idempotency.store).to.match(/^redis:/);
    expect(config.rateLimitStore).to.match(/^redis:/);
    expect(config.apiKeys.size).to.be.above(0);

    const checked = await checkRoutesFile(routesFile, config);
    expect(checked.problems, 'the ConfigMap routes lint clean').to.deep.equal([]);
    expect(checked.routes.length).to.be.above(0);
  });

  it('routes.yaml comes from the ConfigMap as a folder (subPath mounts never update), watched for changes', () => {
    const configMap = one('ConfigMap');
    const volume = (deployment().spec.template.spec.volumes as { name: string; configMap?: { name: string } }[]).find(
      (v) => v.configMap?.name === configMap.metadata.name,
    );
    expect(volume, 'a volume of the routes ConfigMap').to.not.equal(undefined);
    const mount = container().volumeMounts.find((m) => m.name === volume!.name)!;
    expect(mount.subPath).to.equal(undefined);
    expect(env().ROUTES_FILE).to.equal(`${mount.mountPath}/routes.yaml`);
    expect(Object.keys(configMap.data!)).to.deep.equal(['routes.yaml']);
    expect(env().ROUTES_WATCH).to.equal('true');
  });

  it('the Service, PodDisruptionBudget, HPA and ServiceMonitor all reach the Deployment pods', () => {
    const podLabels = deployment().spec.template.metadata.labels as Record<string, string>;
    const selects = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    const service = one('Service');
    expect(selects(service.spec.selector), 'Service selector').to.equal(true);
    expect(service.spec.ports[0].targetPort).to.equal('http');
    expect(selects(one('PodDisruptionBudget').spec.selector.matchLabels), 'PDB selector').to.equal(true);
    expect(one('PodDisruptionBudget').spec.minAvailable).to.be.below(deployment().spec.replicas);
    const hpa = one('HorizontalPodAutoscaler').spec;
    expect(hpa.scaleTargetRef).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment().metadata.name });
    expect(hpa.metrics[0].resource.name).to.equal('cpu');
    expect(hpa.minReplicas).to.be.at.least(2);
    const monitor = one('ServiceMonitor').spec;
    expect(
      Object.entries(monitor.selector.matchLabels).every(([k, v]) => service.metadata.labels?.[k] === v),
      'ServiceMonitor selects the Service',
    ).to.equal(true);
    expect(monitor.endpoints[0]).to.include({ port: service.spec.ports[0].name, path: '/metrics' });
  });
});

/**
 * Prometheus metrics. Every label value comes from a bounded set: route names from routes.yaml,
 * broker instance names, the three modes, and outcome = "ok" or an error code from the registry.
 * Never a raw path, destination or id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'busgate_http_requests_total',
    help: 'HTTP requests answered, by route and status code.',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'busgate_http_request_duration_seconds',
    help: 'Time from request to response, by route.',
    labelNames: ['route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly messages = new Counter({
    name: 'busgate_messages_total',
    help: 'Messages handed to a broker, by broker instance, mode and outcome (ok or an error code).',
    labelNames: ['broker', 'mode', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly brokerDuration = new Histogram({
    name: 'busgate_broker_duration_seconds',
    help: 'Time from handing a message to the broker until its acknowledgement or reply.',
    labelNames: ['broker', 'mode'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly inFlight = new Gauge({
    name: 'busgate_in_flight_requests',
    help: 'Messages waiting for a broker acknowledgement or reply, by broker instance.',
    labelNames: ['broker'] as const,
    registers: [this.registry],
  });

  readonly consumed = new Counter({
    name: 'busgate_consumed_messages_total',
    help: 'Messages a subscription handed to its handler, by broker instance, mode and outcome (ok, or handed_back to the broker).',
    labelNames: ['broker', 'mode', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly subscriptions = new Gauge({
    name: 'busgate_subscriptions',
    help: 'Live subscriptions (egress consumers, taps) by broker instance.',
    labelNames: ['broker'] as const,
    registers: [this.registry],
  });

  readonly streamClients = new Gauge({
    name: 'busgate_stream_clients',
    help: 'Clients connected to a stream now, by stream path (from routes.yaml) and transport (sse, websocket).',
    labelNames: ['stream', 'transport'] as const,
    registers: [this.registry],
  });

  readonly streamEvents = new Counter({
    name: 'busgate_stream_events_total',
    help: 'Message events written to stream clients, by stream path and transport.',
    labelNames: ['stream', 'transport'] as const,
    registers: [this.registry],
  });

  readonly streamDisconnects = new Counter({
    name: 'busgate_stream_disconnects_total',
    help: 'Stream clients gone, by stream path and reason (client_left, slow_client, shutting_down, subscribe_failed).',
    labelNames: ['stream', 'reason'] as const,
    registers: [this.registry],
  });

  readonly reloads = new Counter({
    name: 'busgate_routes_reloads_total',
    help: 'Routes reloads by outcome: ok, invalid (the file had problems; old routes kept) or failed.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly routesLoaded = new Gauge({
    name: 'busgate_routes_loaded',
    help: 'Routes currently served.',
    registers: [this.registry],
  });

  readonly brokerConnected: Gauge<'broker'>;

  constructor(options: { defaultMetrics: boolean; brokerStatus: () => ReadonlyMap<string, boolean> }) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'busgate_' });
    this.brokerConnected = new Gauge({
      name: 'busgate_broker_connected',
      help: '1 when the broker instance is connected, 0 when not.',
      labelNames: ['broker'] as const,
      registers: [this.registry],
      collect() {
        for (const [broker, up] of options.brokerStatus()) this.set({ broker }, up ? 1 : 0);
      },
    });
  }
}

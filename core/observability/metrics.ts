/**
 * Prometheus metrics. Every label value comes from a bounded set: route names from routes.yaml,
 * broker instance names, the three modes, and outcome = "ok" or an error code from the registry.
 * Never a raw path, destination or id.
 */
import { Registry, collectDefaultMetrics, type Gauge } from 'prom-client';
import { MetricFactory } from './metric-factory.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  private readonly metric = new MetricFactory(this.registry);

  readonly httpRequests = this.metric.counter('busgate_http_requests_total', 'HTTP requests answered, by route and status code.', ['route', 'status']);

  readonly httpDuration = this.metric.histogram(
    'busgate_http_request_duration_seconds',
    'Time from request to response, by route.',
    ['route'],
    LATENCY_BUCKETS,
  );

  readonly messages = this.metric.counter(
    'busgate_messages_total',
    'Messages handed to a broker, by broker instance, mode and outcome (ok or an error code).',
    ['broker', 'mode', 'outcome'],
  );

  readonly brokerDuration = this.metric.histogram(
    'busgate_broker_duration_seconds',
    'Time from handing a message to the broker until its acknowledgement or reply.',
    ['broker', 'mode'],
    LATENCY_BUCKETS,
  );

  readonly inFlight = this.metric.gauge('busgate_in_flight_requests', 'Messages waiting for a broker acknowledgement or reply, by broker instance.', [
    'broker',
  ]);

  readonly consumed = this.metric.counter(
    'busgate_consumed_messages_total',
    'Messages a subscription handed to its handler, by broker instance, mode and outcome (ok, or handed_back to the broker).',
    ['broker', 'mode', 'outcome'],
  );

  readonly subscriptions = this.metric.gauge('busgate_subscriptions', 'Live subscriptions (egress consumers, taps) by broker instance.', ['broker']);

  readonly streamClients = this.metric.gauge(
    'busgate_stream_clients',
    'Clients connected to a stream now, by stream path (from routes.yaml) and transport (sse, websocket).',
    ['stream', 'transport'],
  );

  readonly streamEvents = this.metric.counter('busgate_stream_events_total', 'Message events written to stream clients, by stream path and transport.', [
    'stream',
    'transport',
  ]);

  readonly streamDisconnects = this.metric.counter(
    'busgate_stream_disconnects_total',
    'Stream clients gone, by stream path and reason (client_left, slow_client, shutting_down, subscribe_failed).',
    ['stream', 'reason'],
  );

  readonly reloads = this.metric.counter(
    'busgate_routes_reloads_total',
    'Routes reloads by outcome: ok, invalid (the file had problems; old routes kept) or failed.',
    ['outcome'],
  );

  readonly routesLoaded = this.metric.gauge('busgate_routes_loaded', 'Routes currently served.');

  readonly brokerConnected: Gauge<'broker'>;

  constructor(options: { defaultMetrics: boolean; brokerStatus: () => ReadonlyMap<string, boolean> }) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'busgate_' });
    this.brokerConnected = this.metric.gauge('busgate_broker_connected', '1 when the broker instance is connected, 0 when not.', ['broker'], function () {
      for (const [broker, up] of options.brokerStatus()) this.set({ broker }, up ? 1 : 0);
    });
  }
}

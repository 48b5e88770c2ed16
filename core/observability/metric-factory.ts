/**
 * Makes metrics on one registry, so that each metric says only what is its own. Names, help texts
 * and labels stay written out where each metric is made: dashboards and alerts match on them, and
 * a reader should find them with a plain search.
 */
import { Counter, Gauge, Histogram, type GaugeConfiguration, type Registry } from 'prom-client';

export class MetricFactory {
  constructor(private readonly registry: Registry) {}

  counter<Label extends string>(name: string, help: string, labelNames: readonly Label[] = []): Counter<Label> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /** `collect`, when given, sets the gauge's value at each scrape. */
  gauge<Label extends string>(name: string, help: string, labelNames: readonly Label[] = [], collect?: GaugeConfiguration<Label>['collect']): Gauge<Label> {
    return new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect && { collect }) });
  }

  histogram<Label extends string>(name: string, help: string, labelNames: readonly Label[], buckets: number[]): Histogram<Label> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}
